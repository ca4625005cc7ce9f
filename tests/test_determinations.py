"""The engine's determinations from events, each against a figure computed by hand (issue 13).

Each test boards a handful of loans into a seed deal file, posts their servicing events and
plans the payment dates (a dry run, so nothing is posted): the figures the cycle determined are
those its ``MetricsDetermined`` and ``FeeAccrued`` events record.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

from events.catalogue import CollectionReceived
from events.cycle import ExpenseIncurred
from events.envelope import NewEvent
from events.model import Event
from events.servicing import (
    CollectionsRemitted,
    LoanBoarded,
    LoanDefaulted,
    LoanDelinquencyReported,
    RecoveryReceived,
)
from ledger.cycle.acts import issue_notes
from ledger.cycle.walk import CycleResult, run_due
from ledger.servicing.deals import load_deal
from ledger.servicing.operator import reverse_event
from projections.store import ProjectedStore
from tests.helpers import TRUSTEE, posted_by

D = Decimal
DEALS = Path(__file__).resolve().parents[1] / "ledger" / "deals"


def deal_file(tmp: Path, src: str, replace: dict[str, str] | None = None) -> Path:
    """A seed deal file with some of its text replaced."""
    text = (DEALS / src).read_text(encoding="utf-8")
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp / src
    path.write_text(text, encoding="utf-8")
    return path


def post(store: ProjectedStore, deal_id: str, *events: tuple[dt.date, Event]) -> list[Any]:
    batch = [
        NewEvent.of(ev, deal_id=deal_id, stream_id=ev.default_stream(), effective_date=day,
                    idempotency_key=f"t:{i}:{type(ev).__name__}:{day}:{store.head(deal_id)}",
                    **posted_by(ev.type_name))
        for i, (day, ev) in enumerate(events)
    ]  # fmt: skip
    return list(store.append(batch).events)


def board(
    lid: str,
    principal: str,
    cut_off: dt.date,
    *,
    rate: str = "0.045",
    term: int = 36,
    maturity: dt.date | None = None,
    day: int = 15,
) -> tuple[dt.date, LoanBoarded]:
    ev = LoanBoarded(
        loan_id=lid, borrower_id=f"B-{lid}", origination_date=dt.date(2020, 6, 15),
        maturity_date=maturity or dt.date(cut_off.year + 3, cut_off.month, day),
        original_principal=D(principal), outstanding_principal=D(principal),
        interest_rate=D(rate), amortization="level_principal", payment_day=day,
        remaining_term_months=term, days_past_due=0, cut_off_date=cut_off,
    )  # fmt: skip
    return cut_off, ev


def values(results: list[CycleResult], event_type: str = "MetricsDetermined") -> list[Any]:
    """The planned events of ``event_type`` (their payloads; the values of MetricsDetermined)."""
    out = [e.data for r in results for e in r.events if e.type == event_type]
    return [d["values"] for d in out] if event_type == "MetricsDetermined" else out


# ------------------------------------------------------------------ seed 004: items 9 and 10


def test_byd_pool_balance_and_severe_delinquency_ratio(
    store: ProjectedStore, tmp_path: Path
) -> None:
    """Items 9 and 10 on seed 004 (audit §9 (d1), §10 (d)): a 10,000,000.00 pool of six loans.

    资产池余额 (L2899-2901, L2788) counts L2, defaulted on 2021-09-20 and not written off: 9.0m,
    8.2m, 7.5m at the three period ends (the performing pool alone: 8.8m, 8.05m, 7.35m). The
    严重拖欠率 A/(B-C) (L2853) divides the loans 61-90 days overdue by the initial pool less the
    principal collected before the period; L7, 95 days overdue and not yet defaulted, is not
    severe (L2851). Its 3-period average at PD 2021-12-27 is 1.3542%, below the 1.5% of
    acceleration (f): the performing-pool denominator would have given 1.5181% and accelerated.
    """
    path = deal_file(tmp_path, "004_byd_2021_2.yaml", {
        'value: "2353348391.45"': 'value: "10000000.00"',
        'amount: "1730000000.00"': 'amount: "8650000.00"',
        'amount: "270000000.00"': 'amount: "1350000.00"',
    })  # fmt: skip
    deal_id = load_deal(store, path).deal_id
    issue_notes(store, deal_id, who=TRUSTEE)  # 2021-09-15, the date the file assumes
    cut = dt.date(2021, 6, 18)
    sizes = {"L1": "6000000.00", "L2": "200000.00", "L3": "90000.00", "L4": "30000.00",
             "L5": "30000.00", "L6": "3610000.00", "L7": "40000.00"}  # fmt: skip
    post(store, deal_id, *(board(lid, amount, cut) for lid, amount in sizes.items()))

    def dpd(lid: str, day: dt.date, days: int) -> tuple[dt.date, Event]:
        return day, LoanDelinquencyReported(loan_id=lid, value_date=day, days_past_due=days)

    def paid(lid: str, day: dt.date, principal: str) -> tuple[dt.date, Event]:
        return day, CollectionReceived(loan_id=lid, value_date=day, principal=D(principal))

    sep, octo, nov = dt.date(2021, 9, 30), dt.date(2021, 10, 31), dt.date(2021, 11, 30)
    post(
        store, deal_id,
        paid("L1", dt.date(2021, 8, 15), "1000000.00"),
        (dt.date(2021, 9, 20), LoanDefaulted(loan_id="L2", value_date=dt.date(2021, 9, 20),
                                             principal=D("200000.00"))),
        dpd("L3", sep, 70), dpd("L4", sep, 30),
        paid("L1", dt.date(2021, 10, 15), "750000.00"),
        (dt.date(2021, 10, 15), RecoveryReceived(loan_id="L2", value_date=dt.date(2021, 10, 15),
                                                 principal=D("50000.00"))),
        dpd("L4", octo, 65),
        paid("L1", dt.date(2021, 11, 15), "700000.00"),
        dpd("L4", nov, 80), dpd("L5", nov, 61), dpd("L7", nov, 95),
    )  # fmt: skip
    results = run_due(store, deal_id, dt.date(2021, 12, 31), dry_run=True)
    got = values(results)
    assert [r.payment_date for r in results] == [
        dt.date(2021, 10, 26), dt.date(2021, 11, 26), dt.date(2021, 12, 27)
    ]  # fmt: skip
    # item 9: every loan in the pool at its OPB A - B - C
    assert [D(v["pool.outstanding_balance"]) for v in got] == [
        D("9000000.00"), D("8200000.00"), D("7500000.00")
    ]  # fmt: skip
    assert [D(v["pool.balance"]) for v in got] == [
        D("8800000.00"), D("8050000.00"), D("7350000.00")
    ]  # fmt: skip
    # item 10: A = 90,000 (L3) / 120,000 (L3, L4) / 150,000 (L3, L4, L5; not L7 at 95 days)
    assert [D(v["pool.delinquent_balance_61_90"]) for v in got] == [
        D("90000.00"), D("120000.00"), D("150000.00")
    ]  # fmt: skip
    # C = principal collected before the period: 0; 1,000,000; 1,000,000 + 750,000 + 50,000
    assert [D(v["pool.principal_collected_before_period"]) for v in got] == [
        D("0.00"), D("1000000.00"), D("1800000.00")
    ]  # fmt: skip
    # r = 0.009, 120,000/9,000,000 = 0.013333.., 150,000/8,200,000 = 0.018292682..; the
    # average of the periods so far (L2637): 0.009, 0.0111666.., 0.0135420054..
    avg3 = [D(v["pool.severe_delinquency_ratio_avg3"]).quantize(D("1E-10")) for v in got]
    assert avg3 == [D("0.0090000000"), D("0.0111666667"), D("0.0135420054")]
    acc_f = [e for e in values(results, "TriggerEvaluated")
             if e["trigger_id"] == "acc_f_severe_delinquency"]  # fmt: skip
    assert [x["breached"] for x in acc_f] == [False, False, False]
    # (the pool is accelerated all the same: L2's default is 2% of it, above the 1.5% of (e))
    acc_e = [e for e in values(results, "TriggerEvaluated")
             if e["trigger_id"] == "acc_e_cumulative_defaults"]  # fmt: skip
    assert [D(x["value"]) for x in acc_e] == [D("0.02")] * 3


# ------------------------------------------------------------------ seed 001: item 3


def test_driver_first_servicer_fee_base_is_the_adrb_at_the_monthly_period_start(
    store: ProjectedStore, tmp_path: Path
) -> None:
    """Item 3 (L20008-20014, L19520-19522): the Servicer Fee of PD 27 Dec 2021 is 1%/12 of the
    ADRB at the beginning of its Monthly Period (November 2021), i.e. at 31 Oct 2021, although
    the first collection period runs from the cut-off (30 Jun) to 30 Nov 2021.

    One 0% loan of 7,000.00 in seven instalments of 1,000.00 due on the 15th, July 2021 to
    January 2022, paid to October: at 31 Oct 3,000.00 is due on 15 Nov, 15 Dec and 15 Jan.
    With b = 1 + 5.1371%/12 its DRB is 1,000/b + 1,000/b² + 1,000/b³ = 2,974.4966 → 2,974.50
    (L18755-18771), so the fee is 2,974.50 × 0.01/12 = 2.47875 → 2.48 (on the principal boarded
    it would be 5.83; on the ADRB at the end of the collection period, 1,987.23, 1.66).
    """
    deal_id = load_deal(store, DEALS / "001_driver_china_13.yaml").deal_id
    issue_notes(store, deal_id, who=TRUSTEE)
    cut = dt.date(2021, 6, 30)
    post(store, deal_id, board("L1", "7000.00", cut, rate="0", term=7,
                               maturity=dt.date(2022, 1, 15)))  # fmt: skip
    post(
        store, deal_id,
        *((dt.date(2021, m, 15), CollectionReceived(loan_id="L1", value_date=dt.date(2021, m, 15),
                                                    principal=D("1000.00")))
          for m in range(7, 12)),
        (dt.date(2021, 12, 3), CollectionsRemitted(value_date=dt.date(2021, 12, 3),
                                                   amount=D("5000.00"))),
    )  # fmt: skip
    (result,) = run_due(store, deal_id, dt.date(2021, 12, 31), dry_run=True)
    (metrics,) = values([result])
    assert D(metrics["pool.adrb_start"]) == D("2974.50")
    # 30 Nov: 1,000/b + 1,000/b² = 995.7373 + 991.4928 = 1,987.2302 → 1,987.23
    assert D(metrics["pool.adrb"]) == D("1987.23")
    fee = [f for f in values([result], "FeeAccrued") if f["fee_id"] == "servicer_fee"]
    assert [D(f["due"]) for f in fee] == [D("2.48")]


# ------------------------------------------------------------------ seed 003: item 15


def test_wenhui_taxes_on_the_income_collections_of_the_period(
    store: ProjectedStore, tmp_path: Path
) -> None:
    """Item 15 (L228, L766): taxes are 3.26% of the period's 收入回收款. Collected in the first
    period (2024-01-02 .. 03-31): interest 1,200,000.00 + penalties 30,000.00 + recovered
    interest 4,567.89 = 1,234,567.89 (principal items excluded) → 40,246.913 → 40,246.91; with
    one 10,000.00 interest collection reversed, 1,224,567.89 → 39,920.91."""
    deal_id = load_deal(store, DEALS / "003_wenhui_2024_1.yaml").deal_id
    issue_notes(store, deal_id, who=TRUSTEE)
    cut = dt.date(2024, 1, 2)
    post(store, deal_id, board("L1", "5000000.00", cut), board("L2", "500000.00", cut))
    feb, mar = dt.date(2024, 2, 15), dt.date(2024, 3, 15)
    posted = post(
        store, deal_id,
        (feb, CollectionReceived(loan_id="L1", value_date=feb, principal=D("100000.00"),
                                 interest=D("1190000.00"), fees=D("30000.00"))),
        (feb, CollectionReceived(loan_id="L1", value_date=feb, interest=D("10000.00"))),
        (dt.date(2024, 2, 20), LoanDefaulted(loan_id="L2", value_date=dt.date(2024, 2, 20),
                                             principal=D("500000.00"))),
        (mar, RecoveryReceived(loan_id="L2", value_date=mar, principal=D("20000.00"),
                               interest=D("4567.89"))),
    )  # fmt: skip

    def taxes() -> Decimal:
        (first, *_) = run_due(store, deal_id, dt.date(2024, 4, 30), dry_run=True)
        (m,) = values([first])
        assert D(m["collected.income"]) == sum(
            (D(m[f"collections.{i}"]) for i in ("interest", "fees_penalties", "prepayment_fees",
                                                "repurchase_interest", "recovery_income")),
            D(0),
        )  # fmt: skip
        fee = [f for f in values([first], "FeeAccrued") if f["fee_id"] == "taxes"]
        return D(fee[0]["due"])

    assert taxes() == D("40246.91")
    reverse_event(store, deal_id, posted[1].event_id, "collected twice")
    assert taxes() == D("39920.91")


# ------------------------------------------------------------------ seed 002: collection.days


def test_xinrong_servicer_fee_accrues_over_the_collection_period_days(
    store: ProjectedStore, tmp_path: Path
) -> None:
    """Seed 002's servicer fee (rate × pool at the period start × days / 365, L246) was 0.00 on
    every date while ``collection.days`` was silently 0: the first collection period is
    2024-01-01 .. 05-31, 152 days; the second, June, 30. On a 10,000,000.00 pool at the assumed
    0.10%: 10,000,000.00 × 0.001 × 152/365 = 4,164.383.. → 4,164.38."""
    deal_id = load_deal(store, DEALS / "002_xinrong_2024_1.yaml").deal_id
    issue_notes(store, deal_id, who=TRUSTEE)
    post(store, deal_id, board("L1", "10000000.00", dt.date(2024, 1, 1)))
    results = run_due(store, deal_id, dt.date(2024, 7, 31), dry_run=True)
    got = values(results)
    assert [D(v["collection.days"]) for v in got] == [D(152), D(30)]
    fee = [f for f in values(results, "FeeAccrued") if f["fee_id"] == "servicer_fee"]
    assert D(fee[0]["accrued"]) == D("4164.38")


# ------------------------------------------------------------------ expenses incurred


def test_expenses_are_due_on_the_first_date_after_they_are_incurred(
    store: ProjectedStore, tmp_path: Path
) -> None:
    """An expense fee without an amount formula (seed 004 L982 reimbursable expenses, as
    invoiced) is due on the first payment date whose determination date is on or after the
    ``ExpenseIncurred``: 120,000.00 incurred on 2021-10-10 is due on PD 2021-10-26
    (determination date 2021-10-18), 30,000.00 incurred on 2021-10-20 on PD 2021-11-26."""
    deal_id = load_deal(store, DEALS / "004_byd_2021_2.yaml").deal_id
    issue_notes(store, deal_id, who=TRUSTEE)
    post(store, deal_id, board("L1", "1000000.00", dt.date(2021, 6, 18)))
    post(
        store, deal_id,
        (dt.date(2021, 10, 10), ExpenseIncurred(fee_id="trustee_expenses", amount=D("120000.00"))),
        (dt.date(2021, 10, 20), ExpenseIncurred(fee_id="trustee_expenses", amount=D("30000.00"))),
    )  # fmt: skip
    results = run_due(store, deal_id, dt.date(2021, 11, 30), dry_run=True)
    due = [
        [D(f["accrued"]) for f in values([r], "FeeAccrued") if f["fee_id"] == "trustee_expenses"]
        for r in results
    ]
    assert due == [[D("120000.00")], [D("30000.00")]]
