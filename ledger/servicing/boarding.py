"""Boarding the pool (SPEC §6 boarding tape): each loan checked against the deal's eligibility
criteria, then ``PoolBoarded`` and one ``LoanBoarded`` per loan appended as one batch."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from events.envelope import NewEvent
from events.servicing import (
    LoanBoarded,
    PoolBoarded,
)
from ledger.core.money import ZERO
from ledger.deal.schema import DealDefinition
from ledger.servicing.deals import deal_in_force
from ledger.servicing.eligibility import check_eligibility
from ledger.servicing.results import (
    ImportResult,
    ServicingError,
    Step,
    no_step,
    read_bytes,
    stored_by_keys,
)
from ledger.servicing.tape_formats import (
    BoardingRow,
    BoardingTape,
    TapeError,
    TapeRejected,
    content_hash,
)
from ledger.servicing.tape_parse import scan_boarding_tape
from projections.store import ProjectedStore


def _parse_boarding(data: bytes, name: str) -> tuple[BoardingTape, list[TapeError]]:
    """A boarding tape's parsed rows and its syntax errors, so that a rejection lists the
    malformed and the ineligible loans together
    (:func:`ledger.servicing.tape_formats.scan_boarding_tape`)."""
    return scan_boarding_tape(data, name)


def loan_boarded(row: BoardingRow, cut_off: date) -> LoanBoarded:
    """The ``LoanBoarded`` of one boarding-tape row cut off at ``cut_off``."""
    return LoanBoarded(
        loan_id=row.loan_id,
        borrower_id=row.borrower_id,
        origination_date=row.origination_date,
        maturity_date=row.maturity_date,
        original_principal=row.original_principal,
        outstanding_principal=row.outstanding_principal,
        interest_rate=row.interest_rate,
        amortization=row.amortization.value,
        payment_day=row.payment_day,
        remaining_term_months=row.remaining_term_months,
        days_past_due=row.days_past_due,
        cut_off_date=cut_off,
        extra=dict(row.extra),
    )


def boarding_events(
    deal: DealDefinition, tape: BoardingTape, *, actor: str, role: str
) -> list[NewEvent]:
    """One ``LoanBoarded`` per row and a closing ``PoolBoarded`` (pure)."""
    cut_off = deal.calendar.cut_off_date
    out: list[NewEvent] = []
    total = ZERO
    for row, line in zip(tape.rows, tape.lines, strict=True):
        ev = loan_boarded(row, cut_off)
        total += row.outstanding_principal
        out.append(
            NewEvent.of(
                ev,
                deal_id=deal.deal_id,
                stream_id=ev.default_stream(),
                effective_date=cut_off,
                idempotency_key=f"board:{tape.sha256}:{line}",
                actor=actor,
                role=role,
            )
        )
    pool = PoolBoarded(
        file_name=Path(tape.file).name,
        file_sha256=tape.sha256,
        cut_off_date=cut_off,
        loan_count=len(tape.rows),
        aggregate_principal=total,
    )
    out.append(
        NewEvent.of(
            pool,
            deal_id=deal.deal_id,
            stream_id=pool.default_stream(),
            effective_date=cut_off,
            idempotency_key=f"board:{tape.sha256}:pool",
            actor=actor,
            role=role,
        )
    )
    return out


def board_pool(
    store: ProjectedStore,
    deal_id: str,
    source: str | Path | bytes,
    *,
    file: str | None = None,
    actor: str = "servicer",
    role: str = "servicer",
    step: Step = no_step,
) -> ImportResult:
    """Board a boarding tape as the deal's pool at cut-off, in one atomic batch (``step``: see
    :func:`import_tape`).

    Raises :class:`TapeRejected` listing every malformed or ineligible loan (nothing stored), or
    :class:`ServicingError` when the deal has no definition or already has another pool.
    """
    deal = deal_in_force(store, deal_id)
    data = read_bytes(source)
    name = file or ("<bytes>" if isinstance(source, bytes) else str(source))
    sha = content_hash(data)
    pool_key = f"board:{sha}:pool"
    done = stored_by_keys(store, deal_id, [pool_key])
    tape, syntax = _parse_boarding(data, name)
    step("parse")
    if done:
        keys = [f"board:{sha}:{line}" for line in tape.lines] + [pool_key]
        return ImportResult(
            "boarding", deal_id, name, sha, stored_by_keys(store, deal_id, keys), True
        )
    other = list(store.read(deal_id, types=["PoolBoarded"]))
    if other:
        prior = other[0].data
        raise ServicingError(
            f"deal {deal_id!r} already has its pool, boarded from {prior['file_name']} "
            f"(sha256 {prior['file_sha256']}); later loans come as additional purchases"
        )
    errors, unchecked = check_eligibility(deal, tape)
    errors = syntax + errors
    if errors:
        raise TapeRejected(sorted(errors, key=lambda e: e.row))
    step("validate")
    new = boarding_events(deal, tape, actor=actor, role=role)
    result = store.append(new)
    step("store")
    return ImportResult(
        "boarding", deal_id, name, sha, result.events, result.duplicate, None, unchecked
    )
