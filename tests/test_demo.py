"""The demo end to end on a small pool, on both backends: it boards, services, runs payment dates
(with a trigger breach and a mode switch), verifies and writes its files."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from ledger.core.discounting import DrbConvention, boarding_drb
from ledger.core.money import round_fen
from ledger.reports import render, servicer_report, trustee_report
from ledger.servicing.tape_parse import read_boarding_tape
from ledger.simulation.demo import DemoResult, run_demo, scaled_deal_text, write_reports
from projections.store import ProjectedStore


def test_demo_runs_payment_dates_through_a_breach_and_verifies(
    store: ProjectedStore, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = run_demo(store, "001", loans=300, months=12, stress_month=6, out_dir=out)
    assert result.verified, result.problems
    assert len(result.months) == 12
    modes = [c["mode"] for c in result.cycles]
    assert modes[0] == "revolving" and "amortising" in modes  # the mode switched
    fired = {k for c in result.cycles for k, v in c["triggers"].items() if v["in_effect"]}
    assert fired, "a trigger must be breached"
    summary = json.loads((out / "demo-summary.json").read_text(encoding="utf-8"))
    assert summary["verified"] and len(summary["payment_dates"]) == len(result.cycles)
    assert (out / "tapes" / "boarding.csv").is_file()
    assert (out / "deal-driver_china_13.yaml").is_file()
    reports = sorted((out / "reports").iterdir())
    days = [c["payment_date"] for c in result.cycles]
    names = {p.name for p in reports}
    for day in days:  # both reports of every payment date, in every format
        assert {f"trustee-{day}.{fmt}" for fmt in ("html", "json", "csv", "xlsx")} <= names
    assert len([n for n in names if n.startswith("servicer-")]) == 4 * len(days)
    assert len(reports) == 8 * len(days)
    first = {p.name: p.read_bytes() for p in reports}
    # the reports are built from the events alone: written again, the same bytes
    write_reports(store, result.deal_id, out)
    assert {p.name: p.read_bytes() for p in sorted((out / "reports").iterdir())} == first
    # ... and the demo's shared fold gives the files a report built on its own gives
    for day in (days[0], days[len(days) // 2], days[-1]):
        alone = trustee_report(store, result.deal_id, dt.date.fromisoformat(day))
        assert first[f"trustee-{day}.xlsx"] == render(alone, "xlsx")
        end = alone.section("deal").get("collection_period_end")
        assert isinstance(end, dt.date)
        served = servicer_report(store, result.deal_id, end)
        assert first[f"servicer-{end}.json"] == render(served, "json")
    html = (out / "reports" / f"trustee-{days[-1]}.html").read_text("utf-8")
    assert html.count("<svg") == 4 and "Cumulative default ratio vs trigger" in html
    last = json.loads((out / "reports" / f"trustee-{days[-1]}.json").read_text("utf-8"))
    assert last["sections"]["deal"]["data"]["waterfall_mode"] == result.cycles[-1]["mode"]
    notes = {n["note_id"]: n for n in last["sections"]["notes"]["data"]}
    assert (
        notes["class_a"]["balance_after"] == result.cycles[-1]["notes"]["note:class_a"]["balance"]
    )
    # Driver's ratio is the Cumulative Gross Loss Ratio on DRBs (seed 001 L18684-18696): the
    # report's pool figure is the one the CE-increase trigger was evaluated on
    ratio = last["sections"]["cumulative_default"]["data"]
    assert ratio[0]["measure"] == f"pool: {result.default_ratio}"
    assert result.default_ratio.startswith("Cumulative Gross Loss Ratio: Σ DRB")
    ce = next(r for r in ratio if "eae_f_ce_increase" in r["measure"])
    assert Decimal(ce["ratio"]) == Decimal(ratio[0]["ratio"])
    # note balances never rise and never go negative from one payment date to the next
    balances = [Decimal(c["notes"]["note:class_a"]["balance"]) for c in result.cycles]
    assert all(b >= 0 for b in balances) and balances == sorted(balances, reverse=True)
    check_cumulative_defaults_agree(result, out)
    check_revolving_purchases(store, result, summary)
    # the stress month is stated: month 6 from July 2021
    assert summary["stress_month"]["period"] == "2021-12"
    # seed 001 item 8: scaled on the discounted basis, the cut-off ADRB is the pool's own and
    # the notes keep the seed's overcollateralisation (L150-156: 40,082,110.39 × f)
    scaled = yaml.safe_load((out / "deal-driver_china_13.yaml").read_text(encoding="utf-8"))
    conv = DrbConvention(Decimal("0.051371"))
    cut_off = dt.date(2021, 6, 30)
    tape = read_boarding_tape(out / "tapes" / "boarding.csv")
    adrb = sum((boarding_drb(r, cut_off, conv) for r in tape.rows), Decimal("0.00"))
    params = scaled["parameters"]
    assert Decimal(params["cut_off_adrb"]["value"]) == adrb
    notes_total = sum(Decimal(n["amount"]) for n in scaled["notes"].values())
    oc = adrb - notes_total
    assert abs(oc - Decimal("40082110.39") * result.scale_factor) <= Decimal("0.02")
    assert result.scale_factor == adrb / Decimal("8000082110.39")


def check_cumulative_defaults_agree(result: DemoResult, out: Path) -> None:
    """One figure per definition: the terminal table's month, the trustee report of the payment
    date whose collection period ends that month, and the servicer report of that period."""
    months = {f"{m.period_end:%Y-%m}": m for m in result.months}
    ratios = [m.cumulative_default_ratio for m in result.months]
    numerators = [m.cumulative_defaults for m in result.months]
    assert numerators == sorted(numerators)  # gross: it never goes down
    assert ratios[-1] > 0
    checked = 0
    for c in result.cycles:
        trustee = json.loads((out / "reports" / f"trustee-{c['payment_date']}.json").read_text())
        end = trustee["sections"]["deal"]["data"]["collection_period_end"]
        m = months.get(end[:7])
        if m is None:
            continue
        pool_row = trustee["sections"]["cumulative_default"]["data"][0]
        assert Decimal(pool_row["defaulted"]) == m.cumulative_defaults
        assert Decimal(pool_row["boarded"]) == m.cumulative_default_base
        assert Decimal(pool_row["ratio"]) == m.cumulative_default_ratio
        servicer = json.loads((out / "reports" / f"servicer-{end}.json").read_text())
        pool = servicer["sections"]["pool"]["data"]
        assert pool["cumulative_default_definition"] == result.default_ratio
        assert Decimal(pool["cumulative_defaults"]) == m.cumulative_defaults
        assert Decimal(pool["cumulative_default_ratio"]) == m.cumulative_default_ratio
        checked += 1
    assert checked >= 4


def check_revolving_purchases(
    store: ProjectedStore, result: DemoResult, summary: dict[str, Any]
) -> None:
    """Every payment date of seed 001's revolving period bought Additional Receivables out of
    the Accumulation Account at 98.3% of their DRB (L17709-17723), boarded and then serviced.
    The stress month (December 2021) puts the CE increase condition in effect on the January
    PD: an Early Amortisation Event (f) ends the Revolving Period (L18841-18843), so that date
    amortises and buys nothing."""
    bought = result.purchases
    revolving = [c["payment_date"] for c in result.cycles if c["mode"] == "revolving"]
    assert revolving == ["2021-12-27"]
    assert [str(p.payment_date) for p in bought] == revolving
    assert [p.cut_off_date for p in bought] == [dt.date(2021, 11, 30)]
    january = next(c for c in result.cycles if c["payment_date"] == "2022-01-26")
    assert january["mode"] == "amortising"
    assert january["triggers"]["eae_f_ce_increase"]["in_effect"]
    for p in bought:
        assert p.bought_loans == p.offered_loans > 0 and not p.failed_tests
        assert p.price == round_fen(p.balance * Decimal("0.983")) <= p.available
        # the trustee report of the date shows it
        report = json.loads(
            (result.out_dir / "reports" / f"trustee-{p.payment_date}.json").read_text()
        )
        (row,) = report["sections"]["revolving_purchase"]["data"]
        assert (row["loans_bought"], Decimal(row["price"])) == (p.bought_loans, p.price)
    assert [r["payment_date"] for r in summary["revolving_purchases"]] == [
        str(p.payment_date) for p in bought
    ]
    purchased = list(store.read(result.deal_id, types=["AdditionalReceivablesPurchased"]))
    assert [e.data["loan_count"] for e in purchased] == [p.bought_loans for p in bought]
    boarded = {e.data["loan_id"] for e in store.read(result.deal_id, types=["LoanBoarded"])}
    assert len(boarded) == result.loans + sum(p.bought_loans for p in bought)
    # the receivables bought are serviced: collections of the first cohort in December
    collected = {
        e.data["loan_id"]
        for e in store.read(result.deal_id, types=["CollectionReceived"])
        if e.data["loan_id"].startswith("DC13-R1-")
    }
    assert collected


def test_scaling_touches_money_not_rates() -> None:
    text = """
name: x
parameters:
  initial_pool_balance: {value: "1000000.00"}
  expense_cap: {value: "150000.00"}
  price_pct: {value: "1.00"}
  fee_rate: {value: "0.01"}
notes:
  a: {amount: "900000.00"}
"""
    scaled, factor, names = scaled_deal_text(text, Decimal("500000.00"))
    data = yaml.safe_load(scaled)
    assert factor == Decimal("0.5")
    assert sorted(names) == ["expense_cap", "initial_pool_balance"]
    assert data["notes"]["a"]["amount"] == "450000.00"
    assert data["parameters"]["expense_cap"]["value"] == "75000.00"
    assert data["parameters"]["price_pct"]["value"] == "1.00"  # a ratio, not RMB
    assert data["parameters"]["fee_rate"]["value"] == "0.01"


def test_demo_of_seed_002_buys_its_one_revolving_purchase(
    store: ProjectedStore, tmp_path: Path
) -> None:
    """Seed 002's one purchase (002:L88, L196-200): on the first payment date, 26 Jun 2024,
    loans cut off at 00:00 on 2024-06-01 (the collection period's end, 31 May) are offered, the
    principal sub-account buys them at par (purchase_price_pct, assumed) if the pool's WAC stays
    at 8% or more (L164 (p)), they are boarded from 1 Jun and the CDR's denominator grows by
    their principal (L234)."""
    out = tmp_path / "out"
    result = run_demo(store, "002", loans=300, months=8, stress_month=None, out_dir=out)
    assert result.verified, result.problems
    assert result.stress is None
    (bought,) = result.purchases
    assert (bought.payment_date, bought.cut_off_date) == (
        dt.date(2024, 6, 26),
        dt.date(2024, 5, 31),
    )
    assert bought.bought_loans == bought.offered_loans > 0 and not bought.failed_tests
    assert bought.price == bought.balance <= bought.available  # at par
    (purchased,) = store.read(result.deal_id, types=["AdditionalReceivablesPurchased"])
    assert purchased.effective_date == dt.date(2024, 6, 1)
    assert Decimal(purchased.data["aggregate_principal"]) == bought.balance
    balances = {k: Decimal(v.row["balance"]) for k, v in store.runner.live(
        store, result.deal_id, "balances").items()}  # fmt: skip
    assert balances["ledger:cum_purchased_opb"] == bought.balance
    june = next(m for m in result.months if m.period_end == dt.date(2024, 6, 30))
    may = next(m for m in result.months if m.period_end == dt.date(2024, 5, 31))
    assert june.cumulative_default_base == may.cumulative_default_base + bought.balance
