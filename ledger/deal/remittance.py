"""A deal's servicer remittance rules as the calendar's (SPEC §3: "remittance date rule (changes
with servicer rating)").

The deal file lists ``calendar.remittance`` rules, the first whose ``when`` holds applying. This
module maps each onto :mod:`ledger.core.calendar.rules` — a once-a-period
:class:`~ledger.core.calendar.rules.RemittanceRule` (n business days after the calculation date or
before the payment date, floored at the calculation date, capped at the determination date) or
a :class:`~ledger.core.calendar.rules.FrequentRemittanceRule` (within n business days of each
receipt)
— and picks the rule in force, where a switch marked ``takes_effect: end_of_remittance_period``
waits for the end of the current remittance period (seed 003 L202).
"""

from __future__ import annotations

from collections.abc import Mapping

from ledger.core.calendar.rules import (
    FrequentRemittanceMode,
    FrequentRemittanceRule,
    RemittanceBasis,
)
from ledger.core.calendar.rules import RemittanceRule as CalendarRemittanceRule
from ledger.core.expr import ExprError, Value, evaluate_bool
from ledger.deal.schema import DealDefinition
from ledger.deal.schema import RemittanceRule as DealRemittanceRule

CalendarRule = CalendarRemittanceRule | FrequentRemittanceRule


def calendar_rule(rule: DealRemittanceRule) -> CalendarRule:
    """The calendar's form of one deal remittance rule; ``ValueError`` when it has none."""
    o = rule.offset
    floor = o.not_earlier_than == "calculation_date"
    cap = o.not_later_than == "determination_date"
    if o.relative_to == "receipt" and o.business_days > 0:
        if floor or cap:
            raise ValueError("a per-receipt remittance has no calculation/determination bound")
        return FrequentRemittanceRule(
            mode=FrequentRemittanceMode.PER_RECEIPT, business_days=o.business_days
        )
    if o.relative_to == "calculation_date" and o.business_days > 0:
        basis = RemittanceBasis.AFTER_CALCULATION_DATE
        days = o.business_days
    elif o.relative_to == "payment_date" and o.business_days < 0:
        basis = RemittanceBasis.BEFORE_PAYMENT_DATE
        days = -o.business_days
    else:
        raise ValueError(
            "a remittance is n > 0 business days after the calculation date or a receipt, or "
            f"before the payment date; not {o.business_days} relative to {o.relative_to}"
        )
    return CalendarRemittanceRule(
        basis=basis,
        business_days=days,
        not_before_calculation_date=floor,
        not_after_determination_date=cap,
    )


def calendar_rules(deal: DealDefinition) -> tuple[CalendarRule, ...]:
    """Every ``calendar.remittance`` rule of the deal in the calendar's form, in file order."""
    return tuple(calendar_rule(rule) for rule in deal.calendar.remittance)


def remittance_rule_index(
    deal: DealDefinition,
    env: Mapping[str, Value],
    *,
    current: int | None = None,
    at_period_end: bool = True,
) -> int:
    """Index in ``calendar.remittance`` of the rule in force.

    The first rule whose ``when`` holds (a rule without one always holds), unless that is a
    switch away from ``current`` (the rule in force so far) to a rule with ``takes_effect:
    end_of_remittance_period`` and the current remittance period has not ended
    (``at_period_end`` false): then ``current`` stays in force. ``env`` holds the deal's names
    (e.g. :class:`ledger.waterfall.env.DealEnv`).
    """
    rules = deal.calendar.remittance
    chosen: int | None = None
    for i, rule in enumerate(rules):
        try:
            if rule.when is None or evaluate_bool(rule.when, env):
                chosen = i
                break
        except ExprError as exc:
            raise ExprError(f"calendar.remittance[{i}].when: {exc}") from None
    if chosen is None:
        raise ExprError("no calendar.remittance rule holds (give the last one no 'when')")
    if (
        current is not None
        and chosen != current
        and rules[chosen].takes_effect == "end_of_remittance_period"
        and not at_period_end
    ):
        return current
    return chosen


def date_rules_remittance(
    deal: DealDefinition,
) -> tuple[CalendarRemittanceRule | None, FrequentRemittanceRule | None]:
    """The first once-a-period rule and the first per-receipt rule of the deal: the
    ``remittance`` and ``remittance_below_required_rating`` of
    :class:`ledger.core.calendar.rules.DateRules`."""
    rules = calendar_rules(deal)
    periodic = next((r for r in rules if isinstance(r, CalendarRemittanceRule)), None)
    frequent = next((r for r in rules if isinstance(r, FrequentRemittanceRule)), None)
    return periodic, frequent
