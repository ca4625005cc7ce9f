"""What the trustee does: load deal definitions, record the notes' issue, run and approve
payment dates, and reconcile the custodian's statements."""

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from ledger.api.auth import Trustee
from ledger.api.models import ApprovalIn, NotesIssuedIn, RunDueIn, Store
from ledger.audit.queries import require_deal
from ledger.audit.statement_import import import_statements, parse_account_map, reconcile_json
from ledger.cycle.acts import approve_cycle, issue_notes
from ledger.cycle.walk import cycle_result_json, run_due
from ledger.servicing.deals import record_deal
from ledger.servicing.operator import posted_json

router = APIRouter()


@router.post("/deals")
async def load(
    request: Request,
    who: Trustee,
    store: Store,
    file: Annotated[str, Query(description="the deal file's name")] = "deal.yaml",
) -> dict[str, Any]:
    """A deal definition (YAML, ``deal schema``) as the request body: validated, every
    problem named by YAML path and line, and recorded as the deal in force (``DealDefined``,
    idempotent by content hash)."""
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(422, f"{file}: not UTF-8 ({exc.reason})") from None

    def work() -> dict[str, Any]:
        recorded = record_deal(store, text, Path(file).name, actor=who.name, role=who.role)
        return {**posted_json(recorded), "content_hash": recorded.data["content_hash"]}

    return await run_in_threadpool(work)


@router.post("/deals/{deal}/run-due")
def run_due_(deal: str, body: RunDueIn, _: Trustee, store: Store) -> list[dict[str, Any]]:
    """Every due payment-date cycle up to ``until``, each one atomic; reruns post nothing.
    Stops at a cycle that awaits the trustee's approval (its status says so)."""
    require_deal(store, deal)
    return [cycle_result_json(r) for r in run_due(store, deal, body.until, body.dry_run)]


@router.post("/deals/{deal}/notes-issued")
def notes_issued(deal: str, body: NotesIssuedIn, who: Trustee, store: Store) -> dict[str, Any]:
    """The notes of the deal in force recorded as issued (idempotent)."""
    require_deal(store, deal)
    return posted_json(issue_notes(store, deal, body.closing_date, actor=who.name))


@router.post("/deals/{deal}/approvals")
def approve(deal: str, body: ApprovalIn, who: Trustee, store: Store) -> dict[str, Any]:
    """The trustee's approval of a payment date's cycle (``run-due`` then posts it)."""
    require_deal(store, deal)
    return posted_json(approve_cycle(store, deal, body.payment_date, who.name))


@router.post("/deals/{deal}/statements")
async def statement(
    deal: str,
    request: Request,
    who: Trustee,
    store: Store,
    file: Annotated[str, Query(description="the statement file's name")] = "statement.csv",
    account: Annotated[
        list[str] | None, Query(description="BANK=LEDGER: map a bank account id")
    ] = None,
) -> dict[str, Any]:
    """A custodian statement (SPEC §6 CSV or camt.053) as the request body: imported and
    reconciled against the ledger's cash postings."""
    try:
        mapping = parse_account_map(account or [])
    except ValueError as exc:
        raise HTTPException(422, f"account {exc}") from None
    name = Path(file).name or "statement.csv"
    body = await request.body()

    def work() -> dict[str, Any]:
        require_deal(store, deal)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_bytes(body)
            results = import_statements(
                store, deal, [path], account_map=mapping, actor=who.name, role=who.role
            )
        return reconcile_json(deal, results)

    return await run_in_threadpool(work)
