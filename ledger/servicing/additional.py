"""Additional Receivables (revolving purchases): the offer's list from a tape, and the boarding
of the loans a payment date bought.

The path of a revolving purchase (seed 001 L3741-3747, L10604-10624, L17709-17723; seed 002
L196-200):

1. the originator draws receivables eligible as at the Additional Cut-Off Date (the end of the
   collection period before the purchase date: the revolving criteria,
   :func:`ledger.servicing.eligibility.eligible_rows`) into a boarding tape; :func:`offer_of`
   measures each on the deal's purchase basis (:func:`purchase_step`: outstanding principal, or
   the DRB, :mod:`ledger.core.discounting`);
2. the offer (``AdditionalReceivablesOffered``,
   :func:`ledger.cycle.acts.offer_additional_receivables`) is recorded by the payment date's
   determination date;
3. the cycle's ``purchase`` step buys whole loans of it, as many as its cash pays for, and pays
   the price to the seller (``WaterfallExecuted.purchases``);
4. :func:`board_additional_receivables` boards the loans bought from the same tape: one
   ``LoanBoarded`` each and an ``AdditionalReceivablesPurchased``, effective the day after the
   Additional Cut-Off Date (from when their collections are the trust's), after checking that
   the tape's loans are the loans bought, at the balances offered, and eligible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from events.cycle import AdditionalReceivablesPurchased, OfferedReceivable
from events.envelope import NewEvent
from ledger.core.discounting import boarding_drb
from ledger.core.money import ZERO
from ledger.deal.schema import DealDefinition
from ledger.deal.steps import PurchaseStep
from ledger.servicing.boarding import loan_boarded
from ledger.servicing.deals import deal_in_force
from ledger.servicing.eligibility import check_eligibility
from ledger.servicing.results import ImportResult, ServicingError, read_bytes, stored_by_keys
from ledger.servicing.servicer_import import loan_rows_of
from ledger.servicing.tape_formats import (
    BoardingRow,
    BoardingTape,
    TapeError,
    TapeRejected,
    content_hash,
)
from ledger.servicing.tape_parse import scan_boarding_tape
from projections.store import ProjectedStore


def purchase_step(deal: DealDefinition) -> PurchaseStep:
    """The deal's revolving ``purchase`` step (the first of its waterfalls)."""
    for steps in deal.waterfalls.values():
        for step in steps:
            if isinstance(step, PurchaseStep):
                return step
    raise ServicingError(f"deal {deal.deal_id} buys no additional receivables (no purchase step)")


def offered_balance(deal: DealDefinition, row: BoardingRow, cut_off: date) -> Decimal:
    """A receivable's balance at ``cut_off`` on the deal's purchase basis."""
    if purchase_step(deal).balance_basis == "principal":
        return row.outstanding_principal
    conv = deal.drb_convention()
    if conv is None:
        raise ServicingError(
            f"deal {deal.deal_id} buys on the discounted basis but has no discounted_balance"
        )
    return boarding_drb(row, cut_off, conv)


def offer_of(
    deal: DealDefinition, rows: Sequence[BoardingRow], cut_off: date
) -> tuple[OfferedReceivable, ...]:
    """The receivables of ``rows`` (in their order) as an offer measured at ``cut_off``."""
    return tuple(
        OfferedReceivable.model_validate(
            {
                "loan_id": r.loan_id,
                "balance": offered_balance(deal, r, cut_off),
                "rate": r.interest_rate,
            }
        )
        for r in rows
    )


@dataclass(frozen=True, slots=True)
class _Bought:
    """What a payment date's cycle bought of its offer."""

    loan_ids: tuple[str, ...]
    balance: Decimal
    price: Decimal
    offered: tuple[OfferedReceivable, ...]
    cut_off: date


def _bought(store: ProjectedStore, deal_id: str, payment_date: date) -> _Bought:
    when = payment_date.isoformat()
    offers = [
        e
        for e in store.read(deal_id, types=["AdditionalReceivablesOffered"])
        if e.data["payment_date"] == when
    ]
    cycles = [
        e
        for e in store.read(deal_id, types=["WaterfallExecuted"])
        if e.data["payment_date"] == when
    ]
    if not offers or not cycles:
        raise ServicingError(
            f"deal {deal_id}: no offer of additional receivables or no cycle on {payment_date}"
        )
    offer = offers[-1].data
    bought = [p for p in cycles[-1].data.get("purchases", ()) if p.get("loan_ids")]
    if not bought:
        raise ServicingError(f"deal {deal_id}: the cycle of {payment_date} bought no loans")
    line = bought[0]
    return _Bought(
        loan_ids=tuple(line["loan_ids"]),
        balance=Decimal(line["balance"]),
        price=Decimal(line["price"]),
        offered=tuple(OfferedReceivable.model_validate(r) for r in offer.get("receivables", ())),
        cut_off=date.fromisoformat(offer["cut_off_date"]),
    )


def board_additional_receivables(
    store: ProjectedStore,
    deal_id: str,
    payment_date: date,
    source: str | Path | bytes,
    *,
    file: str | None = None,
    actor: str = "servicer",
    role: str = "servicer",
) -> ImportResult:
    """Board the loans the cycle of ``payment_date`` bought, from their boarding tape, in one
    atomic batch: ``LoanBoarded`` for each (cut off at the offer's Additional Cut-Off Date,
    effective the day after it) and ``AdditionalReceivablesPurchased``.

    Refused (:class:`TapeRejected`, every file, row, field and reason; nothing stored) when the
    tape's loans are not exactly those bought, a loan's balance at the cut-off is not the one
    offered, a loan is already boarded, or a loan fails a revolving eligibility criterion as at
    the cut-off. A tape boarded before is a reported no-op."""
    deal = deal_in_force(store, deal_id)
    data = read_bytes(source)
    name = file or ("<bytes>" if isinstance(source, bytes) else str(source))
    sha = content_hash(data)
    summary_key = f"board-additional:{payment_date.isoformat()}:purchase"
    tape, errors = scan_boarding_tape(data, name)
    if stored_by_keys(store, deal_id, [summary_key]):
        keys = [_key(payment_date, r.loan_id) for r in tape.rows] + [summary_key]
        return ImportResult(
            "boarding", deal_id, name, sha, stored_by_keys(store, deal_id, keys), True
        )
    bought = _bought(store, deal_id, payment_date)
    cut_off = bought.cut_off
    errors += _check_bought(store, deal, tape, bought)
    eligibility, unchecked = check_eligibility(deal, tape, "revolving", cut_off)
    errors += eligibility
    if errors:
        raise TapeRejected(sorted(errors, key=lambda e: e.row))
    effective = cut_off + timedelta(days=1)
    new = [
        NewEvent.of(
            ev,
            deal_id=deal_id,
            stream_id=ev.default_stream(),
            effective_date=effective,
            idempotency_key=_key(payment_date, row.loan_id),
            actor=actor,
            role=role,
        )
        for row in tape.rows
        for ev in [loan_boarded(row, cut_off)]
    ]
    purchased = AdditionalReceivablesPurchased.model_validate(
        {
            "payment_date": payment_date,
            "cut_off_date": cut_off,
            "file_name": Path(tape.file).name,
            "file_sha256": sha,
            "loan_count": len(tape.rows),
            "aggregate_principal": sum((r.outstanding_principal for r in tape.rows), ZERO),
            "balance": bought.balance,
            "price": bought.price,
        }
    )
    new.append(
        NewEvent.of(
            purchased,
            deal_id=deal_id,
            stream_id=purchased.default_stream(),
            effective_date=effective,
            idempotency_key=summary_key,
            actor=actor,
            role=role,
        )
    )
    result = store.append(new)
    return ImportResult(
        "boarding", deal_id, name, sha, result.events, result.duplicate, None, unchecked
    )


def _key(payment_date: date, loan_id: str) -> str:
    return f"board-additional:{payment_date.isoformat()}:{loan_id}"


def _check_bought(
    store: ProjectedStore, deal: DealDefinition, tape: BoardingTape, bought: _Bought
) -> list[TapeError]:
    """The tape's loans are those bought, each at the balance offered, none boarded before."""
    errors: list[TapeError] = []
    offered = {r.loan_id: r.balance for r in bought.offered}
    wanted = set(bought.loan_ids)
    known = loan_rows_of(store, deal.deal_id, (r.loan_id for r in tape.rows))
    on_tape = set()
    for row, line in zip(tape.rows, tape.lines, strict=True):
        lid = row.loan_id
        on_tape.add(lid)
        if lid not in wanted:
            errors.append(TapeError(tape.file, line, "loan_id", f"loan {lid} was not bought"))
            continue
        if lid in known:
            errors.append(TapeError(tape.file, line, "loan_id", f"loan {lid} is boarded already"))
        measured = offered_balance(deal, row, bought.cut_off)
        if measured != offered[lid]:
            errors.append(
                TapeError(
                    tape.file,
                    line,
                    "outstanding_principal",
                    f"loan {lid} measures {measured} at {bought.cut_off}, offered at "
                    f"{offered[lid]}",
                )
            )
    missing = sorted(wanted - on_tape)
    if missing:
        errors.append(TapeError(tape.file, 0, "", f"loans bought but not on the tape: {missing}"))
    return errors
