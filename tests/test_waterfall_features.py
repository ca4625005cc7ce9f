"""Deal-definition features added after the five seed files: revolving purchases with pool-level
criteria, cap periods, the revolving period's end date, date values in formulas and cure windows.

Each feature is run on a toy deal (the minimal file of ``test_deal_schema``) with exact figures,
and its validation errors are checked with their YAML paths.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from ledger.core.journal import apply_entries, trial_balance
from ledger.deal import DealDefinition, DealValidationError, load_deal_text
from ledger.deal.names import metric_kind
from ledger.deal.pool_rules import eligibility_failures
from ledger.waterfall import (
    CapUsage,
    NoteState,
    TriggerWatch,
    WaterfallState,
    run_waterfall,
)
from ledger.waterfall.engine import WaterfallError, cap_period_start
from ledger.waterfall.triggers import evaluate_trigger
from tests.test_deal_schema import MINIMAL

D = Decimal


def problems_of(text: str) -> list[str]:
    with pytest.raises(DealValidationError) as info:
        load_deal_text(text, "deal.yaml")
    return [str(p) for p in info.value.problems]


def toy_state(deal: DealDefinition, **kw: Any) -> WaterfallState:
    metrics: dict[str, Decimal | bool] = {
        name: (False if metric_kind(deal, name) == "bool" else D(0)) for name in deal.metrics
    }
    metrics.update(kw.pop("metrics", {}))
    fields: dict[str, Any] = {
        "payment_date": dt.date(2021, 10, 26),
        "period_index": 1,
        "interest_period_start": dt.date(2021, 10, 26),
        "interest_period_end": dt.date(2021, 10, 26),  # no interest accrues
        "notes": {"A": NoteState(balance=D("100.00"))},
        "metrics": metrics,
    }
    fields.update(kw)
    return WaterfallState(**fields)


# --- purchase step ---------------------------------------------------------------------------

PURCHASE = MINIMAL.replace(
    "  pool.balance: {description: pool}\n",
    "  pool.balance: {description: pool}\n"
    "  pool.wac: {description: pool WAC}\n"
    "  revolving.offered_balance: {description: offered}\n"
    "  revolving.offered_wac: {description: offered WAC}\n",
).replace(
    "    - {id: s1, kind: pay_fees",
    "    - {id: buy, kind: purchase, from: cash, seller: originator,\n"
    "       offered: revolving.offered_balance,\n"
    '       price: "0.983", record_balance_in: [{ledger: pdl}], clause: c}\n'
    "    - {id: s1, kind: pay_fees",
) + (
    "eligibility:\n"
    "  - {id: wac, text: WAC at least 8% after purchase, level: pool, applies_to: [revolving],\n"
    '     test: "(pool.wac * pool.balance + revolving.offered_wac * purchase.balance)'
    ' / (pool.balance + purchase.balance) >= 8%", clause: c}\n'
)


def test_purchase_buys_the_largest_fen_balance_the_cash_pays_for() -> None:
    deal = load_deal_text(PURCHASE)
    state = toy_state(
        deal,
        accounts={"cash": D("1000.00")},
        metrics={
            "revolving.offered_balance": D("2000.00"),
            "revolving.offered_wac": D("0.09"),
            "pool.wac": D("0.09"),
            "pool.balance": D("5000.00"),
        },
    )
    result = run_waterfall(deal, state)
    # offered 2,000.00 × 0.983 = 1,966.00 due; 1,000.00 / 0.983 = 1,017.293.. → 1,017.29 costs
    # 1,017.29 × 0.983 = 999.99607 → 1,000.00 (half-up); 1,017.30 would cost 1,000.0059 → 1,000.01
    (line,) = result.lines("buy")
    assert (line.due, line.paid, line.failed_tests) == (D("1966.00"), D("1000.00"), ())
    assert line.destination == "payable:party:originator"
    (bought,) = result.purchases
    assert (bought.offered, bought.balance, bought.price) == (
        D("2000.00"),
        D("1017.29"),
        D("1000.00"),
    )
    assert result.closing_accounts["cash"] == D("0.00")
    assert result.closing_accounts["pdl"] == D("1017.29")  # the balance bought, not the price
    assert trial_balance(apply_entries({}, result.entries)) == 0


def test_purchase_blocked_when_a_pool_criterion_fails_after_it() -> None:
    deal = load_deal_text(PURCHASE)
    state = toy_state(
        deal,
        accounts={"cash": D("1000.00")},
        metrics={
            "revolving.offered_balance": D("300.00"),
            "revolving.offered_wac": D("0.08"),
            "pool.balance": D("1"),
        },
    )
    result = run_waterfall(deal, state)
    # 300.00 × 0.983 = 294.90; WAC after (0 × 1 + 0.08 × 300.00) / 301.00 = 0.0797.. < 8%: fails
    (line,) = result.lines("buy")
    assert (line.due, line.paid, line.failed_tests) == (D("294.90"), D("0.00"), ("wac",))
    assert result.purchases[0].balance == 0
    state = state.model_copy(update={"metrics": {**state.metrics, "pool.wac": D("0.08")}})
    result = run_waterfall(deal, state)
    # (0.08 × 1 + 0.08 × 300.00) / 301.00 = 0.08 exactly: passes (>=)
    assert result.paid("buy") == D("294.90")
    assert result.purchases[0].balance == D("300.00")


def test_loan_eligibility_ignores_pool_criteria() -> None:
    deal = load_deal_text(PURCHASE)
    assert eligibility_failures(deal, {}, "revolving") == []


def test_purchase_validation_errors_have_yaml_paths() -> None:
    text = PURCHASE.replace("seller: originator", "seller: buyer").replace(
        "record_balance_in: [{ledger: pdl}]", "record_balance_in: [{ledger: cash}]"
    )
    assert problems_of(text) == [
        "waterfalls.normal[0].seller: unknown role 'buyer' (no party holds it, not vacant)",
        "waterfalls.normal[0].record_balance_in[0].ledger: account 'cash' is a cash, "
        "expected ledger",
    ]
    text = PURCHASE.replace(
        "revolving.offered_wac * purchase.balance", "loan.rate * purchase.balance"
    )
    text = text.replace("applies_to: [revolving]", "applies_to: [boarding]")
    assert problems_of(text) == [
        "eligibility[0].test: unknown name 'loan.rate' at column 28 (not offered by this deal: "
        "see docs/primitives.md)",
        "eligibility[0].applies_to: a pool-level criterion is checked after a revolving "
        "purchase: applies_to must include revolving",
    ]
    text = MINIMAL + (
        "eligibility:\n"
        "  - {id: x, text: t, test: purchase.balance > 0, applies_to: [revolving], clause: c}\n"
    )
    assert problems_of(text) == [
        "eligibility[0].test: unknown name 'purchase.balance' at column 1 (not offered by this "
        "deal: see docs/primitives.md)"
    ]


# --- cap periods -----------------------------------------------------------------------------

CAPPED = MINIMAL.replace(
    "fees:\n",
    "caps:\n"
    '  c: {amount: "1000.00", period: year, period_start: 2021-03-15, clause: c}\n'
    "fees:\n"
    "  exp: {payee: trustee, kind: expense, cap: c, clause: c}\n",
).replace(
    "    - {id: s1, kind: pay_fees",
    "    - {id: within, kind: pay_fees, from: cash, fees: [exp], portion: within_cap, clause: c}\n"
    "    - {id: above, kind: pay_fees, from: cash, fees: [exp], portion: above_cap, clause: c}\n"
    "    - {id: s1, kind: pay_fees",
)


def capped_run(text: str, day: dt.date, usage: dict[str, Any]) -> Any:
    deal = load_deal_text(text)
    state = toy_state(
        deal,
        payment_date=day,
        interest_period_start=day,
        interest_period_end=day,
        accounts={"cash": D("10000.00")},
        fees_incurred={"exp": D("500.00")},
        cap_usage=usage,
    )
    return run_waterfall(deal, state)


def test_yearly_cap_counts_what_the_year_used() -> None:
    used = {"c": CapUsage(period_start=dt.date(2021, 3, 15), used=D("700.00"))}
    # trust year 2021-03-15 .. 2022-03-14: 1,000.00 − 700.00 = 300.00 left of the 500.00 due
    result = capped_run(CAPPED, dt.date(2021, 10, 26), used)
    assert (result.paid("within"), result.paid("above")) == (D("300.00"), D("200.00"))
    assert result.cap_usage == {"c": CapUsage(period_start=dt.date(2021, 3, 15), used=D("1000.00"))}
    # still the same trust year on 2022-03-14: the 1,000.00 used leaves nothing
    result = capped_run(CAPPED, dt.date(2022, 3, 14), result.cap_usage)
    assert (result.paid("within"), result.paid("above")) == (D("0.00"), D("500.00"))
    # 2022-03-28 falls in the next trust year (from 2022-03-15): the cap is fresh
    result = capped_run(CAPPED, dt.date(2022, 3, 28), used)
    assert (result.paid("within"), result.paid("above")) == (D("500.00"), D("0.00"))
    assert result.cap_usage["c"] == CapUsage(period_start=dt.date(2022, 3, 15), used=D("500.00"))


def test_per_payment_date_and_life_caps() -> None:
    per_date = CAPPED.replace("period: year, period_start: 2021-03-15", "period: payment_date")
    stale = {"c": CapUsage(period_start=dt.date(2021, 9, 26), used=D("900.00"))}
    result = capped_run(per_date, dt.date(2021, 10, 26), stale)
    # a per-date cap starts afresh on every payment date: 500.00 ≤ 1,000.00
    assert (result.paid("within"), result.paid("above")) == (D("500.00"), D("0.00"))
    assert result.cap_usage["c"] == CapUsage(period_start=dt.date(2021, 10, 26), used=D("500.00"))
    life = CAPPED.replace("period: year, period_start: 2021-03-15", "period: life")
    used = {"c": CapUsage(period_start=None, used=D("900.00"))}
    # over the life of the deal 1,000.00 − 900.00 = 100.00 is left
    result = capped_run(life, dt.date(2031, 10, 27), used)
    assert (result.paid("within"), result.paid("above")) == (D("100.00"), D("400.00"))
    assert result.cap_usage["c"] == CapUsage(period_start=None, used=D("1000.00"))


def test_cap_year_from_29_february_and_the_closing_date() -> None:
    deal = load_deal_text(CAPPED.replace("period_start: 2021-03-15", "period_start: 2024-02-29"))
    assert cap_period_start(deal, "c", dt.date(2025, 2, 27)) == dt.date(2024, 2, 29)
    assert cap_period_start(deal, "c", dt.date(2025, 2, 28)) == dt.date(2025, 2, 28)
    assert cap_period_start(deal, "c", dt.date(2028, 3, 1)) == dt.date(2028, 2, 29)
    closing = CAPPED.replace(", period_start: 2021-03-15", "").replace(
        "  cut_off_date: 2021-06-18\n", "  cut_off_date: 2021-06-18\n  closing_date: 2021-08-20\n"
    )
    deal = load_deal_text(closing)
    assert cap_period_start(deal, "c", dt.date(2022, 8, 19)) == dt.date(2021, 8, 20)
    assert cap_period_start(deal, "c", dt.date(2022, 8, 20)) == dt.date(2022, 8, 20)


def test_cap_period_validation_errors() -> None:
    assert problems_of(CAPPED.replace(", period_start: 2021-03-15", "")) == [
        "caps.c.period_start: a yearly cap needs period_start (the calendar has no closing_date)"
    ]
    assert problems_of(CAPPED.replace("period: year", "period: life")) == [
        "caps.c: period_start is for a yearly cap (period: year)"
    ]
    assert problems_of(CAPPED.replace("period: year", "period: month")) == [
        "caps.c.period: Input should be 'payment_date', 'year' or 'life'"
    ]


# --- revolving period ------------------------------------------------------------------------

REVOLVING = (
    MINIMAL.replace(
        "default_mode: normal\n",
        "triggers:\n"
        "  stop: {description: s, declared: true, clause: c,\n"
        "         consequences: [{kind: end_revolving, description: d}]}\n"
        "  other: {description: o, declared: true, clause: c}\n"
        "modes:\n"
        "  - {mode: revolving, when: period.revolving, clause: c}\n"
        "default_mode: normal\n",
    ).replace(
        "waterfalls:\n",
        "waterfalls:\n  revolving:\n    - {id: r1, kind: pay, from: cash, payee: originator,"
        " clause: c}\n",
    )
    + "revolving_period: {last_payment_date: 2021-12-27, clause: c}\n"
)


def test_revolving_period_to_its_last_payment_date_or_an_ending_trigger() -> None:
    deal = load_deal_text(REVOLVING)
    assert deal.revolving_end_triggers() == ("stop",)

    def mode(day: dt.date, **triggers: bool) -> str:
        result = run_waterfall(deal, toy_state(deal, payment_date=day, triggers=triggers))
        return result.mode

    assert mode(dt.date(2021, 12, 27)) == "revolving"  # the last payment date is included
    assert mode(dt.date(2022, 1, 26)) == "normal"
    assert mode(dt.date(2021, 11, 26), stop=True) == "normal"  # ended early
    assert mode(dt.date(2021, 11, 26), other=True) == "revolving"
    listed = load_deal_text(
        REVOLVING.replace("27, clause: c}", "27, ended_by: [other], clause: c}")
    )
    assert listed.revolving_end_triggers() == ("other",)
    state = toy_state(listed, payment_date=dt.date(2021, 11, 26), triggers={"other": True})
    assert run_waterfall(listed, state).mode == "normal"


def test_revolving_period_validation_errors() -> None:
    text = REVOLVING.replace("27, clause: c}", "27, ended_by: [stop, nope], clause: c}")
    assert problems_of(text) == ["revolving_period.ended_by[1]: unknown trigger 'nope'"]
    no_period = REVOLVING.replace(
        "revolving_period: {last_payment_date: 2021-12-27, clause: c}\n", ""
    )
    assert problems_of(no_period) == [
        "modes[0].when: unknown name 'period.revolving' at column 1 (not offered by this deal: "
        "see docs/primitives.md)"
    ]


# --- dates in formulas -----------------------------------------------------------------------

DATED = MINIMAL.replace(
    "    - {id: s5, kind: pay, from: cash, payee: originator, clause: c}",
    '    - {id: s5, kind: pay, from: cash, payee: originator, amount: "5.00",\n'
    '       when: "period.payment_date >= dates.first_payment + months(1)", clause: c}',
).replace(
    "default_mode: normal\n",
    "triggers:\n"
    "  late: {description: l, clause: c, sticky: false,\n"
    '         condition: "period.as_of - dates.cut_off > 365"}\n'
    "default_mode: normal\n",
)


def test_dates_in_step_conditions_and_triggers() -> None:
    deal = load_deal_text(DATED)

    def paid(day: dt.date) -> Decimal:
        state = toy_state(deal, payment_date=day, accounts={"cash": D("200.00")})
        return run_waterfall(deal, state).paid("s5")

    # 200.00 less the fee 1.00 and note A 100.00 leaves 99.00; s5 pays 5.00 from the first
    # payment date 2021-10-26 + 1 month = 2021-11-26
    assert paid(dt.date(2021, 11, 25)) == 0
    assert paid(dt.date(2021, 11, 26)) == D("5.00")
    # cut-off 2021-06-18: 2022-06-18 is 365 days later, 2022-06-19 is 366
    state = toy_state(deal)
    assert not evaluate_trigger(deal, "late", state, as_of=dt.date(2022, 6, 18)).in_effect
    assert evaluate_trigger(deal, "late", state, as_of=dt.date(2022, 6, 19)).in_effect


def test_date_names_and_kinds_are_validated() -> None:
    # dates.closing is always a name; without a closing date in the file it has a value only
    # once the notes' issue gives one (the cycle's state), and reading it before fails
    closing = load_deal_text(DATED.replace("dates.first_payment", "dates.closing"))
    early = toy_state(closing, payment_date=dt.date(2021, 12, 27), accounts={"cash": D("200")})
    with pytest.raises(WaterfallError, match=r"dates\.closing has no value on 2021-12-27"):
        run_waterfall(closing, early)
    issued = early.model_copy(update={"closing_date": dt.date(2021, 10, 1)})
    assert run_waterfall(closing, issued).paid("s5") == D("5.00")
    assert problems_of(DATED.replace('amount: "5.00"', "amount: period.payment_date")) == [
        "waterfalls.normal[4].amount: formula gives a date where a number is needed at column 1"
    ]
    assert problems_of(
        MINIMAL.replace(
            "pool.balance: {description: pool}", "pool.balance: {kind: date, description: p}"
        )
    ) == ["metrics.pool.balance.kind: Input should be 'number' or 'bool'"]
    assert problems_of(
        MINIMAL.replace(
            "pool.balance: {description: pool}\n",
            "pool.balance: {description: pool}\n  dates.x: {description: x}\n",
        )
    ) == ["metrics.dates.x: not an engine primitive (docs/primitives.md) and no formula"]
    assert problems_of(
        MINIMAL.replace(
            "pool.balance: {description: pool}\n",
            "pool.balance: {description: pool}\n  dates.x: {formula: '1', description: x}\n",
        )
    ) == [
        "metrics.dates.x: metric name is reserved or malformed (a formula cannot reuse a name "
        "of docs/primitives.md)"
    ]


# --- breach and cure windows -----------------------------------------------------------------

WINDOWED = MINIMAL.replace(
    "default_mode: normal\n",
    "triggers:\n"
    "  slow: {description: s, clause: c, condition: pool.balance > 100, sticky: false,\n"
    "         breach_days: 30, cure_evaluations: 2}\n"
    "  count: {description: n, clause: c, declared: true, breach_evaluations: 3}\n"
    "default_mode: normal\n",
)


def evaluations(
    deal: DealDefinition, tid: str, steps: list[tuple[dt.date, bool | str]]
) -> list[tuple[bool, TriggerWatch | None]]:
    """Evaluate ``tid`` on each (date, declared or pool balance), feeding state and watch on."""
    out = []
    was, watch = False, None
    for day, value in steps:
        metrics = {"pool.balance": D(value)} if isinstance(value, str) else {}
        state = toy_state(
            deal,
            payment_date=day,
            metrics=metrics,
            triggers={tid: was},
            trigger_watch={tid: watch} if watch else {},
        )
        outcome = evaluate_trigger(deal, tid, state, declared=value is True)
        was, watch = outcome.in_effect, outcome.watch
        out.append((was, watch))
    return out


def test_breach_days_and_cure_evaluations() -> None:
    deal = load_deal_text(WINDOWED)
    first = dt.date(2022, 1, 10)
    got = evaluations(
        deal,
        "slow",
        [
            (first, "101"),  # fails: the 30 days start (0 days)
            (dt.date(2022, 2, 8), "101"),  # 29 days: not yet
            (dt.date(2022, 2, 9), "101"),  # 30 days: fires
            (dt.date(2022, 3, 9), "100"),  # cured once: still in effect (2 evaluations needed)
            (dt.date(2022, 4, 9), "101"),  # fails again: the cure count restarts
            (dt.date(2022, 5, 9), "100"),
            (dt.date(2022, 6, 9), "100"),  # cured on 2 consecutive evaluations: lifted
        ],
    )
    assert got == [
        (False, TriggerWatch(since=first, evaluations=1)),
        (False, TriggerWatch(since=first, evaluations=2)),
        (True, None),
        (True, TriggerWatch(since=dt.date(2022, 3, 9), evaluations=1)),
        (True, None),
        (True, TriggerWatch(since=dt.date(2022, 5, 9), evaluations=1)),
        (False, None),
    ]


def test_breach_evaluations_restart_when_the_test_passes() -> None:
    deal = load_deal_text(WINDOWED)
    days = [dt.date(2022, m, 26) for m in range(1, 8)]
    got = evaluations(
        deal, "count", list(zip(days, [True, True, False, True, True, True, False], strict=True))
    )
    assert [in_effect for in_effect, _ in got] == [False, False, False, False, False, True, True]
    assert got[4][1] == TriggerWatch(since=days[3], evaluations=2)


def test_window_validation_errors() -> None:
    assert problems_of(WINDOWED.replace("sticky: false,", "sticky: true,")) == [
        "triggers.slow: a sticky trigger cannot have a cure window"
    ]
    assert problems_of(WINDOWED.replace("breach_days: 30", "breach_days: 0")) == [
        "triggers.slow.breach_days: Input should be greater than or equal to 1"
    ]
