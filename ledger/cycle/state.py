"""The trust at a determination date, folded from the events (issue 5 item 3, the shell's input).

:class:`CycleFolder` folds a deal's events **in effective-date order** (chain order within a
date): balances (every posting), loans (:mod:`projections.loans`), notes and triggers
(:mod:`projections.notes`), collections by collection-split item, defaults, the previous
payment date's waterfall, rating changes, reported figures and expenses incurred. At each
collection period end it takes the period's determinations (:mod:`ledger.cycle.determinations`);
:meth:`CycleFolder.state` then gives the pure :class:`DeterminationState` that
:func:`ledger.cycle.plan.plan_cycle` plans from.

Period rule: servicing events belong to the collection period of their effective date; cash is
available to a payment date when remitted (``trust:collections``) by its determination date.

The metrics of the state are exactly those the deal declares (``metrics:``): each engine
determination of docs/primitives.md is computed as the catalogue defines it, each formula metric
evaluated, and a name the cycle cannot determine on a date has no value there (issue 13: no
default).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from events.cycle import CapUsage, OfferedReceivable
from events.envelope import RecordedEvent
from events.model import upcast
from ledger.core import accounts
from ledger.core.calendar import SchedulePeriod
from ledger.core.expr import Value
from ledger.core.money import ZERO
from ledger.cycle.determinations import (
    LastPaymentDate,
    PeriodEnd,
    adrb,
    formula_metrics,
    period_end_figures,
    state_metrics,
)
from ledger.cycle.schedule import CycleError
from ledger.deal.schema import DealDefinition
from ledger.waterfall import NoteState, TriggerWatch, WaterfallState, posting_account
from projections.balances import BalancesProjection
from projections.base import State
from projections.loans import LoanProjection
from projections.notes import NotesProjection

# ---------------------------------------------------------------------------------- the state


@dataclass(frozen=True)
class DeterminationState:
    """Everything :func:`ledger.cycle.plan_cycle` needs, as of one determination date."""

    deal_id: str
    waterfall: WaterfallState
    """Accounts, notes (with carried shortfalls), unpaid fees, metrics, trigger states *before*
    this date's evaluation."""
    declared: frozenset[str]
    """``declared`` triggers a standing :class:`EventDeclared` puts in effect."""
    collections_cash: Decimal
    """Remitted collections in ``trust:collections`` not yet split."""
    unsplit_items: Mapping[str, Decimal]
    """Collections by split item collected up to the period end and not yet split."""
    note_originals: Mapping[str, Decimal]
    pool_performing: Decimal
    pool_defaulted: Decimal
    clean_up_elected: bool = False
    clean_up_exercised: bool = False
    """The call was exercised on an earlier date (it is exercised once)."""


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


@dataclass
class CycleFolder:
    """Folds a deal's events in effective order; see the module docstring."""

    deal: DealDefinition
    balances: dict[str, Decimal] = field(default_factory=dict)
    loans: State = field(default_factory=dict)
    notes: State = field(default_factory=dict)
    collected: dict[str, Decimal] = field(default_factory=dict)
    split: dict[str, Decimal] = field(default_factory=dict)
    cum_defaults: Decimal = ZERO
    boarded: Decimal = ZERO
    closing_date: dt.date | None = None
    note_originals: dict[str, Decimal] = field(default_factory=dict)
    period_ends: list[PeriodEnd] = field(default_factory=list)
    clean_up_elected_from: dt.date | None = None
    clean_up_exercised: bool = False
    collected_until_end: dict[str, Decimal] = field(default_factory=dict)
    """Items collected up to the latest closed period end (set by :meth:`mark_period_end`)."""
    offers: dict[dt.date, tuple[Decimal, Decimal | None]] = field(default_factory=dict)
    """Additional receivables offered per payment date: (balance, weighted average rate)."""
    adrb_at: dict[dt.date, Decimal] = field(default_factory=dict)
    """ADRB snapshots taken inside a collection period (:meth:`snapshot_adrb`)."""
    last_pd: LastPaymentDate | None = None
    ratings: dict[str, dict[str, str]] | None = None
    """Party → agency → grade after the :class:`RatingChanged` events (``None``: none)."""
    reported: dict[str, Decimal] = field(default_factory=dict)
    reported_for: dict[tuple[str, dt.date], Decimal] = field(default_factory=dict)
    expenses: list[tuple[dt.date, str, Decimal]] = field(default_factory=list)
    """Expenses and taxes incurred (:class:`ExpenseIncurred`): effective date, fee, amount."""
    expenses_until: dt.date | None = None
    """The determination date of the latest closed payment date: expenses effective by it were
    due on it or before."""
    offered: dict[dt.date, tuple[OfferedReceivable, ...]] = field(default_factory=dict)
    """... and the receivables the offer lists, in its order."""
    seq: int = 0

    def __post_init__(self) -> None:
        self._balance_p = BalancesProjection()
        self._loan_p = LoanProjection()
        self._note_p = NotesProjection()
        self.closing_date = self.deal.calendar.closing_date

    # --- folding ---------------------------------------------------------------------------

    def feed_all(self, events: Iterable[RecordedEvent]) -> None:
        for ev in events:
            self.feed(ev)

    def feed(self, ev: RecordedEvent) -> None:
        self.seq += 1
        # the balances projection's legs: read from the payload for the loan-level types (pinned
        # equal to the models' legs()), so that a 100,000-loan history is not validated again
        for account, amount in self._balance_p.changes(ev):
            self.balances[account] = self.balances.get(account, ZERO) + amount
        self._loan_p.apply_changes(self.loans, self.seq, self._loan_p.changes(ev))
        self._note_p.apply_changes(self.notes, self.seq, self._note_p.changes(ev))
        kind = ev.type
        if kind in _ITEM_TYPES:
            self._collect(kind, upcast(kind, ev.schema_version, ev.data), 1)
        elif kind in _DEAL_TYPES:
            self._deal_event(kind, ev.effective_date, ev.data)
        elif kind == "EventReversed":
            original = ev.data.get("reversed_type")
            if original in _ITEM_TYPES:
                self._collect(str(original), dict(ev.data.get("reversed_data") or {}), -1)
            elif original == "ExpenseIncurred":
                data = dict(ev.data.get("reversed_data") or {})
                self.expenses.append((ev.effective_date, data["fee_id"], -_d(data["amount"])))
        elif kind == "CollectionPeriodClosed":
            for item, amount in ev.data["items"].items():
                self.split[item] = self.split.get(item, ZERO) + _d(amount)
            self.expenses_until = dt.date.fromisoformat(ev.data["determination_date"])
        elif kind == "CleanUpCallExercised":
            self.clean_up_exercised = True
            self.split["cleanup_principal"] = self.split.get("cleanup_principal", ZERO) + _d(
                ev.data["price"]
            )
        elif kind == "WaterfallExecuted":
            pd = dt.date.fromisoformat(ev.data["payment_date"])
            self.last_pd = LastPaymentDate(
                payment_date=pd,
                revolving=self._revolving(pd),
                closing={aid: self._account(aid) for aid in self.deal.accounts},
                purchase_price=sum((_d(p["price"]) for p in ev.data.get("purchases", ())), ZERO),
                purchase_balance=sum(
                    (_d(p["balance"]) for p in ev.data.get("purchases", ())), ZERO
                ),
            )

    def _deal_event(self, kind: str, day: dt.date, data: Mapping[str, Any]) -> None:
        if kind == "NotesIssued":
            self.closing_date = dt.date.fromisoformat(data["closing_date"])
            for n in data["notes"]:
                self.note_originals[n["note_id"]] = _d(n["amount"])
        elif kind == "AdditionalReceivablesOffered":
            wac = data.get("weighted_average_rate")
            pd = dt.date.fromisoformat(data["payment_date"])
            self.offers[pd] = (_d(data["balance"]), None if wac is None else _d(wac))
            self.offered[pd] = tuple(
                OfferedReceivable.model_validate(r) for r in data.get("receivables", ())
            )
        elif kind == "CleanUpCallElected":
            self.clean_up_elected_from = dt.date.fromisoformat(data["from_payment_date"])
        elif kind == "RatingChanged":
            party, agency = data["party_id"], data["agency"]
            if party not in self.deal.parties or agency not in self.deal.agencies:
                raise CycleError(
                    f"RatingChanged effective {day}: deal {self.deal.deal_id} has no party "
                    f"{party!r} or no agency {agency!r}"
                )
            if self.ratings is None:
                self.ratings = {p: dict(v.ratings) for p, v in self.deal.parties.items()}
            if data.get("grade") is None:
                self.ratings[party].pop(agency, None)
            else:
                self.ratings[party][agency] = str(data["grade"])
        elif kind == "ExpenseIncurred":
            fee = self.deal.fees.get(data["fee_id"])
            if fee is None or fee.kind not in ("expense", "tax") or fee.amount is not None:
                raise CycleError(
                    f"ExpenseIncurred effective {day}: deal {self.deal.deal_id} has no fee "
                    f"{data['fee_id']!r} of kind expense or tax without an amount formula"
                )
            self.expenses.append((day, str(data["fee_id"]), _d(data["amount"])))
        elif kind == "FigureReported":
            name, amount = str(data["name"]), _d(data["amount"])
            if data.get("payment_date") is None:
                self.reported[name] = amount
            else:
                key = (name, dt.date.fromisoformat(data["payment_date"]))
                self.reported_for[key] = self.reported_for.get(key, ZERO) + amount

    def _revolving(self, payment_date: dt.date) -> bool:
        """``period.revolving`` of a payment date whose triggers were just evaluated."""
        rp = self.deal.revolving_period
        if rp is None or payment_date > rp.last_payment_date:
            return False
        return not any(
            bool(self.notes[f"trigger:{tid}"].row["in_effect"])
            for tid in self.deal.revolving_end_triggers()
            if f"trigger:{tid}" in self.notes
        )

    def _add(self, item: str, amount: Decimal) -> None:
        if amount:
            self.collected[item] = self.collected.get(item, ZERO) + amount

    def _collect(self, kind: str, data: Mapping[str, Any], sign: int) -> None:
        if kind == "CollectionReceived":
            prepaid = bool(data.get("prepayment"))
            principal = _d(data.get("principal", "0")) * sign
            self._add("principal_prepaid" if prepaid else "principal_scheduled", principal)
            self._add("interest", _d(data.get("interest", "0")) * sign)
            fees = _d(data.get("fees", "0")) * sign
            self._add("prepayment_fees" if prepaid else "fees_penalties", fees)
        elif kind == "RecoveryReceived":
            # version 2 splits the cash (events/servicing.py); a reversed version-1 payload has
            # only its lump amount, which is principal
            self._add("recovery_principal", _d(data.get("principal", data["amount"])) * sign)
            income = _d(data.get("interest", "0")) + _d(data.get("fees", "0"))
            self._add("recovery_income", income * sign)
        elif kind == "LoanRepurchased":
            price, principal = _d(data["price"]), _d(data["principal"])
            self._add("repurchase_principal", min(price, principal) * sign)
            self._add("repurchase_interest", max(ZERO, price - principal) * sign)
        elif kind == "LoanDefaulted":
            self.cum_defaults += _d(data["principal"]) * sign
        elif kind == "LoanBoarded":
            self.boarded += _d(data["outstanding_principal"]) * sign

    # --- period ends -----------------------------------------------------------------------

    def snapshot_adrb(self, day: dt.date) -> None:
        """Take the ADRB at the end of ``day`` (events up to it fed): the start of a Monthly
        Period that falls inside a longer collection period (seed 001's first)."""
        self.adrb_at[day] = adrb(self.deal, self.loans, day)

    def close_period(self, period: SchedulePeriod, light: bool = False) -> None:
        """Take the period's determinations at its collection period end (call once all events
        up to that date are fed and none after); ``light`` skips the loan-level figures (for
        periods no cycle to be planned looks back to)."""
        previous = self.period_ends[-1] if self.period_ends else None
        end = period_end_figures(
            self.deal,
            period,
            previous,
            balances=self.balances,
            loans=None if light else self.loans,
            collected=self.collected,
            cum_defaults=self.cum_defaults,
            boarded=self.boarded,
            adrb_at=self.adrb_at,
        )
        if not light:
            formula_metrics(self.deal, end)
        self.period_ends.append(end)

    # --- the state -------------------------------------------------------------------------

    def _account(self, aid: str) -> Decimal:
        return self.balances.get(posting_account(self.deal, aid), ZERO)

    def _metrics(self, period: SchedulePeriod) -> dict[str, Value]:
        ends = self.period_ends
        if not ends or ends[-1].end != period.collection_period_end:
            raise CycleError(f"period ending {period.collection_period_end} was not closed")
        last_pd = self.last_pd
        if last_pd is not None and last_pd.payment_date >= period.payment_date:
            last_pd = None
        offer = self.offers.get(period.payment_date)
        return state_metrics(
            self.deal,
            ends,
            period.payment_date,
            offer=offer,
            last_pd=last_pd,
            reported=self.reported,
            reported_for=self.reported_for,
        )

    def state(
        self, period: SchedulePeriod, next_determination: dt.date | None = None
    ) -> DeterminationState:
        """The trust at ``period``'s determination date (events up to it fed, period closed);
        ``next_determination`` is the next payment date's determination date."""
        deal = self.deal
        notes: dict[str, NoteState] = {}
        originals: dict[str, Decimal] = {}
        for nid, note in deal.notes.items():
            row = self.notes.get(f"note:{nid}")
            if row is None:
                notes[nid] = NoteState(balance=note.amount)
                originals[nid] = self.note_originals.get(nid, note.amount)
            else:
                notes[nid] = NoteState(
                    balance=_d(row.row["balance"]),
                    interest_shortfall=_d(row.row["interest_shortfall"]),
                )
                originals[nid] = _d(row.row["original"])
        fees_unpaid = {
            fid: _d(v.row["unpaid"])
            for key, v in self.notes.items()
            if key.startswith("fee:") and (fid := key[4:]) in deal.fees and _d(v.row["unpaid"])
        }
        triggers = {
            tid: bool(v.row["in_effect"])
            for key, v in self.notes.items()
            if key.startswith("trigger:") and (tid := key[8:]) in deal.triggers
        }
        watch = {
            tid: TriggerWatch(
                since=dt.date.fromisoformat(v.row["watch_since"]),
                evaluations=int(v.row.get("watch_evaluations") or 1),
            )
            for key, v in self.notes.items()
            if key.startswith("trigger:")
            and (tid := key[8:]) in deal.triggers
            and v.row.get("watch_since")
        }
        cap_usage = {  # what each cap's period has used so far (caps.<id>.period: year, life)
            key[4:]: CapUsage.model_validate(v.row)
            for key, v in self.notes.items()
            if key.startswith("cap:")
        }
        declared = frozenset(
            key[9:]
            for key, v in self.notes.items()
            if key.startswith("declared:") and v.row["declared"] and key[9:] in deal.triggers
        )
        incurred: dict[str, Decimal] = {}
        for day, fid, amount in self.expenses:
            if self.expenses_until is None or day > self.expenses_until:
                incurred[fid] = incurred.get(fid, ZERO) + amount
        ws = WaterfallState(
            payment_date=period.payment_date,
            period_index=period.index,
            interest_period_start=period.interest_period_start,
            interest_period_end=period.interest_period_end,
            accounts={aid: self._account(aid) for aid in deal.accounts},
            notes=notes,
            fees_incurred={fid: amount for fid, amount in sorted(incurred.items()) if amount},
            fees_unpaid=fees_unpaid,
            metrics=self._metrics(period),
            triggers=triggers,
            trigger_watch=watch,
            cap_usage=cap_usage,
            ratings=self.ratings,
            closing_date=self.closing_date,
            collection_period_end=period.collection_period_end,
            next_determination_date=next_determination,
            offered_receivables=self.offered.get(period.payment_date, ()),
        )
        unsplit = {
            item: amount - self.split.get(item, ZERO)
            for item, amount in sorted(self.collected_until_end.items())
            if amount - self.split.get(item, ZERO) > 0
        }
        elected = self.clean_up_elected_from is not None and (
            self.clean_up_elected_from <= period.payment_date
        )
        return DeterminationState(
            deal_id=deal.deal_id,
            waterfall=ws,
            declared=declared,
            collections_cash=self.balances.get(accounts.TRUST_COLLECTIONS, ZERO),
            unsplit_items=unsplit,
            note_originals=originals,
            pool_performing=self.balances.get(accounts.POOL_PRINCIPAL, ZERO),
            pool_defaulted=self.balances.get(accounts.POOL_DEFAULTED, ZERO),
            clean_up_elected=elected,
            clean_up_exercised=self.clean_up_exercised,
        )

    def mark_period_end(self, period: SchedulePeriod, light: bool = False) -> None:
        """Close ``period``: take its determinations and snapshot the collections by item."""
        self.close_period(period, light)
        self.collected_until_end = dict(self.collected)


_ITEM_TYPES = frozenset(
    {"CollectionReceived", "RecoveryReceived", "LoanRepurchased", "LoanDefaulted", "LoanBoarded"}
)
_DEAL_TYPES = frozenset(
    {
        "NotesIssued",
        "AdditionalReceivablesOffered",
        "CleanUpCallElected",
        "RatingChanged",
        "FigureReported",
        "ExpenseIncurred",
    }
)
