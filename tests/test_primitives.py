"""The catalogue of engine primitives (ledger/deal/primitives.py) is the one documentation of
the names formulas read (docs/primitives.md), and the cycle computes every determination in it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import yaml

from events.cycle import FigureReported
from events.envelope import NewEvent
from ledger.cycle.acts import issue_notes
from ledger.cycle.walk import run_due
from ledger.deal.primitives import CATALOGUE, RECORDED_ITEMS, catalogue_markdown, family_of
from ledger.servicing.deals import load_deal
from projections.store import ProjectedStore
from tests.helpers import TRUSTEE, posted_by
from tests.test_cycle import scaled_deal, servicing_events

ROOT = Path(__file__).resolve().parents[1]


def test_the_doc_page_is_the_catalogue() -> None:
    """Regenerate with ``python -m ledger.deal.primitives > docs/primitives.md``."""
    assert (ROOT / "docs" / "primitives.md").read_text(encoding="utf-8") == catalogue_markdown()


def concrete(pattern: str) -> str:
    """One name of a family (``collections.<item>`` → ``collections.interest``)."""
    return (
        pattern.replace("<item>", "interest")
        .replace("<account>", "income")
        .replace("<note>", "senior")
        .replace("<name>", "anything")
    )


def test_every_determination_is_computed_by_the_cycle(
    store: ProjectedStore, tmp_path: Path
) -> None:
    """A deal declaring every determination of the catalogue (one name per family, every
    collection item): each has a value on some date of the cycle (the previous payment date's
    from the second date on, the reported ones once reported)."""
    names = [concrete(p.name) for p in CATALOGUE if p.determination and p.timing != "clean_up"]
    names += [f"collections.{item}" for item in RECORDED_ITEMS]
    names = list(dict.fromkeys(names))
    assert all(family_of(n) is not None for n in names)
    path = scaled_deal("004_byd_2021_2.yaml", tmp_path)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["parameters"]["discount_rate"] = {"value": "0.05", "source": "test"}
    data["discounted_balance"] = {
        "rate": "discount_rate", "basis": "month", "modification": "proportional",
        "rounding": "per_receivable", "clause": "test",
    }  # fmt: skip
    data["parameters"]["cut_off_adrb"] = {"value": "4000000.00", "source": "test"}
    for name in names:
        data["metrics"].setdefault(name, {"description": "test"})
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    deal_id = load_deal(store, path).deal_id
    issue_notes(store, deal_id, who=TRUSTEE)
    store.append(servicing_events(deal_id, dt.date(2021, 6, 18), 6, {4: 1}))
    report = FigureReported(name="anything", amount=Decimal("1.00"))
    new = NewEvent.of(
        report, deal_id=deal_id, stream_id="deal", effective_date=dt.date(2021, 10, 1),
        idempotency_key="report", **posted_by("FigureReported"),
    )  # fmt: skip
    store.append([new])
    run_due(store, deal_id, dt.date(2021, 12, 31))
    seen: set[str] = set()
    for e in store.read(deal_id, types=["MetricsDetermined"]):
        seen |= set(e.data["values"])
    assert [n for n in names if n not in seen] == []
