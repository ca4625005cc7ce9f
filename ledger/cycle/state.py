"""The trust at a determination date, folded from the events (issue 5 item 3, the shell's input).

* :func:`date_rules` adapts a deal file's :class:`~ledger.deal.schema.CalendarRules` to the
  calendar's :class:`~ledger.calendar.DateRules`, and :func:`deal_schedule` generates the payment
  dates (PRC business days with 调休).
* :class:`CycleFolder` folds a deal's events **in effective-date order** (chain order within a
  date) — balances (every posting), loans (:mod:`projections.loans`), notes and triggers
  (:mod:`projections.notes`), collections by collection-split item, defaults — and snapshots the
  pool at each collection period end. :meth:`CycleFolder.state` then gives the pure
  :class:`DeterminationState` that :func:`ledger.cycle.plan_cycle` plans from.

Period rule: servicing events belong to the collection period of their effective date; cash is
available to a payment date when remitted (``trust:collections``) by its determination date.
Metrics are computed for the names the deal file declares (others are zero / false):

* ``pool.balance`` — performing principal (``pool:principal``) at the period end;
  ``pool.balance_period_start`` — at the previous period end (the cut-off pool for period 1);
* ``pool.defaults_recent_period`` / ``pool.defaults_prior_periods`` — principal at default in the
  period / before it (seed 004 L986 terms a and b); ``pool.cumulative_defaults`` their sum;
* ``pool.cumulative_default_ratio`` — cumulative defaults / principal boarded (seed 004 L2670);
* ``pool.severe_delinquency_ratio_avg3`` — average over the last three period ends of the
  balance of loans more than 60 days past due / pool balance (seed 004 L2636, L2853; the 60-day
  line is our reading of 严重拖欠);
* ``pool.clean_up_price`` — performing + defaulted principal outstanding (the "fair market value"
  of seed 004 L2696 is agreed outside the ledger; principal is assumed);
* seed 001: ``pool.adrb`` (the Aggregate Discounted Receivables Balance by the deal's one DRB
  definition, its ``discounted_balance`` block, :func:`ledger.core.discounting.aggregate_drb`,
  L18755-18771), ``pool.adrb_start``, ``pool.class_a_actual_oc`` (L18101-18115, after the
  preceding payment date), ``pool.cumulative_gross_loss_ratio`` (Σ DRB of the defaulted loans
  at default / (cut-off ADRB + DRB of Additional Receivables), L18684-18696, L17772-17778: the
  pool report's own figure, :func:`projections.pool.discounted_ratio_parts`),
  ``pool.clean_up_settlement_amount`` (= ADRB, L18507-18531);
* revolving purchases: ``pool.additional_receivables_drb`` (seed 001, L17709-17723) and
  ``revolving.purchase_opb`` / ``revolving.purchase_wac`` (seed 002, L196-200) are the balance
  and rate of an :class:`~events.cycle.AdditionalReceivablesOffered` for the payment date
  (effective by its determination date), zero without one; ``pool.wac`` is the performing pool's
  balance-weighted loan rate at the period end.
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
from ledger.core.calendar import (
    SchedulePeriod,
)
from ledger.core.discounting import aggregate_drb
from ledger.core.money import ZERO
from ledger.cycle.schedule import CycleError
from ledger.deal.pool_rules import default_ratio_rule
from ledger.deal.schema import DealDefinition
from ledger.waterfall import NoteState, TriggerWatch, WaterfallState, posting_account
from projections.balances import BalancesProjection
from projections.base import State
from projections.loans import LoanProjection
from projections.notes import NotesProjection
from projections.pool import discounted_ratio_parts

_RATIO = Decimal("0.0000000001")


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
class _PeriodEnd:
    end: dt.date
    pool_balance: Decimal
    cum_defaults: Decimal
    severe_ratio: Decimal
    adrb: Decimal | None
    wac: Decimal = ZERO
    gross_loss_ratio: Decimal | None = None
    """Seed 001's discounted Cumulative Gross Loss Ratio (deals that define it)."""


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
    period_ends: list[_PeriodEnd] = field(default_factory=list)
    clean_up_elected_from: dt.date | None = None
    clean_up_exercised: bool = False
    collected_until_end: dict[str, Decimal] = field(default_factory=dict)
    """Items collected up to the latest closed period end (set by :meth:`mark_period_end`)."""
    offers: dict[dt.date, tuple[Decimal, Decimal | None]] = field(default_factory=dict)
    """Additional receivables offered per payment date: (balance, weighted average rate)."""
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
        elif kind == "EventReversed":
            original = ev.data.get("reversed_type")
            if original in _ITEM_TYPES:
                self._collect(str(original), dict(ev.data.get("reversed_data") or {}), -1)
        elif kind == "CollectionPeriodClosed":
            for item, amount in ev.data["items"].items():
                self.split[item] = self.split.get(item, ZERO) + _d(amount)
        elif kind == "CleanUpCallExercised":
            self.clean_up_exercised = True
            self.split["cleanup_principal"] = self.split.get("cleanup_principal", ZERO) + _d(
                ev.data["price"]
            )
        elif kind == "NotesIssued":
            self.closing_date = dt.date.fromisoformat(ev.data["closing_date"])
            for n in ev.data["notes"]:
                self.note_originals[n["note_id"]] = _d(n["amount"])
        elif kind == "AdditionalReceivablesOffered":
            wac = ev.data.get("weighted_average_rate")
            pd = dt.date.fromisoformat(ev.data["payment_date"])
            self.offers[pd] = (_d(ev.data["balance"]), None if wac is None else _d(wac))
            self.offered[pd] = tuple(
                OfferedReceivable.model_validate(r) for r in ev.data.get("receivables", ())
            )
        elif kind == "CleanUpCallElected":
            self.clean_up_elected_from = dt.date.fromisoformat(ev.data["from_payment_date"])

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

    def close_period(self, period: SchedulePeriod, light: bool = False) -> None:
        """Snapshot the pool at ``period``'s collection period end (call once all events up to
        that date are fed and none after); ``light`` skips the loan-level figures (for periods
        no cycle to be planned looks back to)."""
        pool = self.balances.get(accounts.POOL_PRINCIPAL, ZERO)
        severe = ZERO
        weighted = ZERO
        for v in () if light else self.loans.values():
            row = v.row
            if row["status"] == "delinquent" and int(row["dpd"]) > 60:
                severe += _d(row["balance"])
            if row["status"] in ("performing", "delinquent") and "rate" in row:
                weighted += _d(row["balance"]) * _d(row["rate"])
        ratio = (severe / pool).quantize(_RATIO) if pool > 0 else ZERO
        adrb: Decimal | None = None
        conv = self.deal.drb_convention()
        if conv is not None and not light:
            end = period.collection_period_end
            adrb = aggregate_drb((v.row for v in self.loans.values()), end, conv)
        wac = (weighted / pool).quantize(_RATIO) if pool > 0 else ZERO
        gross_loss: Decimal | None = None
        rule = default_ratio_rule(self.deal)
        if rule.basis == "discounted" and not light:
            rows = (v.row for v in self.loans.values())
            numerator, denominator = discounted_ratio_parts(
                rows, rule, period.collection_period_end
            )
            gross_loss = self._ratio(numerator, denominator)
        self.period_ends.append(
            _PeriodEnd(
                period.collection_period_end, pool, self.cum_defaults, ratio, adrb, wac, gross_loss
            )
        )

    # --- the state -------------------------------------------------------------------------

    def _metrics(self, period: SchedulePeriod, notes: Mapping[str, NoteState]) -> dict[str, Any]:
        ends = self.period_ends
        if not ends or ends[-1].end != period.collection_period_end:
            raise CycleError(f"period ending {period.collection_period_end} was not closed")
        now = ends[-1]
        before = ends[-2] if len(ends) > 1 else None
        prior = before.cum_defaults if before else ZERO
        defaulted = self.balances.get(accounts.POOL_DEFAULTED, ZERO)
        last3 = [e.severe_ratio for e in ends[-3:]]
        known: dict[str, Any] = {
            "pool.balance": now.pool_balance,
            "pool.balance_period_start": before.pool_balance if before else self.boarded,
            "pool.defaults_recent_period": now.cum_defaults - prior,
            "pool.defaults_prior_periods": prior,
            "pool.cumulative_defaults": now.cum_defaults,
            "pool.cumulative_default_ratio": self._ratio(now.cum_defaults, self.boarded),
            "pool.severe_delinquency_ratio_avg3": (sum(last3, ZERO) / len(last3)).quantize(_RATIO),
            "pool.clean_up_price": now.pool_balance + defaulted,
            "pool.cumulative_gross_loss_ratio": now.gross_loss_ratio
            if now.gross_loss_ratio is not None
            else self._ratio(now.cum_defaults, self.boarded),
            "pool.wac": now.wac,
        }
        offer = self.offers.get(period.payment_date)
        if offer is not None:
            known["pool.additional_receivables_drb"] = offer[0]
            known["revolving.purchase_opb"] = offer[0]
            if offer[1] is not None:
                known["revolving.purchase_wac"] = offer[1]
        if now.adrb is not None:
            start = before.adrb if before and before.adrb is not None else self.boarded
            accumulation = (
                self._account("accumulation") if "accumulation" in self.deal.accounts else ZERO
            )
            class_a = notes["class_a"].balance if "class_a" in notes else ZERO
            base = now.adrb + accumulation
            known.update({
                "pool.adrb": now.adrb,
                "pool.adrb_start": start,
                "pool.class_a_actual_oc": (1 - class_a / base).quantize(_RATIO) if base else ZERO,
                "pool.clean_up_settlement_amount": now.adrb,
            })  # fmt: skip
        out: dict[str, Any] = {}
        for name, decl in self.deal.metrics.items():
            out[name] = known.get(name, False if decl.kind == "bool" else ZERO)
        return out

    @staticmethod
    def _ratio(a: Decimal, b: Decimal) -> Decimal:
        return (a / b).quantize(_RATIO) if b > 0 else ZERO

    def _account(self, aid: str) -> Decimal:
        return self.balances.get(posting_account(self.deal, aid), ZERO)

    def state(self, period: SchedulePeriod) -> DeterminationState:
        """The trust at ``period``'s determination date (events up to it fed, period closed)."""
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
        ws = WaterfallState(
            payment_date=period.payment_date,
            period_index=period.index,
            interest_period_start=period.interest_period_start,
            interest_period_end=period.interest_period_end,
            accounts={aid: self._account(aid) for aid in deal.accounts},
            notes=notes,
            fees_unpaid=fees_unpaid,
            metrics=self._metrics(period, notes),
            triggers=triggers,
            trigger_watch=watch,
            cap_usage=cap_usage,
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
        """Close ``period``: snapshot the pool and the collections by item."""
        self.close_period(period, light)
        self.collected_until_end = dict(self.collected)


_ITEM_TYPES = frozenset(
    {"CollectionReceived", "RecoveryReceived", "LoanRepurchased", "LoanDefaulted", "LoanBoarded"}
)
