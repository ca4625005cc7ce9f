"""The demo as custodian and trustee (issue 6 item 3): it writes the statement of each trust bank
account to ``out/bank-statement-<account>.csv`` and reconciles them with zero breaks."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from ledger.audit.statements import parse_statement
from ledger.simulation.demo import run_demo
from projections.store import ProjectedStore


def test_demo_writes_and_reconciles_the_custodian_statements(
    store: ProjectedStore, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = run_demo(store, "004", loans=120, months=8, stress_month=None, out_dir=out)
    assert result.verified, result.problems
    assert result.cycles, "payment dates must have run"
    files = sorted(p.name for p in out.glob("bank-statement-*.csv"))
    assert "bank-statement-trust-collections.csv" in files
    assert all(":" not in name for name in files)
    summary = json.loads((out / "demo-summary.json").read_text(encoding="utf-8"))
    recon = summary["bank_reconciliation"]
    assert recon["breaks"] == 0
    assert sorted(r["file"] for r in recon["accounts"]) == files
    balances = store.runner.live(store, result.deal_id, "balances")
    for row in recon["accounts"]:
        assert row["breaks"] == 0 and row["matched"] > 0
        (st,) = parse_statement((out / row["file"]).read_bytes(), row["file"]).statements
        assert st.account == row["account"] and len(st.lines) == row["lines"]
        # the statement closes at the ledger's balance of the account
        assert st.closing_balance == Decimal(row["bank_closing_balance"])
        assert st.closing_balance == Decimal(balances[st.account].row["balance"])
    assert {e.type for e in store.read(result.deal_id, types=["ReconciliationCompleted"])} == {
        "ReconciliationCompleted"
    }
