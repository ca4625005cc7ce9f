"""The demo end to end on a small pool, on both backends: it boards, services, runs payment dates
(with a trigger breach and a mode switch), verifies and writes its files."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import yaml

from ledger.reports import render, servicer_report, trustee_report
from ledger.simulation.demo import run_demo, scaled_deal_text, write_reports
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
    assert ratio[0]["measure"].startswith("pool: Σ DRB of defaulted receivables")
    ce = next(r for r in ratio if "eae_f_ce_increase" in r["measure"])
    assert Decimal(ce["ratio"]) == Decimal(ratio[0]["ratio"])
    # note balances never rise and never go negative from one payment date to the next
    balances = [Decimal(c["notes"]["note:class_a"]["balance"]) for c in result.cycles]
    assert all(b >= 0 for b in balances) and balances == sorted(balances, reverse=True)


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
