"""Servicer remittance and Monthly Collateral (issue 4, item 6)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from events.collateral import COLLATERAL_PAYABLE, MONTHLY_COLLATERAL, MonthlyCollateralPosted
from events.servicing import CollectionsRemitted, RecoveryReceived
from ledger.core import accounts
from projections.remittance import commingling, exposure, remittance_periods
from projections.store import ProjectedStore
from tests.test_loans_projection import DEAL, boarded, collected, new, one, reverse


def _balances(store: ProjectedStore) -> dict[str, Decimal]:
    live = store.runner.live(store, DEAL, "balances")
    return {k: Decimal(v.row["balance"]) for k, v in live.items()}


def _rows(store: ProjectedStore) -> dict[str, dict[str, str]]:
    return {k: dict(v.row) for k, v in store.runner.live(store, DEAL, "remittance").items()}


def remit(amount: str, on: date) -> MonthlyCollateralPosted | CollectionsRemitted:
    return CollectionsRemitted(value_date=on, amount=Decimal(amount))


def test_held_since_and_per_period(store: ProjectedStore) -> None:
    store.append([boarded("A"), boarded("B")])
    store.append(
        [
            collected("A", "1000.00", "60.00", on=date(2024, 3, 5)),
            collected("B", "1000.00", "60.00", on=date(2024, 3, 20)),
            new(
                RecoveryReceived(loan_id="B", value_date=date(2024, 4, 2), amount=Decimal("40.00")),
                date(2024, 4, 2),
            ),
        ]
    )
    pos = commingling(store, DEAL, date(2024, 3, 31))
    assert (pos.held, pos.held_since, pos.net_exposure) == (
        Decimal("2120.00"),
        date(2024, 3, 5),
        Decimal("2120.00"),
    )
    # the servicer remits part of March on 8 April: what is left was collected on 20 March
    store.append([new(remit("1500.00", date(2024, 4, 8)), date(2024, 4, 8))])
    pos = commingling(store, DEAL, date(2024, 4, 8))
    assert (pos.held, pos.held_since) == (Decimal("660.00"), date(2024, 3, 20))
    assert _balances(store)[accounts.SERVICER_HELD] == pos.held
    # as of an earlier date nothing changes
    assert commingling(store, DEAL, date(2024, 3, 10)).held == Decimal("1060.00")
    assert commingling(store, DEAL, date(2024, 3, 1)).held_since is None
    mar, apr = remittance_periods(_rows(store))
    assert (mar.period, mar.collected, mar.remitted, mar.peak_held) == (
        "2024-03",
        Decimal("2120.00"),
        Decimal("0"),
        Decimal("2120.00"),
    )
    assert (apr.collected, apr.remitted, apr.at_end.held) == (
        Decimal("40.00"),
        Decimal("1500.00"),
        Decimal("660.00"),
    )
    assert apr.peak_held == Decimal("2160.00")
    assert store.runner.compare(store, DEAL) == []


def test_reversed_collection_leaves_the_servicer(store: ProjectedStore) -> None:
    store.append([boarded("A")])
    original = one(store, collected("A", "1000.00", "60.00", on=date(2024, 3, 5)))
    store.append([reverse(original, date(2024, 3, 6))])
    pos = commingling(store, DEAL, date(2024, 3, 31))
    assert pos.held == 0 and pos.held_since is None
    assert store.runner.compare(store, DEAL) == []


def test_monthly_collateral_parts_netting_release(store: ProjectedStore) -> None:
    """Driver China Thirteen below the Servicer Required Rating: Part 1 on 15 Feb and Part 2 on
    1 Mar for March; the 6th BD before the April PD nets March's Collections and releases the
    excess."""
    store.append([boarded("A"), boarded("B")])

    def mc(kind: str, amount: str, on: date) -> MonthlyCollateralPosted:
        return MonthlyCollateralPosted(
            monthly_period="2024-03", kind=kind, value_date=on, amount=Decimal(amount)
        )

    store.append(
        [
            new(mc("part1", "1100.00", date(2024, 2, 15)), date(2024, 2, 15)),
            new(mc("part2", "1100.00", date(2024, 3, 1)), date(2024, 3, 1)),
            collected("A", "1000.00", "60.00", on=date(2024, 3, 5)),
            collected("B", "1000.00", "60.00", on=date(2024, 3, 20)),
        ]
    )
    pos = commingling(store, DEAL, date(2024, 3, 31))
    assert (pos.held, pos.collateral, pos.net_exposure) == (
        Decimal("2120.00"),
        Decimal("2200.00"),
        Decimal("0"),
    )
    store.append(
        [
            new(mc("netted", "2120.00", date(2024, 4, 17)), date(2024, 4, 17)),
            new(mc("released", "80.00", date(2024, 4, 17)), date(2024, 4, 17)),
        ]
    )
    pos = commingling(store, DEAL, date(2024, 4, 17))
    assert (pos.held, pos.collateral, pos.held_since) == (Decimal("0"), Decimal("0"), None)
    bal = _balances(store)
    assert bal[accounts.SERVICER_HELD] == 0
    assert bal[MONTHLY_COLLATERAL] == 0 and bal[COLLATERAL_PAYABLE] == 0
    assert bal[accounts.TRUST_COLLECTIONS] == Decimal("2120.00")
    assert sum(bal.values()) == 0
    (feb, _mar, apr) = remittance_periods(_rows(store))
    assert feb.collateral_posted == Decimal("1100.00") and feb.at_end.collateral == Decimal(
        "1100.00"
    )
    assert (apr.netted, apr.collateral_released) == (Decimal("2120.00"), Decimal("80.00"))
    assert store.runner.compare(store, DEAL) == []


def test_exposure_is_pure() -> None:
    rows = {
        "2024-03-05": {"collected": "10.00", "remitted": "0.00", "netted": "0.00",
                       "posted": "0.00", "released": "0.00"},
        "2024-03-06": {"collected": "5.00", "remitted": "12.00", "netted": "0.00",
                       "posted": "0.00", "released": "0.00"},
    }  # fmt: skip
    e = exposure(rows, date(2024, 3, 6))
    assert (e.held, e.held_since) == (Decimal("3.00"), date(2024, 3, 6))
