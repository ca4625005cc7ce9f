"""What every role may read: deals, balances, loans, triggers, history and reports as of a time
point; and, for the trustee and the auditor, the ledger's verification."""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from ledger.api.auth import Auditor, Reader
from ledger.api.models import MEDIA_TYPES, AsOf, Deal, KnownAt, KnownDeal, Store, point
from ledger.audit.history import history_json
from ledger.audit.queries import balances_doc, history_of, loans_doc, triggers_doc
from ledger.audit.verify import verify as verify_store
from ledger.reports import Format, Kind, build_report, render
from ledger.servicing.deals import list_deals

router = APIRouter()


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/whoami")
def whoami(who: Reader) -> dict[str, str]:
    return {"name": who.name, "role": who.role}


@router.get("/deals")
def deals(who: Reader, store: Store) -> list[dict[str, str | None]]:
    return [d for d in list_deals(store) if who.may_read(str(d["deal_id"]))]


@router.get("/deals/{deal}/balances")
def balances(
    deal: Deal, _: Reader, store: Store, as_of: AsOf = None, known_at: KnownAt = None
) -> dict[str, Any]:
    return balances_doc(store, deal, point(as_of, known_at))


@router.get("/deals/{deal}/loans")
def loans(
    deal: Deal,
    _: Reader,
    store: Store,
    loan: Annotated[list[str] | None, Query()] = None,
    status: str | None = None,
    as_of: AsOf = None,
    known_at: KnownAt = None,
) -> dict[str, Any]:
    return loans_doc(store, deal, point(as_of, known_at), loan, status)


@router.get("/deals/{deal}/triggers")
def triggers(
    deal: Deal, _: Reader, store: Store, as_of: AsOf = None, known_at: KnownAt = None
) -> dict[str, Any]:
    return triggers_doc(store, deal, point(as_of, known_at))


@router.get("/deals/{deal}/history")
def history(
    deal: Deal,
    _: Reader,
    store: Store,
    loan: str | None = None,
    account: str | None = None,
    as_of: AsOf = None,
    known_at: KnownAt = None,
) -> dict[str, Any]:
    if (loan is None) == (account is None):
        raise HTTPException(422, "give exactly one of loan or account")
    at = point(as_of, known_at)
    subject, lines = history_of(store, deal, at, loan=loan, account=account)
    return history_json(deal, subject, at, lines)


@router.get("/deals/{deal}/reports/{kind}")
def report(
    deal: Deal,
    kind: Kind,
    _: Reader,
    store: Store,
    date_: Annotated[
        date | None,
        Query(alias="date", description="payment date (trustee) or period end (servicer)"),
    ] = None,
    as_of: Annotated[date | None, Query(description="the latest report on or before")] = None,
    known_at: KnownAt = None,
    format: Format = "json",
) -> Response:
    if (date_ is None) == (as_of is None):
        raise HTTPException(422, "give exactly one of date or as_of")
    when = point(None, known_at).known_at
    built = build_report(store, kind, deal, date_, as_of=as_of, known_at=when)
    return Response(render(built, format), media_type=MEDIA_TYPES[format])


@router.get("/deals/{deal}/verify")
def verify(_: Auditor, deal: KnownDeal, store: Store) -> dict[str, Any]:
    r = verify_store(store, deal)[0]
    return {
        "deal_id": r.deal_id,
        "ok": r.ok,
        "events": r.events,
        "head_hash": r.head_hash,
        "first_problem": r.first_problem(),
        "chain": [p.describe() for p in r.chain[:100]],
        "projections": [d.describe() for d in r.projections[:100]],
    }
