"""The trustee report's cash sections: the deal, dates, collections and their split, available
funds, the waterfall, notes, fees and reserves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from events.cycle import (
    CollectionPeriodClosed,
    WaterfallExecuted,
)
from events.envelope import RecordedEvent
from ledger.core.money import ZERO
from ledger.deal.schema import DealDefinition
from ledger.reports.model import Section, Value
from ledger.reports.pool_figures import PeriodPool
from ledger.reports.source import (
    known_text,
    report_dates,
    schedule_of,
)
from ledger.waterfall import posting_account
from projections.notes import factor

if TYPE_CHECKING:
    pass
from ledger.reports.trustee_cycle import PaymentDateCycle

# ---------------------------------------------------------------------------------- sections


def deal_section(
    deal: DealDefinition,
    cycle: PaymentDateCycle,
    w: WaterfallExecuted,
    payment_date: date,
    start: date,
    end: date,
    known_at: datetime | None,
    upto: Sequence[RecordedEvent],
) -> Section:
    closed = cycle.closed
    return Section.fields(
        "deal",
        "Deal and dates",
        [
            ("deal_id", deal.deal_id),
            ("deal_name", deal.name),
            ("seed", deal.seed),
            ("payment_date", payment_date),
            ("period_index", w.period_index),
            ("collection_period_start", start),
            ("collection_period_end", end),
            ("determination_date", closed.determination_date if closed else None),
            ("interest_period_start", w.interest_period_start),
            ("interest_period_end", w.interest_period_end),
            ("waterfall_mode", w.mode),
            # seed 001 L20667-20688 (v): the report says when it is the last payment date
            ("final_payment_date", all(n.closing == 0 for n in w.notes)),
            ("as_of", payment_date),
            ("known_at", known_text(known_at) if known_at else "everything recorded"),
            ("events_folded", len(upto)),
            ("last_event_seq", upto[-1].deal_seq if upto else 0),
        ],
        "seed 004 L1754, L2747, L2877; seed 001 L12991-12995; SPEC §5",
    )


def dates_section(
    deal: DealDefinition, events: Sequence[RecordedEvent], payment_date: date
) -> Section:
    period = next(
        (p for p in schedule_of(deal, events, payment_date) if p.payment_date == payment_date),
        None,
    )
    return Section.fields(
        "dates",
        "The payment date's calendar (deal calendar rules)",
        report_dates(period) if period else [("schedule", "the deal has no closing date")],
        "seed 004 L1754-1790 (受托机构报告日 = payment date - 5 business days); seed 001 "
        "L10594-10600 (Trust Company Report Date)",
    )


def collections_section(pool: PeriodPool) -> Section:
    rows: list[tuple[str, Value]] = [
        ("principal_scheduled", pool.scheduled_principal),
        ("principal_prepaid", pool.prepayments),
        ("interest", pool.interest),
        ("fees", pool.fees),
        ("recoveries", pool.recoveries),
        ("repurchases", pool.repurchase_price),
        ("total", pool.collections),
    ]
    return Section.fields(
        "collections",
        "Collections of the collection period (pool projection, as restated)",
        rows,
        "seed 004 L2441-2457, L2728-2744 (income and principal collections); seed 001 R1 (i)",
    )


def split_section(closed: CollectionPeriodClosed | None) -> Section:
    rows: list[tuple[Value, ...]] = []
    if closed is not None:
        for item, amount in sorted(closed.items.items()):
            rows.append(("item", item, amount))
        for account, amount in sorted(closed.to_accounts.items()):
            rows.append(("to_account", account, amount))
        rows.append(("unremitted", "collected, not yet remitted", closed.unremitted))
    return Section.table(
        "collections_split",
        "Collections split into the trust's accounts on this date (CollectionPeriodClosed)",
        ("line", "name", "amount"),
        rows,
        "seed 004 L2441-2457, L2728-2744; seed 001 L18553-18563",
    )


def available_section(
    deal: DealDefinition, w: WaterfallExecuted, before: Mapping[str, Decimal]
) -> Section:
    rows: list[tuple[Value, ...]] = []
    total = ZERO
    for aid, acc in deal.accounts.items():
        if acc.kind == "ledger":
            continue
        account = posting_account(deal, aid)
        balance = before.get(account, ZERO)
        total += balance
        rows.append((aid, acc.name, acc.kind, account, balance))
    rows.append(("total", "sum of the pots", "", "", total))
    rows.append(("waterfall_available", "as the waterfall recorded it", "", "", w.available))
    return Section.table(
        "available_funds",
        "Available funds by account before the waterfall",
        ("account", "name", "kind", "ledger_account", "balance"),
        rows,
        "seed 001 L18553-18563 (Available Distribution Amount); seed 004 L2441-2457, L2728-2744",
    )


def waterfall_section(w: WaterfallExecuted) -> Section:
    rows: list[tuple[Value, ...]] = [
        (
            s.step_id,
            s.clause,
            s.kind,
            s.source,
            s.destination,
            s.due,
            s.paid,
            s.shortfall,
            s.carried_forward,
            s.skipped,
        )
        for s in w.steps
    ]
    rows.append(("total", "", "", "", "", None, w.paid_out, None, None, False))
    rows.append(("retained", "", "", "", "", None, w.retained, None, None, False))
    return Section.table(
        "waterfall",
        f"Waterfall ({w.mode}): every step due, paid, shortfall",
        (
            "step_id",
            "clause",
            "kind",
            "source",
            "destination",
            "due",
            "paid",
            "shortfall",
            "carried_forward",
            "skipped",
        ),
        rows,
        "SPEC §4 WaterfallExecuted; the deal file's waterfall clauses per step",
    )


def purchases_section(w: WaterfallExecuted) -> list[Section]:
    """The revolving purchase of the date (none without a purchase step): the cash the step had,
    the balance offered and bought, the whole loans bought and their price (seed 001
    L17709-17723, L2709-2714; seed 002 L196-200)."""
    if not w.purchases:
        return []
    rows: list[tuple[Value, ...]] = [
        (p.step_id, p.seller, p.available, p.offered, len(p.loan_ids), p.balance, p.price)
        for p in w.purchases
    ]
    return [
        Section.table(
            "revolving_purchase",
            "Revolving purchase: cash available, balance offered and bought, price",
            ("step_id", "seller", "available", "offered", "loans_bought", "balance", "price"),
            rows,
            "seed 001 L17709-17723 (price: DRB × (1 − 1.7%)), L2709-2714 (funds available); "
            "seed 002 L196-200",
        )
    ]


def notes_section(deal: DealDefinition, cycle: PaymentDateCycle, w: WaterfallExecuted) -> Section:
    paid: dict[tuple[str, str], Decimal] = {}
    if cycle.distribution is not None:
        for p in cycle.distribution.payments:
            if p.note_id is not None:
                key = (p.note_id, p.kind)
                paid[key] = paid.get(key, ZERO) + p.amount
    rows = []
    for n in w.notes:
        spec = deal.notes.get(n.note_id)
        accrued = cycle.interest.get(n.note_id)
        rows.append(
            (
                n.note_id,
                spec.class_name if spec else "",
                n.original,
                n.opening,
                Decimal(factor(n.opening, n.original)),
                accrued.due if accrued else None,
                paid.get((n.note_id, "interest"), ZERO),
                paid.get((n.note_id, "principal"), ZERO),
                paid.get((n.note_id, "return"), ZERO),
                n.closing,
                Decimal(factor(n.closing, n.original)),
                n.interest_shortfall,
            )
        )
    return Section.table(
        "notes",
        "Notes: balances, payments and factors per class",
        (
            "note_id",
            "class",
            "original",
            "balance_before",
            "factor_before",
            "interest_due",
            "interest_paid",
            "principal_paid",
            "return_paid",
            "balance_after",
            "factor_after",
            "interest_unpaid_carried",
        ),
        rows,
        "seed 001 L13013-13015, L20667-20688 (i)-(iii): P&I per class, outstanding, Note Factor; "
        "seed 004 L2877 securities overview",
    )


def fees_section(deal: DealDefinition, cycle: PaymentDateCycle, w: WaterfallExecuted) -> Section:
    rows = []
    for fid, fee in deal.fees.items():
        accrued = cycle.fees.get(fid)
        targets = {f"payable:fee:{fid}", *([fee.paid_into] if fee.paid_into else [])}
        paid = sum((s.paid for s in w.steps if s.destination in targets), ZERO)
        unpaid = w.fees_unpaid.get(fid, ZERO)
        if accrued is None and not paid and not unpaid:
            continue
        rows.append(
            (
                fid,
                fee.payee,
                accrued.carried_in if accrued else ZERO,
                accrued.accrued if accrued else ZERO,
                accrued.due if accrued else ZERO,
                paid,
                unpaid,
            )
        )
    return Section.table(
        "fees",
        "Fees, expenses and taxes: due, paid, unpaid carried forward",
        ("fee_id", "payee", "carried_in", "accrued", "due", "paid", "unpaid_carried"),
        rows,
        "seed 004 L980-987 (expenses, senior expense cap); seed 001 R1 (v)",
    )


def _step_of(memo: str) -> str:
    return memo.split(": ", 1)[0]


def reserves_section(
    deal: DealDefinition, w: WaterfallExecuted, before: Mapping[str, Decimal]
) -> Section:
    """Each reserve's balance before and after the waterfall and its target. The target is the
    one the waterfall evaluated: a top-up step's due is target − balance at that step, so target
    = the balance before the step (opening plus the postings of the steps before it) + due. A
    top-up with nothing due says only that the balance was at or above its target."""
    order = list(dict.fromkeys(s.step_id for s in w.steps))
    rows = []
    for aid, acc in deal.accounts.items():
        if acc.kind != "reserve":
            continue
        account = posting_account(deal, aid)
        opening = before.get(account, ZERO)
        moved = sum(
            (p.amount for e in w.postings for p in e.postings if p.account == account), ZERO
        )
        closing = opening + moved
        target: Decimal | None = None
        status = "no top-up step in this mode"
        for line in w.steps:
            if line.kind != "top_up" or line.destination != aid:
                continue
            upto = order.index(line.step_id)
            at_step = opening + sum(
                (
                    p.amount
                    for e in w.postings
                    if _step_of(e.memo) in order and order.index(_step_of(e.memo)) < upto
                    for p in e.postings
                    if p.account == account
                ),
                ZERO,
            )
            if line.due > 0:
                target = at_step + line.due
                status = "at target" if closing >= target else "below target"
            else:
                status = "at or above target"
        shortfall = max(ZERO, target - closing) if target is not None else None
        rows.append((aid, acc.name, opening, moved, closing, target, shortfall, status))
    return Section.table(
        "reserves",
        "Reserve accounts: balance against target",
        (
            "account",
            "name",
            "balance_before",
            "waterfall_movement",
            "balance_after",
            "target",
            "shortfall",
            "status",
        ),
        rows,
        "seed 001 L20202-20218, L20667-20688 (iv) General Cash Collateral; seed 004 L1052-1058, "
        "L2461-2463 必备流动性储备金额",
    )
