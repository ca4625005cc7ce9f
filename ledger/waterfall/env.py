"""The evaluation environment of a deal's formulas: every name of :mod:`ledger.deal.names`.

Definitions (``defs.*``), targets (``targets.*``) and coupons (``notes.*.rate``) are formulas
themselves; :class:`DealEnv` evaluates them on first use, so a metric nobody reads need not be
supplied. Balances are read live from the running waterfall.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from decimal import Decimal

from ledger.core.expr import (
    ExprError,
    Value,
    evaluate,
    evaluate_bool,
    evaluate_number,
    rating_rank,
)
from ledger.deal.names import deal_dates, known_names
from ledger.deal.schema import DealDefinition
from ledger.waterfall.state import WaterfallState


class DealEnv(Mapping[str, Value]):
    """A read-only mapping of names to values for one deal, state and balance snapshot."""

    def __init__(
        self,
        deal: DealDefinition,
        state: WaterfallState,
        balances: Mapping[str, Decimal] | None = None,
        note_balances: Mapping[str, Decimal] | None = None,
        *,
        as_of: dt.date | None = None,
    ) -> None:
        self.deal = deal
        self.state = state
        self.as_of = as_of or state.payment_date
        self._values: dict[str, Value] = {}
        self._lazy: dict[str, str] = {}
        self._paths: dict[str, str] = {}
        self._missing: frozenset[str] = frozenset()
        self._cache: dict[str, Value] = {}
        self._busy: set[str] = set()
        self._fill(balances, note_balances)

    def _fill(
        self, balances: Mapping[str, Decimal] | None, note_balances: Mapping[str, Decimal] | None
    ) -> None:
        deal, state, v = self.deal, self.state, self._values
        for pid, param in deal.parameters.items():
            v[f"params.{pid}"] = param.value
        for aid, account in deal.accounts.items():
            opening = state.accounts.get(aid, Decimal("0.00"))
            v[f"accounts.{aid}.opening"] = opening
            v[f"accounts.{aid}.balance"] = opening if balances is None else balances[aid]
            if account.target is not None:
                self._lazy[f"targets.{aid}"] = account.target
                self._paths[f"targets.{aid}"] = f"accounts.{aid}.target"
        for nid, note in deal.notes.items():
            ns = state.notes.get(nid)
            opening = ns.balance if ns is not None else note.amount
            v[f"notes.{nid}.opening"] = opening
            v[f"notes.{nid}.balance"] = opening if note_balances is None else note_balances[nid]
            v[f"notes.{nid}.original"] = note.amount
            v[f"notes.{nid}.interest_shortfall"] = ns.interest_shortfall if ns else Decimal(0)
            if ns is not None and ns.rate is not None:
                v[f"notes.{nid}.rate"] = ns.rate
            elif note.coupon.rate is not None:
                self._lazy[f"notes.{nid}.rate"] = note.coupon.rate
                self._paths[f"notes.{nid}.rate"] = f"notes.{nid}.coupon.rate"
            if note.expected_maturity is not None:
                v[f"notes.{nid}.expected_maturity"] = note.expected_maturity
        for tid in deal.triggers:
            v[f"triggers.{tid}"] = state.triggers.get(tid, False)
        for did, definition in deal.definitions.items():
            self._lazy[f"defs.{did}"] = definition.formula
            self._paths[f"defs.{did}"] = f"definitions.{did}.formula"
        holders = state.role_holders if state.role_holders is not None else deal.roles()
        ratings = state.ratings
        if ratings is None:
            ratings = {pid: dict(p.ratings) for pid, p in deal.parties.items()}
        ordinals = {pid: i + 1 for i, pid in enumerate(deal.parties)}
        for pid in deal.parties:
            for agency in deal.agencies:
                v[f"ratings.{pid}.{agency}"] = rating_rank(ratings.get(pid, {}).get(agency))
        for role in deal.roles():
            holder = holders.get(role)
            v[f"roles.{role}"] = Decimal(ordinals.get(holder, 0) if holder else 0)
            for agency in deal.agencies:
                grade = ratings.get(holder, {}).get(agency) if holder else None
                v[f"ratings.{role}.{agency}"] = rating_rank(grade)
        v["period.days"] = Decimal((state.interest_period_end - state.interest_period_start).days)
        v["period.index"] = Decimal(state.period_index)
        v["period.payment_date"] = state.payment_date
        v["period.start"] = state.interest_period_start
        v["period.end"] = state.interest_period_end
        v["period.as_of"] = self.as_of
        if state.collection_period_end is not None:
            v["period.collection_end"] = state.collection_period_end
        if state.next_determination_date is not None:
            v["period.next_as_of"] = state.next_determination_date
        v.update(deal_dates(deal, state.closing_date))
        if deal.revolving_period is not None:
            v["period.revolving"] = (
                state.payment_date <= deal.revolving_period.last_payment_date
                and not any(state.triggers.get(tid, False) for tid in deal.revolving_end_triggers())
            )
        for name, value in state.metrics.items():
            v[name] = value
        # a known name without a value on this date (a determination the cycle could not take,
        # the closing date before the notes' issue): reading it is an error, never a default
        self._missing = known_names(deal) - v.keys() - self._lazy.keys()

    def __getitem__(self, name: str) -> Value:
        if name in self._values:
            return self._values[name]
        if name in self._cache:
            return self._cache[name]
        formula = self._lazy.get(name)
        if formula is None:
            if name in self._missing:
                raise ExprError(
                    f"{name} has no value on {self.state.payment_date} "
                    "(see its definition in docs/primitives.md)"
                )
            raise KeyError(name)
        if name in self._busy:
            raise ExprError(f"{name} refers to itself")
        self._busy.add(name)
        try:
            value = evaluate(formula, self)
        except ExprError as exc:
            raise ExprError(f"in {name}: {exc}", path=exc.path or self._paths[name]) from None
        finally:
            self._busy.discard(name)
        self._cache[name] = value
        return value

    def __contains__(self, name: object) -> bool:
        return name in self._values or name in self._lazy or name in self._missing

    def __iter__(self) -> Iterator[str]:
        yield from self._values
        yield from self._lazy

    def __len__(self) -> int:
        return len(self._values) + len(self._lazy)

    def number(self, formula: str, what: str) -> Decimal:
        """Evaluate a numeric formula, naming ``what`` (its YAML path) in any error."""
        try:
            return evaluate_number(formula, self)
        except ExprError as exc:
            raise ExprError(f"{what}: {exc}", path=exc.path or what) from None

    def condition(self, formula: str, what: str) -> bool:
        """Evaluate a condition, naming ``what`` (its YAML path) in any error."""
        try:
            return evaluate_bool(formula, self)
        except ExprError as exc:
            raise ExprError(f"{what}: {exc}", path=exc.path or what) from None
