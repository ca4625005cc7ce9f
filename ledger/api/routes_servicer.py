"""What the servicer posts: tapes (boarding and monthly) and single events (every role may try
``POST .../events``: the library's policy decides by event type, :mod:`events.policy`)."""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from ledger.api.auth import Reader, Tapes
from ledger.api.models import EventIn, KnownDeal, Store
from ledger.servicing.imports import import_tape
from ledger.servicing.operator import post_operator_event, posted_json

router = APIRouter()


@router.post("/deals/{deal}/tapes")
async def tape(
    who: Tapes,
    deal: KnownDeal,
    request: Request,
    store: Store,
    file: Annotated[str, Query(description="the file's name, for the record")] = "tape.csv",
    period_start: Annotated[
        date | None, Query(description="open collection period (default: the calendar's)")
    ] = None,
    period_end: date | None = None,
) -> dict[str, Any]:
    """A boarding or servicer tape (SPEC §6) as the request body: all or nothing,
    idempotent by the file's SHA-256."""
    if (period_start is None) != (period_end is None):
        raise HTTPException(422, "period_start and period_end go together")
    period = (period_start, period_end) if period_start and period_end else None
    body = await request.body()

    def work() -> dict[str, Any]:
        r = import_tape(store, deal, body, file=file, period=period, actor=who.name, role=who.role)
        return {
            "kind": r.kind,
            "deal_id": r.deal_id,
            "file": r.file,
            "sha256": r.sha256,
            "duplicate": r.duplicate,
            "events": len(r.events),
            "first_seq": r.events[0].deal_seq if r.events else None,
            "last_seq": r.events[-1].deal_seq if r.events else None,
            "period": [d.isoformat() for d in r.period] if r.period else None,
            "unchecked": list(r.unchecked),
        }

    return await run_in_threadpool(work)


@router.post("/deals/{deal}/events")
def post_event(who: Reader, deal: KnownDeal, body: EventIn, store: Store) -> dict[str, Any]:
    """One event, validated like a tape row (``type`` ``reversal`` nets one out), posted in
    the caller's name if the policy lets the caller's role post (or reverse) that type."""
    recorded = post_operator_event(
        store, body.type, deal, body.data, who.name, who.role,
        idempotency_key=body.idempotency_key, effective_date=body.effective_date,
    )  # fmt: skip
    return posted_json(recorded)
