"""An annual senior-expense cap is carried from one payment date to the next (seed 003 L769):
each WaterfallExecuted records the cap period and usage, the notes projection keeps it, and the
next determination state hands it to the waterfall engine."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from events.cycle import CapUsage
from ledger.core.money import round_fen
from ledger.cycle.acts import issue_notes
from ledger.cycle.walk import DueWalk, run_due
from ledger.servicing.deals import deal_in_force, load_deal
from projections.store import ProjectedStore
from tests.helpers import TRUSTEE
from tests.test_cycle import DEALS, POOL, D, servicing_events


def test_annual_cap_usage_is_carried_and_rolls_with_the_trust_year(
    store: ProjectedStore, tmp_path: Path
) -> None:
    src = "003_wenhui_2024_1.yaml"
    data = yaml.safe_load((DEALS / src).read_text(encoding="utf-8"))
    factor = POOL / D(data["parameters"]["initial_pool_balance"]["value"])
    for note in data["notes"].values():
        note["amount"] = str(round_fen(D(note["amount"]) * factor))
    path = tmp_path / src
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    load_deal(store, path)
    deal = deal_in_force(store, data["deal_id"])
    issue_notes(store, deal.deal_id, who=TRUSTEE)
    store.append(servicing_events(deal.deal_id, deal.calendar.cut_off_date, 16, {}))

    run_due(store, deal.deal_id, dt.date(2025, 4, 30))
    usage = {
        e.data["payment_date"]: e.data["cap_usage"]["annual_expense_cap"]["period_start"]
        for e in store.read(deal.deal_id, types=["WaterfallExecuted"])
    }
    # trust years from the effective date 2024-03-29: the 2025-04 date opens the second year
    assert usage["2025-03-26"] == "2024-03-29" and usage["2025-04-27"] == "2025-03-29"
    row = store.runner.live(store, deal.deal_id, "notes")["cap:annual_expense_cap"].row
    assert row == {"period_start": "2025-03-29", "used": "0.00"}

    # the next date's determination state hands the carried usage to the engine
    walk = DueWalk(store, deal.deal_id, dt.date(2025, 5, 31))
    states = [s for _, s in walk.periods() if s is not None]
    assert states and states[0].waterfall.cap_usage == {
        "annual_expense_cap": CapUsage(period_start=dt.date(2025, 3, 29), used=D("0.00"))
    }
