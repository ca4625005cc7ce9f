"""The cumulative default ratio by the deal's own definition (issue 4 item 5): principal-based for
seeds 000 and 002-004, Driver China Thirteen's Cumulative Gross Loss Ratio on Discounted
Receivables Balances (seed 001 L18684-18696), with figures worked by hand; both backends."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from events.envelope import NewEvent
from events.model import Event
from events.servicing import LoanBoarded, LoanDefaulted
from ledger.core.expr import ExprError
from ledger.deal import validate_deal_file
from ledger.deal.loader import load_deal_text
from ledger.deal.pool_rules import (
    GROSS_LOSS_METRIC,
    PRINCIPAL_DEFAULT_RATIO,
    default_ratio_rule,
)
from ledger.simulation.demo import scaled_deal_text
from projections.pool import pool_periods
from projections.store import ProjectedStore
from tests.test_boarding import DEALS

D = Decimal
DC13 = "driver_china_13"
CUT = date(2021, 6, 30)  # the Initial Cut-Off Date (001_driver_china_13.yaml calendar)
_keys = iter(range(1, 1_000_000))


def test_each_deal_file_says_which_definition_applies() -> None:
    rule = default_ratio_rule(validate_deal_file(DEALS / "001_driver_china_13.yaml"))
    assert rule.metric == GROSS_LOSS_METRIC and rule.basis == "discounted"
    assert rule.drb is not None and rule.drb.rate == D("0.051371")  # seed 001 L18753
    # seed 001 L17772-17778: the ADRB as of the Initial Cut-Off Date, "being RMB 8,000,082,110.39"
    assert rule.initial_base == D("8000082110.39")
    assert rule.initial_cut_off == CUT
    assert "L18684-18696" in rule.clause
    for other in (
        "000_weshare_lease_abn",
        "002_xinrong_2024_1",
        "003_wenhui_2024_1",
        "004_byd_2021_2",
    ):
        assert default_ratio_rule(validate_deal_file(DEALS / f"{other}.yaml")) == (
            PRINCIPAL_DEFAULT_RATIO
        )


def test_a_gross_loss_ratio_needs_the_discount_rate_and_the_cut_off_adrb() -> None:
    deal = validate_deal_file(DEALS / "001_driver_china_13.yaml")
    params = {k: v for k, v in deal.parameters.items() if k != "cut_off_adrb"}
    with pytest.raises(ExprError, match="no parameter cut_off_adrb"):
        default_ratio_rule(deal.model_copy(update={"parameters": params}))


def _new(ev: Event, when: date) -> NewEvent:
    return NewEvent.of(
        ev,
        deal_id=DC13,
        stream_id=ev.default_stream(),
        effective_date=when,
        idempotency_key=f"k{next(_keys)}",
    )


def _boarded(
    loan: str,
    principal: str,
    rate: str,
    term: int,
    maturity: date,
    cut: date,
    effective: date | None = None,
) -> NewEvent:
    return _new(
        LoanBoarded(
            loan_id=loan,
            borrower_id=f"B{loan}",
            origination_date=date(2020, 1, 15),
            maturity_date=maturity,
            original_principal=D("5000.00"),
            outstanding_principal=D(principal),
            interest_rate=D(rate),
            amortization="level_principal",
            payment_day=15,
            remaining_term_months=term,
            days_past_due=0,
            cut_off_date=cut,
        ),
        effective or cut,
    )


def test_driver_china_thirteen_ratio_on_discounted_receivables_balances(
    store: ProjectedStore,
) -> None:
    """Worked by hand. Seed 001 L18684-18696: CGLR = Σ DRB of all Defaulted Receivables from the
    Cut-Off Date through the end of the Monthly Period / Aggregate Cut-Off Date DRB; DRB = the
    scheduled principal and interest discounted at 5.1371% p.a., 30/360 (L18753-18771), one
    period of 5.1371%/12 a month (ledger/core/amortisation.py): b = 1 + 0.051371/12 =
    1.00428091666...

    The deal is scaled to a pool of ADRB 3,600.00 (the demo's rule, on the discounted basis,
    L17772-17778), so ``params.cut_off_adrb`` = 3,600.00.

    * A: 1,200.00 at 6%, level principal, 3 instalments on the 15th (Jul, Aug, Sep 2021), defaults
      on 31 Jul 2021 with 1,200.00 outstanding (July's instalment unpaid). At default two
      instalments are still to fall due, the contract's Aug 400.00 + 4.00 interest (800 × 6%/12)
      = 404.00 and Sep 400.00 + 2.00 = 402.00, scaled by balance / scheduled balance
      1,200.00 / 800.00 (the deal's ``modification: proportional``, ledger/core/discounting.py):
      (404/b + 402/b²) × 1.5 = 800.8580.. × 1.5 = 1,201.287.. → 1,201.29 (for level principal
      this is the 1,200.00 re-amortised: 606/b + 603/b²).
    * B: 2,400.00 performing: in neither the numerator nor (beyond the fixed ADRB) the denominator.
    * C: an Additional Receivable with its own cut-off, 30 Nov 2021 (bought on the December PD,
      boarded from 1 Dec): 1,000.00 at 0%, two instalments of 500.00 (15 Dec 2021, 15 Jan
      2022): DRB = 500/b + 500/b² = 993.62, added to the denominator from December, the month
      after its cut-off ("and any Additional Cut-Off Date", L17772-17778; the CGLR of November,
      evaluated for the December PD before the purchase, does not count it).

    July: 1,201.29 / 3,600.00 = 0.3336916667; December: 1,201.29 / (3,600.00 + 993.62) =
    0.2615127068 (10 decimals, as the cycle's trigger). The principal-based ratio would be
    1,200.00 / 3,600.00 = 0.3333333333 and 1,200.00 / 4,600.00.
    """
    text, _, scaled = scaled_deal_text(
        (DEALS / "001_driver_china_13.yaml").read_text(encoding="utf-8"),
        D("3600.00"),
        pool_adrb=D("3600.00"),
    )
    assert "cut_off_adrb" in scaled
    deal = load_deal_text(text, "dc13-scaled.yaml")
    rule = default_ratio_rule(deal)
    assert rule.initial_base == D("3600.00")

    store.append(
        [
            _boarded("A", "1200.00", "0.06", 3, date(2021, 9, 15), CUT),
            _boarded("B", "2400.00", "0.06", 24, date(2023, 6, 15), CUT),
        ]
    )
    default = LoanDefaulted(loan_id="A", value_date=date(2021, 7, 31), principal=D("1200.00"))
    store.append([_new(default, date(2021, 7, 31))])
    store.append(
        [_boarded("C", "1000.00", "0", 2, date(2022, 1, 15), date(2021, 11, 30), date(2021, 12, 1))]
    )

    b = 1 + D("0.051371") / 12
    drb_a = ((D("404.00") / b + D("402.00") / b**2) * D("1200.00") / D("800.00")).quantize(
        D("0.01")
    )
    drb_c = (D("500.00") / b + D("500.00") / b**2).quantize(D("0.01"))
    assert (drb_a, drb_c) == (D("1201.29"), D("993.62"))

    june, july, december = pool_periods(store, DC13, deal)
    assert [p.period for p in (june, july, december)] == ["2021-06", "2021-07", "2021-12"]
    assert (june.default_ratio_numerator, june.default_ratio_denominator) == (D(0), D("3600.00"))
    assert june.cumulative_default_ratio == 0
    assert (july.default_ratio_numerator, july.default_ratio_denominator) == (
        D("1201.29"),
        D("3600.00"),
    )
    assert july.cumulative_default_ratio == D("0.3336916667")
    assert (december.default_ratio_numerator, december.default_ratio_denominator) == (
        D("1201.29"),
        D("4593.62"),
    )
    assert december.cumulative_default_ratio == D("0.2615127068")
    assert december.cumulative_defaults == D("1200.00")  # the principal figures stay as they were

    plain = pool_periods(store, DC13)  # no deal: the principal-based definition
    assert [p.cumulative_default_ratio for p in plain] == [
        D("0"),
        D("0.3333333333"),
        D("0.2608695652"),  # 1,200.00 / 4,600.00
    ]
    assert [p.default_ratio_denominator for p in plain] == [
        D("3600.00"),
        D("3600.00"),
        D("4600.00"),
    ]
