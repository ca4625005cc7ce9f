"""Deal registration and pool boarding (issue 4 items 1-2), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ledger.cli.deal import deal_app
from ledger.cli.servicing import deal_store_commands, post, tape_app
from ledger.core import accounts
from ledger.core.logs import configure
from ledger.deal import validate_deal_file
from ledger.deal.loader import DealValidationError
from ledger.servicing.boarding import board_pool
from ledger.servicing.deals import deal_in_force, list_deals, load_deal
from ledger.servicing.eligibility import check_eligibility, eligible_rows, loan_fields_of
from ledger.servicing.periods import open_collection_period
from ledger.servicing.results import ServicingError
from ledger.servicing.tape_formats import TapeRejected
from ledger.servicing.tape_parse import parse_boarding_tape
from projections.store import ProjectedStore

DEALS = Path(__file__).resolve().parents[1] / "ledger" / "deals"
BYD_FILE = DEALS / "004_byd_2021_2.yaml"
DC13_FILE = DEALS / "001_driver_china_13.yaml"
BYD = "byd_2021_2"
D = Decimal

HEADER = (
    "loan_id,borrower_id,origination_date,maturity_date,original_principal,"
    "outstanding_principal,interest_rate,amortization,payment_day,remaining_term_months,"
    "days_past_due,is_new_energy_vehicle,initial_ltv\n"
)
GOOD_LOANS = (
    "L1,B1,2020-01-15,2023-01-15,120000.00,80000.00,0.0488,annuity,15,19,0,true,0.80\n"
    "L2,B2,2020-06-10,2024-06-10,200000.00,150000.00,0.0520,level_principal,10,36,0,true,0.70\n"
    "L3,B3,2021-03-20,2024-03-20,90000.00,88000.00,0.0400,annuity,20,33,0,true,0.85\n"
    "L4,B4,2019-09-05,2023-09-05,60000.00,30000.00,0.0450,annuity,5,27,0,true,0.60\n"
)
GOOD_TAPE = (HEADER + GOOD_LOANS).encode()
POOL_TOTAL = D("348000.00")

BAD_TAPE = (
    HEADER
    + "L1,B1,2020-01-15,2023-01-15,120000.00,80000.00,0.0488,annuity,15,19,0,true,0.80\n"
    + "L5,B5,2021-05-01,2024-05-01,100000.00,99000.00,0.0488,annuity,1,35,0,true,0.80\n"
    + 'L6,B6,2020-01-15,2023-01-15,120000.00,"12,000.00",0.0488,annuity,15,19,0,true,0.80\n'
    + "L7,B7,2020-01-15,2023-01-15,120000.00,80000.00,0.0488,annuity,15,19,0,true,0.90\n"
    + "L8,B8,2020-01-15,2023-01-15,120000.00,80000.00,0.0488,bullet,15,19,0,true,0.80\n"
    + "L9,B9,2020-01-15,2023-01-15,120000.00,80000.00,0.0488,annuity,15,19,0,true,abc\n"
).encode()


def boarded_byd(store: ProjectedStore, tape: bytes = GOOD_TAPE) -> None:
    """The BYD deal loaded and the four-loan pool boarded (shared with the servicing tests)."""
    load_deal(store, BYD_FILE)
    board_pool(store, BYD, tape, file="pool.csv")


def balances(store: ProjectedStore, deal_id: str) -> dict[str, Decimal]:
    live = store.runner.live(store, deal_id, "balances")
    return {k: Decimal(v.row["balance"]) for k, v in live.items()}


def cli_app() -> typer.Typer:
    """A test-only app mounting the servicing commands as the main CLI will."""
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        configure("WARNING")  # as the main CLI does: logs stay off stdout

    app.add_typer(tape_app, name="tape")
    app.command("post")(post)
    sub = typer.Typer()
    for cmd in deal_app.registered_commands:
        sub.registered_commands.append(cmd)
    deal_store_commands(sub)
    app.add_typer(sub, name="deal")
    return app


# ----------------------------------------------------------------------------- deals


def test_load_deal_is_idempotent_and_in_force(store: ProjectedStore) -> None:
    first = load_deal(store, BYD_FILE)
    again = load_deal(store, BYD_FILE)
    assert again.event_id == first.event_id and again.deal_seq == 1
    assert first.type == "DealDefined" and first.stream_id == "deal"
    deal = deal_in_force(store, BYD)
    assert deal == validate_deal_file(BYD_FILE)
    load_deal(store, DC13_FILE)
    assert list_deals(store) == [
        {"deal_id": BYD, "name": deal.name},
        {"deal_id": "driver_china_13", "name": "Driver China Thirteen"},
    ]
    with pytest.raises(ServicingError, match="no definition"):
        deal_in_force(store, "nope")


def test_amended_deal_file_is_the_one_in_force(store: ProjectedStore, tmp_path: Path) -> None:
    load_deal(store, BYD_FILE)
    amended = tmp_path / "byd.yaml"
    text = BYD_FILE.read_text(encoding="utf-8")
    amended.write_text(text.replace("\nname: ", "\nname: AMENDED ", 1), encoding="utf-8")
    ev = load_deal(store, amended)
    assert ev.deal_seq == 2
    assert deal_in_force(store, BYD).name.startswith("AMENDED ")


def test_invalid_deal_file_stores_nothing(store: ProjectedStore, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BYD_FILE.read_text(encoding="utf-8").replace("deal_id: byd_2021_2", "x: 1"))
    with pytest.raises(DealValidationError):
        load_deal(store, bad)
    assert store.deals() == []


def test_open_collection_period_from_the_deal_calendar(store: ProjectedStore) -> None:
    load_deal(store, BYD_FILE)
    # 004: the first period runs from the cut-off 2021-06-18 to the first calculation date
    assert [str(d) for d in open_collection_period(store, BYD)] == ["2021-06-18", "2021-09-30"]


# ----------------------------------------------------------------------------- boarding


def test_boarding_happy_path(store: ProjectedStore) -> None:
    load_deal(store, BYD_FILE)
    result = board_pool(store, BYD, GOOD_TAPE, file="pool.csv")
    assert not result.duplicate
    assert [e.type for e in result.events] == ["LoanBoarded"] * 4 + ["PoolBoarded"]
    loan = result.events[0]
    assert loan.stream_id == "loan-L1" and str(loan.effective_date) == "2021-06-18"
    assert loan.data["outstanding_principal"] == "80000.00"
    assert loan.data["extra"] == {"is_new_energy_vehicle": "true", "initial_ltv": "0.80"}
    pool = result.events[-1].data
    assert pool["loan_count"] == 4 and pool["aggregate_principal"] == str(POOL_TOTAL)
    assert pool["file_sha256"] == result.sha256
    # criteria the tape cannot answer are reported, not failed
    assert {u.split(":")[0] for u in result.unchecked} == {"1", "5", "7", "8", "23"}
    bal = balances(store, BYD)
    assert bal[accounts.POOL_PRINCIPAL] == POOL_TOTAL
    assert bal[accounts.SELLER_CONSIDERATION] == -POOL_TOTAL
    assert store.runner.compare(store, BYD) == []

    again = board_pool(store, BYD, GOOD_TAPE, file="pool.csv")
    assert again.duplicate
    assert [e.event_id for e in again.events] == [e.event_id for e in result.events]
    assert store.head(BYD)[0] == 6

    other = GOOD_TAPE.replace(b"L4,B4", b"L9,B4")
    with pytest.raises(ServicingError, match="already has its pool"):
        board_pool(store, BYD, other, file="other.csv")
    assert store.head(BYD)[0] == 6


def test_boarding_rejects_the_whole_tape_listing_every_failing_row(store: ProjectedStore) -> None:
    load_deal(store, BYD_FILE)
    with pytest.raises(TapeRejected) as info:
        board_pool(store, BYD, BAD_TAPE, file="bad.csv")
    got = [(e.file, e.row, e.field) for e in info.value.errors]
    assert got == [
        ("bad.csv", 3, "origination_date"),  # criterion 12: originated after 2021-04-30
        ("bad.csv", 4, "outstanding_principal"),  # malformed amount
        ("bad.csv", 5, "initial_ltv,is_new_energy_vehicle"),  # criterion 13: LTV above 85%
        ("bad.csv", 6, "amortization"),  # criterion 15: bullet
        ("bad.csv", 7, "initial_ltv"),  # extra column that is no number
    ]
    reasons = [e.reason for e in info.value.errors]
    assert "criterion 12" in reasons[0] and "20210501" in reasons[0]
    assert "non-numeric amount" in reasons[1]
    assert "criterion 13" in reasons[2] and "loan.initial_ltv=0.90" in reasons[2]
    assert "criterion 15" in reasons[3]
    assert "is not a number" in reasons[4]
    assert "bad.csv: line 3, field origination_date" in str(info.value)
    assert store.head(BYD)[0] == 1  # only the deal definition
    assert list(store.read(BYD, types=["LoanBoarded", "PoolBoarded"])) == []


def test_boarding_needs_a_deal_definition(store: ProjectedStore) -> None:
    with pytest.raises(ServicingError, match="deal load"):
        board_pool(store, BYD, GOOD_TAPE)
    assert store.deals() == []


def test_driver_china_derived_fields_include_the_discounted_balance() -> None:
    deal = validate_deal_file(DC13_FILE)
    tape = parse_boarding_tape(
        (
            b"loan_id,borrower_id,origination_date,maturity_date,original_principal,"
            b"outstanding_principal,interest_rate,amortization,payment_day,remaining_term_months,"
            b"days_past_due\n"
            b"A,B,2020-06-15,2024-06-15,100000.00,80000.00,0.0500,annuity,15,36,0\n"
            b"C,B,2021-05-15,2021-12-15,10000.00,9000.00,0.0500,annuity,15,6,0\n"
        ),
        "dc13.csv",
    )
    envs, errors = loan_fields_of(deal, tape)
    assert errors == []
    assert envs[0]["months_to_maturity"] == 35 and envs[0]["instalments_paid"] == 12
    assert envs[0]["borrower_exposure"] == D("89000.00")
    assert D(0) < D(str(envs[0]["discounted_receivables_balance"])) < D("86000")
    failures, unchecked = check_eligibility(deal, tape)
    # loan C: 5 months to maturity (criterion l), 1 instalment paid (criterion k)
    assert [(e.row, e.reason.split(" (")[0]) for e in failures] == [
        (3, "loan C is ineligible: criterion k"),
        (3, "loan C is ineligible: criterion l"),
    ]
    assert any(u.startswith("t:") for u in unchecked)
    assert eligible_rows(deal, tape.rows) == [tape.rows[0]]


# ----------------------------------------------------------------------------- CLI


def test_cli_deal_load_list_and_boarding(db_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    app = cli_app()
    r = runner.invoke(
        app, ["deal", "load", str(BYD_FILE), "--as", "keeper:trustee", "--db", db_url]
    )
    assert r.exit_code == 0, r.output
    assert "deal byd_2021_2 recorded" in r.output
    r = runner.invoke(app, ["deal", "list", "--format", "json", "--db", db_url])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == [{"deal_id": BYD, "name": validate_deal_file(BYD_FILE).name}]

    bad = tmp_path / "bad.csv"
    bad.write_bytes(BAD_TAPE)
    r = runner.invoke(
        app, ["tape", "import", "--as", "ops:servicer", "--deal", BYD, str(bad), "--db", db_url]
    )
    assert r.exit_code == 1
    assert f"{bad}: line 4, field outstanding_principal" in r.output
    assert "5 error(s)" in r.output

    good = tmp_path / "pool.csv"
    good.write_bytes(GOOD_TAPE)
    r = runner.invoke(
        app, ["tape", "import", "--as", "ops:servicer", "--deal", BYD, str(good), "--db", db_url]
    )
    assert r.exit_code == 0, r.output
    assert "boarding tape imported: 5 event(s)" in r.output
    r = runner.invoke(
        app, ["tape", "import", "--as", "ops:servicer", "--deal", BYD, str(good), "--db", db_url]
    )
    assert r.exit_code == 0, r.output
    assert "already imported, nothing stored" in r.output
