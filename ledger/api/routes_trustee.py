"""What the trustee does: load deal definitions, record the notes' issue, run and approve
payment dates, and reconcile the custodian's statements."""

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from ledger.api.auth import Approver, CycleRunner, DealLoader, NotesIssuer, Reconciler
from ledger.api.models import ApprovalIn, KnownDeal, NotesIssuedIn, RunDueIn, Store
from ledger.audit.statement_import import import_statements, parse_account_map, reconcile_json
from ledger.core.text import control_character
from ledger.cycle.acts import approve_cycle, issue_notes
from ledger.cycle.walk import cycle_result_json, run_due
from ledger.servicing.deals import record_deal
from ledger.servicing.operator import posted_json

router = APIRouter()


def statement_name(file: str) -> str:
    """The ``file`` query parameter as a plain file name (it names the statement in the record
    and the errors): 422 for a path, a control character or nothing."""
    name = Path(file).name
    if name != file or name in ("", ".", "..") or control_character(name) or len(name) > 255:
        raise HTTPException(
            422,
            f"file {file!r}: give the statement's file name alone (no folder, no control "
            "character, at most 255 characters)",
        )
    return name


@router.post("/deals")
async def load(
    request: Request,
    who: DealLoader,
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
def run_due_(
    who: CycleRunner, deal: KnownDeal, body: RunDueIn, store: Store
) -> list[dict[str, Any]]:
    """Every due payment-date cycle up to ``until``, each one atomic and sealed, posted in the
    caller's name; reruns post nothing. Stops at a cycle that awaits the trustee's approval (its
    status says so)."""
    results = run_due(store, deal, body.until, body.dry_run, who=who.identity)
    return [cycle_result_json(r) for r in results]


@router.post("/deals/{deal}/notes-issued")
def notes_issued(
    who: NotesIssuer, deal: KnownDeal, body: NotesIssuedIn, store: Store
) -> dict[str, Any]:
    """The notes of the deal in force recorded as issued (idempotent)."""
    return posted_json(issue_notes(store, deal, body.closing_date, who=who.identity))


@router.post("/deals/{deal}/approvals")
def approve(who: Approver, deal: KnownDeal, body: ApprovalIn, store: Store) -> dict[str, Any]:
    """The trustee's approval of a payment date's cycle (``run-due`` then posts it), recorded
    in the caller's name."""
    return posted_json(approve_cycle(store, deal, body.payment_date, who.identity))


@router.post("/deals/{deal}/statements")
async def statement(
    who: Reconciler,
    deal: KnownDeal,
    request: Request,
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
    name = statement_name(file)
    body = await request.body()

    def work() -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_bytes(body)
            results = import_statements(
                store, deal, [path], account_map=mapping, actor=who.name, role=who.role
            )
        return reconcile_json(deal, results)

    return await run_in_threadpool(work)
