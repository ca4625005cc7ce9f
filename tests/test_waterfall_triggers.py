"""Trigger evaluation on the BYD deal: threshold schedules, sticky and curable triggers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from ledger.deal import DealDefinition, validate_deal_file
from ledger.waterfall import NoteState, WaterfallState, select_mode
from ledger.waterfall.triggers import evaluate_trigger, evaluate_triggers, trigger_states

D = Decimal


@pytest.fixture(scope="module")
def byd() -> DealDefinition:
    return validate_deal_file(
        Path(__file__).resolve().parents[1] / "ledger/deals/004_byd_2021_2.yaml"
    )


EFFECTIVE = dt.date(2021, 9, 15)
"""The trust effective date assumed for seed 004 (L1737 gives none: assumed_closing_date)."""


def at(
    day: dt.date,
    triggers: dict[str, bool] | None = None,
    end: dt.date | None = None,
    closing: dt.date = EFFECTIVE,
    **metrics: str,
) -> WaterfallState:
    """The state of determination date ``day`` whose collection period ends on ``end``."""
    values: dict[str, Decimal | bool] = {
        "pool.cumulative_default_ratio": D("0"),
        "pool.severe_delinquency_ratio_avg3": D("0"),
    }
    values.update({k.replace("__", "."): D(v) for k, v in metrics.items()})
    return WaterfallState(
        payment_date=day,
        period_index=1,
        interest_period_start=day - dt.timedelta(days=30),
        interest_period_end=day,
        notes={"senior": NoteState(balance=D("1.00")), "sub": NoteState(balance=D("1.00"))},
        metrics=values,
        triggers=triggers or {},
        collection_period_end=end or day,
        closing_date=closing,
    )


def test_cumulative_default_threshold_schedule(byd: DealDefinition) -> None:
    # L2633-2635: above 1.5% in year 1, above 3.5% from year 2 (effective date 2021-09-15 assumed)
    year1 = evaluate_trigger(
        byd,
        "acc_e_cumulative_defaults",
        at(dt.date(2022, 6, 30), pool__cumulative_default_ratio="0.016"),
    )
    assert (year1.value, year1.threshold, year1.breached) == (D("0.016"), D("0.015"), True)
    year2 = evaluate_trigger(
        byd,
        "acc_e_cumulative_defaults",
        at(dt.date(2022, 12, 31), pool__cumulative_default_ratio="0.016"),
    )
    assert (year2.threshold, year2.breached, year2.in_effect) == (D("0.035"), False, False)
    # "超过" is strictly greater: exactly 1.5% does not breach
    equal = evaluate_trigger(
        byd,
        "acc_e_cumulative_defaults",
        at(dt.date(2022, 6, 30), pool__cumulative_default_ratio="0.015"),
    )
    assert not equal.breached


def test_cumulative_default_year_counts_collection_period_ends_from_the_effective_date(
    byd: DealDefinition,
) -> None:
    """Issue 13 item 11 (seed 004 L2633-2635 "在信托生效日后任一收款期间结束时"): the threshold
    year is that of the collection period's end from the trust effective date, not of the
    determination date. Effective 2021-09-15: the period ending 2022-08-31 (PD 2022-09-26,
    determination date 2022-09-16) is in year 1 (1.5%), the one ending 2022-09-30 in year 2."""
    cdr = "0.016"
    aug = evaluate_trigger(
        byd,
        "acc_e_cumulative_defaults",
        at(dt.date(2022, 9, 16), end=dt.date(2022, 8, 31), pool__cumulative_default_ratio=cdr),
        as_of=dt.date(2022, 9, 16),
    )
    assert (aug.threshold, aug.breached, aug.in_effect) == (D("0.015"), True, True)
    sep = evaluate_trigger(
        byd,
        "acc_e_cumulative_defaults",
        at(dt.date(2022, 10, 18), end=dt.date(2022, 9, 30), pool__cumulative_default_ratio=cdr),
    )
    assert (sep.threshold, sep.breached) == (D("0.035"), False)
    # an effective date of 2021-06-19 (the cut-off + 1 day the demo used to assume) ends year 1
    # with the period ending 2022-05-31
    early = dt.date(2021, 6, 19)
    june = evaluate_trigger(
        byd,
        "acc_e_cumulative_defaults",
        at(dt.date(2022, 7, 18), end=dt.date(2022, 6, 30), closing=early,
           pool__cumulative_default_ratio=cdr),
    )  # fmt: skip
    assert (june.threshold, june.breached) == (D("0.035"), False)


def test_sticky_trigger_stays_in_effect(byd: DealDefinition) -> None:
    state = at(dt.date(2022, 12, 31), {"acc_e_cumulative_defaults": True})
    outcome = evaluate_trigger(byd, "acc_e_cumulative_defaults", state)
    assert not outcome.breached and outcome.in_effect and outcome.was_in_effect


def test_severe_delinquency_acceleration_is_curable(byd: DealDefinition) -> None:
    tid = "acc_f_severe_delinquency"
    hit = evaluate_trigger(
        byd, tid, at(dt.date(2022, 3, 31), pool__severe_delinquency_ratio_avg3="0.0151")
    )
    assert hit.in_effect
    before = {tid: True}
    # exactly at the threshold: no longer breached, but not "below" it either (L2650) → stays
    still = evaluate_trigger(
        byd, tid, at(dt.date(2022, 4, 30), before, pool__severe_delinquency_ratio_avg3="0.015")
    )
    assert not still.breached and still.in_effect
    cured = evaluate_trigger(
        byd, tid, at(dt.date(2022, 5, 31), before, pool__severe_delinquency_ratio_avg3="0.0149")
    )
    assert not cured.in_effect


def test_declared_and_rating_triggers_drive_the_mode(byd: DealDefinition) -> None:
    state = at(dt.date(2022, 3, 31))
    outcomes = evaluate_triggers(byd, state, declared={"event_of_default"})
    states = trigger_states(outcomes)
    assert states["event_of_default"] and not states["acc_declared"]
    # the assumed servicer ratings (CCXI AA-, CBR A-) meet the required A+/A- (L2465-2468)
    assert not states["servicer_downgrade"]
    assert select_mode(byd, state.model_copy(update={"triggers": states})) == "post_default"
    downgraded = state.model_copy(update={"ratings": {"byd_af": {"CCXI": "A", "CBR": "A-"}}})
    assert evaluate_trigger(byd, "servicer_downgrade", downgraded).in_effect
