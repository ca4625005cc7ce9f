"""Remittance rules of the deal files as the calendar's rules, and the rule in force."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ledger.core.calendar.rules import (
    FrequentRemittanceMode,
    FrequentRemittanceRule,
    RemittanceBasis,
    RemittanceRule,
    schedule_period,
)
from ledger.cycle.schedule import business_calendar, date_rules
from ledger.deal import DealDefinition, DealValidationError, load_deal_text, validate_deal_file
from ledger.deal.remittance import calendar_rules, date_rules_remittance, remittance_rule_index
from ledger.waterfall import NoteState, WaterfallState
from ledger.waterfall.env import DealEnv
from tests.test_deal_schema import MINIMAL

DEALS = Path(__file__).resolve().parents[1] / "ledger" / "deals"


def deal(name: str) -> DealDefinition:
    return validate_deal_file(next(DEALS.glob(f"{name}_*.yaml")))


def receipt(days: int) -> FrequentRemittanceRule:
    return FrequentRemittanceRule(mode=FrequentRemittanceMode.PER_RECEIPT, business_days=days)


def test_every_seed_deal_maps_onto_the_calendar_rules() -> None:
    before_pd, after_calc = (
        RemittanceBasis.BEFORE_PAYMENT_DATE,
        RemittanceBasis.AFTER_CALCULATION_DATE,
    )
    assert calendar_rules(deal("000")) == (receipt(5),)
    # 001 L2548-2554: 6th BD before the PD; L2641-2653: within 3 BD of receipt
    assert calendar_rules(deal("001")) == (
        RemittanceRule(basis=before_pd, business_days=6),
        receipt(3),
    )
    # 002 L218: 7th BD before the PD "但不早于相应计算日"; below A-/BBB*: 8 BD after receipt
    assert calendar_rules(deal("002")) == (
        RemittanceRule(basis=before_pd, business_days=7, not_before_calculation_date=True),
        receipt(8),
    )
    # 003 L202: 5th BD after the calculation date; within 5 BD of each receipt after a downgrade
    assert calendar_rules(deal("003")) == (
        RemittanceRule(basis=after_calc, business_days=5),
        receipt(5),
    )
    # 004 L1760-1768: 6th BD after the calculation date, no later than the distribution date
    assert date_rules_remittance(deal("004")) == (
        RemittanceRule(basis=after_calc, business_days=6, not_after_determination_date=True),
        receipt(3),
    )


def test_xinrong_remittance_date_from_the_calendar() -> None:
    xinrong = deal("002")
    periodic, frequent = date_rules_remittance(xinrong)
    rules = date_rules(xinrong).model_copy(
        update={"remittance": periodic, "remittance_below_required_rating": frequent}
    )
    first = schedule_period(rules, business_calendar(), 1)
    # PD 2024-06-26 (Wed); 7 business days before: 06-17 (Mon) — 25, 24, 21, 20, 19, 18, 17 —
    # later than the calculation date 2024-05-31, so the floor does not bind
    assert first.payment_date == dt.date(2024, 6, 26)
    assert first.remittance_date == dt.date(2024, 6, 17)


def wenhui_env(wenhui: DealDefinition, downgraded: bool) -> DealEnv:
    state = WaterfallState(
        payment_date=dt.date(2024, 8, 26),
        period_index=5,
        interest_period_start=dt.date(2024, 7, 26),
        interest_period_end=dt.date(2024, 8, 26),
        notes={nid: NoteState(balance=n.amount) for nid, n in wenhui.notes.items()},
        triggers={"servicer_downgrade": downgraded},
    )
    return DealEnv(wenhui, state)


def test_downgrade_switch_waits_for_the_end_of_the_remittance_period() -> None:
    wenhui = deal("003")
    assert remittance_rule_index(wenhui, wenhui_env(wenhui, False)) == 0
    down = wenhui_env(wenhui, True)
    # L202, L278: "自该回收款转付期间届满之日起" — within the period the monthly rule stays
    assert remittance_rule_index(wenhui, down, current=0, at_period_end=False) == 0
    assert remittance_rule_index(wenhui, down, current=0, at_period_end=True) == 1
    assert remittance_rule_index(wenhui, down) == 1
    # 002's switch (L218) has no such delay
    xinrong = deal("002")
    state = WaterfallState(
        payment_date=dt.date(2024, 8, 26),
        period_index=3,
        interest_period_start=dt.date(2024, 7, 26),
        interest_period_end=dt.date(2024, 8, 26),
        notes={nid: NoteState(balance=n.amount) for nid, n in xinrong.notes.items()},
        triggers={"servicer_downgrade_sweep": True},
    )
    env = DealEnv(xinrong, state)
    assert remittance_rule_index(xinrong, env, current=0, at_period_end=False) == 1


@pytest.mark.parametrize(
    ("offset", "message"),
    [
        (
            "{business_days: 3, relative_to: collection_period_end}",
            "calendar.remittance[0].offset: a remittance is n > 0 business days after the "
            "calculation date or a receipt, or before the payment date; not 3 relative to "
            "collection_period_end",
        ),
        (
            "{business_days: 2, relative_to: receipt, not_earlier_than: calculation_date}",
            "calendar.remittance[0].offset: a per-receipt remittance has no "
            "calculation/determination bound",
        ),
        (
            "{business_days: 2, relative_to: receipt, not_earlier_than: payment_date}",
            "calendar.remittance[0].offset.not_earlier_than: Input should be 'calculation_date'",
        ),
    ],
)
def test_remittance_validation_errors(offset: str, message: str) -> None:
    text = MINIMAL.replace(
        "{offset: {business_days: 6, relative_to: calculation_date}", "{offset: " + offset
    )
    with pytest.raises(DealValidationError) as info:
        load_deal_text(text)
    assert str(info.value.problems[0]) == message
