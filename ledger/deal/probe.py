"""Every formula of a deal evaluated once on a synthetic state, at load (issue 13, part A).

The static checks (:mod:`ledger.deal.checks`) know each name and kind; they cannot know that
``x / 0`` divides by zero, that ``dates.closing + months(1000000000000000)`` leaves the calendar,
or that a parameter makes a denominator zero. :func:`probe` therefore evaluates each formula on a
plausible payment date of the deal: parameters, fixed dates, ratings and roles as the file has
them; every figure that changes from date to date a distinct non-zero value of its unit (amounts
in CNY, ratios, day counts), no trigger in effect. Where a condition depends on such a figure,
both branches are evaluated, so a failure on the path a first payment date does not take is
found too; a condition on parameters and fixed dates takes its real branch only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from decimal import Decimal

from ledger.core.expr import ExprError, Kind, Value, evaluate, rating_rank
from ledger.deal.checks import Problem, checked_formulas
from ledger.deal.names import CLEAN_UP_NAMES, PURCHASE_NAMES, deal_names, loan_names
from ledger.deal.primitives import family_of
from ledger.deal.schema import DealDefinition

_FIXED = ("params.", "dates.", "ratings.", "roles.")
"""Names whose value the file fixes: a condition on them takes its real branch only."""


_NOTE_AMOUNTS = ("balance", "opening", "original")


def _varies(name: str) -> bool:
    return not (
        name.startswith(_FIXED)
        or name.endswith((".original", ".expected_maturity"))
    )  # fmt: skip


class _Synthetic(Mapping[str, Value]):
    """Names → synthetic values; formulas of the file (defs, targets, coupons, formula
    metrics) evaluated on first use."""

    def __init__(self, deal: DealDefinition) -> None:
        self.fixed: dict[str, Value] = {}
        self.lazy: dict[str, str] = {}
        self.cache: dict[str, Value] = {}
        self.busy: set[str] = set()
        kinds: dict[str, Kind] = {
            **deal_names(deal, plan=True),
            **CLEAN_UP_NAMES,
            **PURCHASE_NAMES,
            **loan_names(deal),
        }
        c = deal.calendar
        closing = c.closing_date or c.assumed_closing_date or c.cut_off_date + dt.timedelta(1)
        as_of = c.first_payment_date - dt.timedelta(days=9)
        dates = {
            "dates.cut_off": c.cut_off_date,
            "dates.first_payment": c.first_payment_date,
            "dates.closing": closing,
            "period.payment_date": c.first_payment_date,
            "period.start": closing,
            "period.end": c.first_payment_date,
            "period.as_of": as_of,
            "period.collection_end": c.first_calculation_date,
            "period.next_as_of": as_of + dt.timedelta(days=30),
        }
        if deal.revolving_period is not None:
            dates["dates.revolving_end"] = deal.revolving_period.last_payment_date
        ordinals = {pid: i + 1 for i, pid in enumerate(deal.parties)}
        roles = deal.roles()
        for k, (name, kind) in enumerate(sorted(kinds.items())):
            if name.startswith("params."):
                self.fixed[name] = deal.parameters[name[7:]].value
            elif name in dates:
                self.fixed[name] = dates[name]
            elif name.startswith("ratings."):
                _, holder, agency = name.split(".")
                party = deal.parties.get(roles.get(holder) or holder, None)
                grade = party.ratings.get(agency) if party is not None else None
                self.fixed[name] = rating_rank(grade)
            elif name.startswith("roles."):
                party_id = roles.get(name[6:])
                self.fixed[name] = Decimal(ordinals.get(party_id, 0) if party_id else 0)
            elif name.startswith("notes.") and name.endswith(".expected_maturity"):
                note = deal.notes[name.split(".")[1]]
                assert note.expected_maturity is not None
                self.fixed[name] = note.expected_maturity
            elif name.startswith("notes.") and name.split(".")[2] in _NOTE_AMOUNTS:
                self.fixed[name] = deal.notes[name.split(".")[1]].amount
            elif kind == "bool":
                self.fixed[name] = name == "period.revolving"
            elif kind == "date":
                self.fixed[name] = c.first_payment_date
            else:
                self.fixed[name] = _number(name, k)
        for aid, account in deal.accounts.items():
            if account.target is not None:
                self.lazy[f"targets.{aid}"] = account.target
        for nid, note in deal.notes.items():
            if note.coupon.rate is not None:
                self.lazy[f"notes.{nid}.rate"] = note.coupon.rate
        for did, definition in deal.definitions.items():
            self.lazy[f"defs.{did}"] = definition.formula
        for metric, decl in deal.metrics.items():
            if decl.formula is not None:
                self.lazy[metric] = decl.formula
        for name in self.lazy:
            self.fixed.pop(name, None)

    def __getitem__(self, name: str) -> Value:
        if name in self.fixed:
            return self.fixed[name]
        if name in self.cache:
            return self.cache[name]
        if name in self.busy:
            raise ExprError(f"{name} refers to itself")
        self.busy.add(name)
        try:
            value = evaluate(self.lazy[name], self)
        except ExprError as exc:
            raise ExprError(f"in {name}: {exc}") from None
        finally:
            self.busy.discard(name)
        self.cache[name] = value
        return value

    def __contains__(self, name: object) -> bool:
        return name in self.fixed or name in self.lazy

    def __iter__(self) -> Iterator[str]:
        yield from self.fixed
        yield from self.lazy

    def __len__(self) -> int:
        return len(self.fixed) + len(self.lazy)


def _number(name: str, k: int) -> Decimal:
    """A distinct non-zero value in the unit the name is in."""
    family = family_of(name)
    unit = family.unit if family is not None else "CNY"
    if name.startswith("period.index"):
        return Decimal(2)
    if unit == "days" or name == "period.days":
        return Decimal(31)
    if unit in ("ratio", "per annum"):
        return Decimal("0.0123") + Decimal(k) / 10000
    return Decimal(1_000_003 * (k + 7)) + Decimal("0.37")


def probe(deal: DealDefinition) -> list[Problem]:
    """Every formula of ``deal`` that fails on the synthetic state, with its YAML path."""
    env = _Synthetic(deal)
    problems: list[Problem] = []
    for path, text, _, _ in checked_formulas(deal):
        try:
            evaluate(text, env, explore=_varies)
        except ExprError as exc:
            problems.append(Problem(path, f"fails when evaluated on a synthetic state: {exc}"))
    return problems
