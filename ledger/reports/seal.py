"""The seal a report was built on (SPEC §2.2): the period's :class:`~events.seal.PeriodSealed`
among the events read, printed with every report so that a reader can check the figures against
a signed receipt (``trust-ledger verify --receipts``) without trusting the database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from events.envelope import RecordedEvent
from ledger.reports.model import Section


def seal_section(events: Sequence[RecordedEvent], field: str, day: date) -> Section:
    """The seal whose ``field`` (``payment_date`` for the trustee's report, ``sealed_through``
    for the servicer's) is ``day``, among ``events``; "not sealed" when there is none (yet, or
    as known at the report's time)."""
    text = day.isoformat()
    seal = next((e for e in events if e.type == "PeriodSealed" and e.data[field] == text), None)
    source = "SPEC §2.2: the chain head and Merkle root of the sealed period"
    if seal is None:
        return Section.fields(
            "seal", "Seal of the period", [("sealed", False), ("head_hash", None)], source
        )
    d = seal.data
    return Section.fields(
        "seal",
        "Seal of the period",
        [
            ("sealed", True),
            ("payment_date", date.fromisoformat(d["payment_date"])),
            ("sealed_through", date.fromisoformat(d["sealed_through"])),
            ("first_seq", int(d["first_seq"])),
            ("head_seq", int(d["head_seq"])),
            ("head_hash", str(d["head_hash"])),
            ("merkle_root", str(d["merkle_root"])),
            ("seal_event_id", seal.event_id),
            ("seal_hash", seal.hash),
        ],
        source,
    )
