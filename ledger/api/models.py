"""Request bodies and shared helpers of the API's routes."""

from datetime import date
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict

from ledger.api.auth import Caller, caller
from ledger.audit.timeaxes import TimePoint, parse_known_at
from ledger.reports import Format
from projections.store import ProjectedStore

MEDIA_TYPES: dict[Format, str] = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

AsOf = Annotated[date | None, Query(description="effective date: events on or before it")]
KnownAt = Annotated[
    str | None, Query(description="recorded time (ISO; a date = end of that day, UTC)")
]


def store_of(request: Request) -> ProjectedStore:
    """The store the app was created over."""
    store: ProjectedStore = request.app.state.store
    return store


def _refuse_unseen(deal: str, request: Request, who: Caller) -> None:
    """404 for a deal the caller may not see, naming only those it may (and the store holds)."""
    if not who.may_read(deal):
        raise HTTPException(404, unknown_deal(deal, store_of(request).deals(), who))


def unknown_deal(deal: str, known: list[str], who: Caller) -> str:
    visible = [d for d in known if who.may_read(d)]
    return f"no deal {deal!r} (deals you may read: {', '.join(visible) or 'none'})"


def visible_deal(deal: str, request: Request, who: Annotated[Caller, Depends(caller)]) -> str:
    """The ``{deal}`` of the path, if the caller may see it (no query: a read's own call finds
    whether the store holds it, :class:`~ledger.audit.queries.UnknownDeal`)."""
    _refuse_unseen(deal, request, who)
    return deal


def known_deal(deal: str, request: Request, who: Annotated[Caller, Depends(caller)]) -> str:
    """The ``{deal}`` of the path, if the caller may see it and the store holds it (writes and
    ``verify``, whose calls would otherwise say less)."""
    _refuse_unseen(deal, request, who)
    known = store_of(request).deals()
    if deal not in known:
        raise HTTPException(404, unknown_deal(deal, known, who))
    return deal


Deal = Annotated[str, Depends(visible_deal)]
"""A deal the caller may see (404 otherwise); reads."""
KnownDeal = Annotated[str, Depends(known_deal)]
"""A deal the caller may see and the store holds (404 otherwise); writes and verify."""


def point(as_of: date | None, known_at: str | None) -> TimePoint:
    """The time point of a read: 422 for a known-at that is not a time."""
    try:
        return TimePoint(as_of=as_of, known_at=parse_known_at(known_at) if known_at else None)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


class EventIn(BaseModel):
    """One event posted by an operator, as ``trust-ledger post`` takes it (amounts as strings:
    a JSON number that is not a whole number is refused, SPEC §2.3)."""

    model_config = ConfigDict(extra="forbid")

    type: str
    data: dict[str, Any]
    idempotency_key: str | None = None
    effective_date: date | None = None


class RunDueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    until: date
    dry_run: bool = False


class NotesIssuedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    closing_date: date | None = None
    """Default: the deal file's closing date."""


class ApprovalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment_date: date


Store = Annotated[ProjectedStore, Depends(store_of)]
