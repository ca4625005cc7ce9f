"""The deal definitions recorded in the store (``DealDefined`` on the deal's ``deal`` stream).

**Deal in force** — the last ``DealDefined`` on the deal's ``deal`` stream. :func:`load_deal` is
  idempotent by content hash (idempotency key ``deal-defined:<sha256>``): loading the same text
  again returns the original event, even after another version was loaded in between."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from events.catalogue import DealDefined
from events.envelope import NewEvent, RecordedEvent
from events.seal import open_date
from ledger.deal.loader import content_hash as deal_content_hash
from ledger.deal.loader import load_deal_text, read_deal_file
from ledger.deal.schema import DealDefinition
from ledger.servicing.results import ServicingError
from projections.store import ProjectedStore

DEAL_STREAM = "deal"


# ---------------------------------------------------------------------------------- deals


def load_deal(
    store: ProjectedStore,
    path: str | Path,
    *,
    actor: str = "operator",
    role: str = "trustee",
    effective_date: date | None = None,
) -> RecordedEvent:
    """Validate a deal file and record it as ``DealDefined`` (idempotent by content hash).

    Raises :class:`ledger.deal.loader.DealValidationError` listing every problem of the file.
    ``effective_date`` defaults to the deal's cut-off date (deterministic), or the first day after
    the deal's sealed periods once it has some (a corrected file is dated in the open period).
    """
    p = Path(path)
    return record_deal(
        store, read_deal_file(p), str(p),
        actor=actor, role=role, effective_date=effective_date,
    )  # fmt: skip


def record_deal(
    store: ProjectedStore,
    text: str,
    source: str,
    *,
    actor: str = "operator",
    role: str = "trustee",
    effective_date: date | None = None,
) -> RecordedEvent:
    """:func:`load_deal` of a deal file's text (``source`` names it in the errors)."""
    deal = load_deal_text(text, source)
    digest = deal_content_hash(text)
    event = DealDefined(name=deal.name, content=text, content_hash=digest)
    new = NewEvent.of(
        event,
        deal_id=deal.deal_id,
        stream_id=DEAL_STREAM,
        effective_date=effective_date
        or open_date(store.engine, deal.deal_id, deal.calendar.cut_off_date),
        idempotency_key=f"deal-defined:{digest}",
        actor=actor,
        role=role,
    )
    _DEALS[digest] = deal
    return store.append([new]).events[0]


_DEALS: dict[str, DealDefinition] = {}
"""Parsed deal definitions by content hash (parsing YAML is the slow part)."""


def _last_deal_event(store: ProjectedStore, deal_id: str) -> RecordedEvent | None:
    last = None
    for ev in store.read(deal_id, stream_id=DEAL_STREAM, types=["DealDefined"]):
        last = ev
    return last


def deal_in_force(store: ProjectedStore, deal_id: str) -> DealDefinition:
    """The deal definition recorded last for ``deal_id``; :class:`ServicingError` if none."""
    ev = _last_deal_event(store, deal_id)
    if ev is None:
        raise ServicingError(f"deal {deal_id!r} has no definition in this store: run `deal load`")
    digest = str(ev.data["content_hash"])
    deal = _DEALS.get(digest)
    if deal is None:
        source = f"the deal file of {deal_id} (DealDefined, sha256 {digest[:12]})"
        deal = _DEALS[digest] = load_deal_text(str(ev.data["content"]), source)
    return deal


def list_deals(store: ProjectedStore) -> list[dict[str, str | None]]:
    """Every deal in the store with the name of its definition in force (``None`` if it has none),
    sorted by deal id: ``[{"deal_id": ..., "name": ...}]``."""
    out: list[dict[str, str | None]] = []
    for deal_id in store.deals():
        ev = _last_deal_event(store, deal_id)
        out.append({"deal_id": deal_id, "name": None if ev is None else str(ev.data["name"])})
    return out
