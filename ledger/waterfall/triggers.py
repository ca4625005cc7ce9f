"""Trigger tests: the metric against its threshold (or schedule), stickiness and cure.

The scheduler calls :func:`evaluate_triggers` at each period end and records a
``TriggerEvaluated`` event per trigger with the inputs and result; the trigger states then feed
:func:`ledger.waterfall.select_mode`. Formulas see the trigger states *before* this evaluation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Set
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from ledger.core.expr import ExprError
from ledger.core.money import Rate
from ledger.deal.schema import DealDefinition, Trigger
from ledger.waterfall.engine import WaterfallError, formula_failure
from ledger.waterfall.env import DealEnv
from ledger.waterfall.state import TriggerWatch, WaterfallState


class TriggerOutcome(BaseModel):
    """One trigger's evaluation: inputs, whether the test failed now, whether it is in effect."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trigger_id: str
    clause: str
    as_of: dt.date
    value: Rate | None
    threshold: Rate | None
    breached: bool
    in_effect: bool
    was_in_effect: bool
    watch: TriggerWatch | None = None
    """A change waiting out the trigger's breach or cure window: the next state's
    ``trigger_watch[trigger_id]`` (``None``: nothing pending)."""


def threshold_on(trigger: Trigger, as_of: dt.date) -> str:
    """The threshold formula that applies on ``as_of`` (from a schedule if there is one)."""
    return _threshold(trigger, as_of)[0]


def _threshold(trigger: Trigger, as_of: dt.date) -> tuple[str, str]:
    """The threshold formula that applies on ``as_of`` and its path under the trigger."""
    if trigger.threshold is not None:
        return trigger.threshold, "threshold"
    for i, step in enumerate(trigger.threshold_schedule or ()):
        if (step.from_date is None or step.from_date <= as_of) and (
            step.until_date is None or as_of <= step.until_date
        ):
            return step.threshold, f"threshold_schedule[{i}].threshold"
    raise WaterfallError(f"no threshold of the schedule applies on {as_of}")


def _compare(value: Decimal, op: str, threshold: Decimal) -> bool:
    if op == ">":
        return value > threshold
    if op == ">=":
        return value >= threshold
    if op == "<":
        return value < threshold
    return value <= threshold


def evaluate_trigger(
    deal: DealDefinition,
    trigger_id: str,
    state: WaterfallState,
    *,
    declared: bool = False,
    as_of: dt.date | None = None,
) -> TriggerOutcome:
    """Evaluate one trigger; ``state.triggers`` holds the states before this evaluation and
    ``declared`` says whether an event declared it (for ``declared: true`` triggers)."""
    trigger = deal.triggers[trigger_id]
    day = as_of or state.payment_date
    was = state.triggers.get(trigger_id, False)
    env = DealEnv(deal, state, as_of=day)
    value: Decimal | None = None
    threshold: Decimal | None = None
    where = f"triggers.{trigger_id}"
    try:
        if trigger.metric is not None:
            value = env.number(trigger.metric, f"{where}.metric")
            formula, path = _threshold(trigger, day)
            threshold = env.number(formula, f"{where}.{path}")
            breached = _compare(value, trigger.comparison, threshold)
        elif trigger.condition is not None:
            breached = env.condition(trigger.condition, f"{where}.condition")
        else:
            breached = declared
        if not was:
            change = breached
            days, count = trigger.breach_days, trigger.breach_evaluations
        elif trigger.sticky:
            change, days, count = False, None, None
        else:
            cured = not breached
            if cured and trigger.cure is not None:
                cured = env.condition(trigger.cure, f"{where}.cure")
            change, days, count = cured, trigger.cure_days, trigger.cure_evaluations
    except ExprError as exc:
        raise formula_failure(where, exc) from None
    watch: TriggerWatch | None = None
    if change:
        before = state.trigger_watch.get(trigger_id)
        if before is not None and before.since <= day:
            watch = TriggerWatch(since=before.since, evaluations=before.evaluations + 1)
        else:
            watch = TriggerWatch(since=day)
        if (days is None or (day - watch.since).days >= days) and (
            count is None or watch.evaluations >= count
        ):
            watch = None  # the window has passed: the change takes effect
        else:
            change = False
    in_effect = was != change
    return TriggerOutcome(
        trigger_id=trigger_id,
        clause=trigger.clause,
        as_of=day,
        value=value,
        threshold=threshold,
        breached=breached,
        in_effect=in_effect,
        was_in_effect=was,
        watch=watch,
    )


def evaluate_triggers(
    deal: DealDefinition,
    state: WaterfallState,
    declared: Set[str] = frozenset(),
    as_of: dt.date | None = None,
) -> dict[str, TriggerOutcome]:
    """Evaluate every trigger of the deal (in file order)."""
    return {
        tid: evaluate_trigger(deal, tid, state, declared=tid in declared, as_of=as_of)
        for tid in deal.triggers
    }


def trigger_states(outcomes: Mapping[str, TriggerOutcome]) -> dict[str, bool]:
    """The ``triggers`` mapping for the next :class:`WaterfallState`."""
    return {tid: o.in_effect for tid, o in outcomes.items()}


def trigger_watches(outcomes: Mapping[str, TriggerOutcome]) -> dict[str, TriggerWatch]:
    """The ``trigger_watch`` mapping for the next :class:`WaterfallState`."""
    return {tid: o.watch for tid, o in outcomes.items() if o.watch is not None}


def clean_up_call_available(deal: DealDefinition, state: WaterfallState) -> bool:
    """Whether the clean-up call condition holds (seed 004 L781; seed 001 L18472-18490)."""
    if deal.clean_up_call is None:
        return False
    try:
        env = DealEnv(deal, state)
        return env.condition(deal.clean_up_call.condition, "clean_up_call.condition")
    except ExprError as exc:
        raise formula_failure("clean_up_call.condition", exc) from None
