"""The payment-date cycle end to end on both backends (issue 5 items 3, 4 and 6).

Seed deals 004 (BYD 盛世融迪 2021-2) and 001 (Driver China Thirteen) run through 14 payment dates
on a small boarded pool: the deal files are scaled to the pool (note amounts and the parameters in
RMB), collections are posted per loan each month and remitted after the month end, and a burst of
defaults breaches a trigger (004: cumulative default ratio → accelerated; 001: the credit
enhancement increase condition → targeted OC 100%, after the revolving → amortising switch).
Seeds 000, 002 and 003 run 13 dates; 003's cumulative default ratio crosses 10% → accelerated,
and 000 (no metric trigger in its rule sheet) switches to post-default on a declared EoD.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from events.catalogue import CollectionReceived
from events.cycle import WaterfallExecuted
from events.envelope import NewEvent, RecordedEvent
from events.servicing import CollectionsRemitted, LoanBoarded, LoanDefaulted
from events.store import AppendResult
from ledger.core.amortisation import add_months
from ledger.core.discounting import aggregate_drb
from ledger.core.journal import apply_entries
from ledger.core.money import round_fen
from ledger.cycle.acts import (
    approve_cycle,
    declare_event,
    elect_clean_up_call,
    issue_notes,
)
from ledger.cycle.schedule import deal_schedule
from ledger.cycle.walk import CycleResult, run_cycle, run_due
from ledger.deal import DealDefinition
from ledger.deal.loader import load_deal_text
from ledger.servicing.deals import deal_in_force, load_deal
from ledger.simulation.demo import scaled_deal_text
from ledger.waterfall import posting_account
from projections.base import fold_all
from projections.notes import NotesProjection
from projections.pool import pool_periods
from projections.store import ProjectedStore
from tests.helpers import TRUSTEE, posted_by

D = Decimal
DEALS = Path(__file__).resolve().parents[1] / "ledger" / "deals"
N_LOANS = 40
LOAN = D("100000.00")
POOL = LOAN * N_LOANS
RATE = D("0.045")
MONTHLY_PRINCIPAL = D("2777.78")


# ------------------------------------------------------------------------------ scenario


def pool_adrb(deal: DealDefinition) -> Decimal | None:
    """The test pool's Aggregate DRB at the deal's cut-off (None for a deal that does not
    discount): :data:`N_LOANS` loans as :func:`servicing_events` boards them."""
    conv = deal.drb_convention()
    if conv is None:
        return None
    cut_off = deal.calendar.cut_off_date
    maturity = dt.date(*add_months(cut_off.year, cut_off.month, 36), 15)
    loan = {
        "boarded": str(LOAN), "rate": str(RATE), "remaining_term": 36,
        "maturity": maturity.isoformat(), "amortization": "level_principal", "payment_day": 15,
        "status": "performing", "balance": str(LOAN),
    }  # fmt: skip
    return aggregate_drb([loan] * N_LOANS, cut_off, conv)


def scaled_deal(src: str, tmp: Path, extra: dict[str, Any] | None = None) -> Path:
    """The seed deal file with notes and RMB parameters scaled to the test pool (the demo's
    rule, :func:`ledger.simulation.demo.scaled_deal_text`: seed 001 on its ADRB), plus any
    ``extra`` parameters."""
    text = (DEALS / src).read_text(encoding="utf-8")
    adrb = pool_adrb(load_deal_text(text, src))
    text, _, _ = scaled_deal_text(text, POOL, adrb)
    data = yaml.safe_load(text)
    for name, value in (extra or {}).items():
        data["parameters"][name] = value
    path = tmp / src
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _new(ev: Any, deal_id: str, day: dt.date, key: str) -> NewEvent:
    return NewEvent.of(
        ev, deal_id=deal_id, stream_id=ev.default_stream(), effective_date=day,
        idempotency_key=key, **posted_by(ev.type_name),
    )  # fmt: skip


def servicing_events(
    deal_id: str, cut_off: dt.date, months: int, defaults: dict[int, int]
) -> list[NewEvent]:
    """Board ``N_LOANS`` level-principal loans at ``cut_off`` and service them monthly: each
    performing loan pays 2,777.78 principal + interest on the 15th; in month ``m`` of
    ``defaults`` that many loans default; each month's collections are remitted on the 3rd."""
    out: list[NewEvent] = []
    maturity = dt.date(*add_months(cut_off.year, cut_off.month, 36), 15)
    balances: dict[str, Decimal] = {}
    for i in range(N_LOANS):
        lid = f"L{i:04d}"
        balances[lid] = LOAN
        ev = LoanBoarded(
            loan_id=lid, borrower_id=f"B{i:04d}", origination_date=dt.date(2020, 6, 15),
            maturity_date=maturity, original_principal=LOAN, outstanding_principal=LOAN,
            interest_rate=RATE, amortization="level_principal", payment_day=15,
            remaining_term_months=36, days_past_due=0, cut_off_date=cut_off,
        )  # fmt: skip
        out.append(_new(ev, deal_id, cut_off, f"board:{lid}"))
    next_default = 0
    for m in range(1, months + 1):
        y, mo = add_months(cut_off.year, cut_off.month, m)
        day = dt.date(y, mo, 15)
        held = D("0.00")
        for lid in sorted(balances):
            bal = balances[lid]
            if bal <= 0:
                continue
            principal = min(MONTHLY_PRINCIPAL, bal)
            interest = round_fen(bal * RATE / 12)
            c_ev = CollectionReceived(
                loan_id=lid, value_date=day, principal=principal, interest=interest
            )
            out.append(_new(c_ev, deal_id, day, f"col:{lid}:{m}"))
            balances[lid] = bal - principal
            held += principal + interest
        for _ in range(defaults.get(m, 0)):
            lid = f"L{next_default:04d}"
            next_default += 1
            end = dt.date(y, mo, 28)
            d_ev = LoanDefaulted(loan_id=lid, value_date=end, principal=balances[lid])
            out.append(_new(d_ev, deal_id, end, f"default:{lid}"))
            balances[lid] = D("0.00")
        ny, nm = add_months(y, mo, 1)
        remit_day = dt.date(ny, nm, 3)
        r_ev = CollectionsRemitted(value_date=remit_day, amount=held)
        out.append(_new(r_ev, deal_id, remit_day, f"remit:{m}"))
    return out


@pytest.fixture
def byd_setup(store: ProjectedStore, tmp_path: Path) -> Callable[..., DealDefinition]:
    def setup(extra: dict[str, Any] | None = None) -> DealDefinition:
        path = scaled_deal("004_byd_2021_2.yaml", tmp_path, extra)
        load_deal(store, path)
        deal = deal_in_force(store, "byd_2021_2")
        # the trust effective date is not in the prospectus; 2021-09-15 assumed (extract §6.5)
        issue_notes(store, deal.deal_id, dt.date(2021, 9, 15), who=TRUSTEE)
        # a 7.5% cumulative default ratio in collection period 5 breaches acceleration (e)
        store.append(servicing_events(deal.deal_id, deal.calendar.cut_off_date, 18, {7: 3}))
        return deal

    return setup


@pytest.fixture
def driver_setup(store: ProjectedStore, tmp_path: Path) -> Callable[[], DealDefinition]:
    def setup() -> DealDefinition:
        path = scaled_deal("001_driver_china_13.yaml", tmp_path)
        load_deal(store, path)
        deal = deal_in_force(store, "driver_china_13")
        issue_notes(store, deal.deal_id, who=TRUSTEE)
        # defaults of 2 loans (5%) in Apr 2022 breach the CE increase condition (1.2%)
        store.append(servicing_events(deal.deal_id, deal.calendar.cut_off_date, 20, {10: 2}))
        return deal

    return setup


def seed_deal(
    store: ProjectedStore, tmp: Path, src: str, closing: dt.date | None, defaults: dict[int, int]
) -> DealDefinition:
    """A seed deal with its notes and RMB parameters scaled to the test pool, notes issued at
    ``closing`` and 16 months of servicing with ``defaults``."""
    recorded = load_deal(store, scaled_deal(src, tmp))
    deal = deal_in_force(store, recorded.deal_id)
    issue_notes(store, deal.deal_id, closing, who=TRUSTEE)
    store.append(servicing_events(deal.deal_id, deal.calendar.cut_off_date, 16, defaults))
    return deal


# ------------------------------------------------------------------------------ checks


def cycle_events(store: ProjectedStore, deal_id: str) -> list[RecordedEvent]:
    return [e for e in store.read(deal_id) if e.stream_id == "cycle"]


def waterfalls(store: ProjectedStore, deal_id: str) -> list[WaterfallExecuted]:
    out = []
    for e in store.read(deal_id, types=["WaterfallExecuted"]):
        ev = e.event
        assert isinstance(ev, WaterfallExecuted)
        out.append(ev)
    return out


def balances_until(store: ProjectedStore, deal_id: str, day: dt.date) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for e in store.read(deal_id, effective_to=day):
        for account, amount in e.event.legs():
            out[account] = out.get(account, D(0)) + amount
    return out


def _step_of(memo: str) -> str:
    return memo.split(": ", 1)[0]


def check_payment_date(store: ProjectedStore, deal: DealDefinition, w: WaterfallExecuted) -> None:
    """The invariants of every payment date (issue 5 item 6)."""
    # available funds = paid + retained, and the ledger agrees after the date
    assert w.available == w.paid_out + w.retained
    after = balances_until(store, deal.deal_id, w.payment_date)
    cash = [a for a, acc in deal.accounts.items() if acc.kind != "ledger"]
    assert sum((after.get(posting_account(deal, a), D(0)) for a in cash), D(0)) == w.retained
    # no negative cash anywhere, payee accounts emptied by the distribution
    for account, balance in after.items():
        if account.split(":", 1)[0] in ("trust", "reserve", "servicer"):
            assert balance >= 0, (w.payment_date, account, balance)
        if account.startswith("payable:"):
            assert balance == 0, (w.payment_date, account, balance)
    # no negative note balance; the note liability matches the notes projection
    for n in w.notes:
        assert n.closing >= 0
        assert -after.get(f"notes:{n.note_id}", D(0)) == n.closing
    # reserves at target when funds allow: a top-up short of target emptied its source
    order = list(dict.fromkeys(s.step_id for s in w.steps))
    for line in w.steps:
        if line.kind != "top_up" or line.shortfall == 0:
            continue
        upto = order.index(line.step_id)
        entries = [e for e in w.postings if order.index(_step_of(e.memo)) <= upto]
        opening = {posting_account(deal, a): D(0) for a in deal.accounts}
        running = apply_entries(opening, entries)
        # the opening balances of the waterfall are the ledger's after the split
        assert line.source is not None
        before = balances_until(store, deal.deal_id, w.payment_date)
        moved = sum((p.amount for e in w.postings for p in e.postings
                     if p.account == posting_account(deal, line.source)), D(0))  # fmt: skip
        start = before.get(posting_account(deal, line.source), D(0)) - moved
        assert start + running[posting_account(deal, line.source)] == 0, line


def posted_signature(events: list[RecordedEvent]) -> list[tuple[Any, ...]]:
    return [(e.type, e.idempotency_key, e.effective_date, e.data) for e in events]


def planned_signature(results: list[CycleResult]) -> list[tuple[Any, ...]]:
    return [
        (e.type, e.idempotency_key, e.effective_date, e.data) for r in results for e in r.events
    ]


# ------------------------------------------------------------------------------ BYD (004)


def test_byd_fourteen_payment_dates_with_acceleration(
    store: ProjectedStore, byd_setup: Callable[..., DealDefinition]
) -> None:
    deal = byd_setup()
    until = dt.date(2022, 11, 30)
    results = run_due(store, deal.deal_id, until)
    assert len(results) == 14
    assert all(r.status == "posted" for r in results)
    modes = [r.mode for r in results]
    # defaults posted in collection period 5 (Jan 2022) → acceleration (e) from the Feb 2022 PD
    assert modes[:4] == ["normal"] * 4
    assert set(modes[4:]) == {"accelerated"}, modes
    ws = waterfalls(store, deal.deal_id)
    assert [w.payment_date for w in ws] == [r.payment_date for r in results]
    for w in ws:
        check_payment_date(store, deal, w)
    # the trigger evaluation is recorded with its inputs and stays in effect (sticky)
    evaluated = [
        e.event for e in store.read(deal.deal_id, types=["TriggerEvaluated"])
        if e.data["trigger_id"] == "acc_e_cumulative_defaults"
    ]  # fmt: skip
    assert len(evaluated) == 14
    first = next(i for i, e in enumerate(evaluated) if e.in_effect)  # type: ignore[attr-defined]
    assert first == 4
    hit = evaluated[first]
    assert hit.breached and hit.sticky and hit.threshold == D("0.015")  # type: ignore[attr-defined]
    # three loans default after 7 instalments: 3 × 80,555.54 / 4,000,000 (L2670)
    defaulted = 3 * (LOAN - 7 * MONTHLY_PRINCIPAL)
    assert hit.value == (defaulted / POOL).quantize(D("0.0000000001"))  # type: ignore[attr-defined]
    assert all(e.in_effect for e in evaluated[first:])  # type: ignore[attr-defined]
    # senior interest accrued on the opening balance over the interest period (L1811-1818)
    accrued = [e.event for e in store.read(deal.deal_id, types=["InterestAccrued"])]
    first_interest = accrued[0]
    assert first_interest.interest_period_start == dt.date(2021, 9, 15)  # type: ignore[attr-defined]
    senior = deal.notes["senior"].amount
    assert first_interest.accrued == round_fen(senior * D("0.03") * 41 / 365)  # type: ignore[attr-defined]
    # note balances decrease; the notes projection agrees with the last waterfall
    rows = fold_all(NotesProjection(), store.read(deal.deal_id))
    last = ws[-1]
    for n in last.notes:
        row = rows[f"note:{n.note_id}"].row
        assert D(row["balance"]) == n.closing
    assert D(rows["note:senior"].row["balance"]) < senior
    assert D(rows["note:senior"].row["factor"]) == (
        D(rows["note:senior"].row["balance"]) / senior
    ).quantize(D("0.0000000001"))
    assert rows["trigger:acc_e_cumulative_defaults"].row["in_effect"] is True
    # a second run posts nothing
    before = store.head(deal.deal_id)
    assert run_due(store, deal.deal_id, until) == []
    assert store.head(deal.deal_id) == before
    # a single date already posted
    again = run_cycle(store, deal.deal_id, results[3].payment_date)
    assert again.status == "already_posted"
    assert store.head(deal.deal_id) == before
    # the live projections equal a rebuild
    assert store.runner.compare(store, deal.deal_id) == []


def test_byd_dry_run_posts_nothing_and_equals_the_posted_cycles(
    store: ProjectedStore, byd_setup: Callable[..., DealDefinition]
) -> None:
    deal = byd_setup()
    until = dt.date(2022, 3, 31)
    head = store.head(deal.deal_id)
    planned = run_due(store, deal.deal_id, until, dry_run=True)
    assert [r.status for r in planned] == ["dry_run"] * 6
    assert store.head(deal.deal_id) == head
    posted = run_due(store, deal.deal_id, until)
    assert planned_signature(planned) == planned_signature(posted)
    assert planned_signature(planned) == posted_signature(cycle_events(store, deal.deal_id))


def test_byd_crash_inside_the_batch_leaves_no_cycle_then_rerun_posts_exactly_one(
    store: ProjectedStore,
    byd_setup: Callable[..., DealDefinition],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deal = byd_setup()
    until = dt.date(2022, 1, 31)
    real_append_batches = store.append_batches
    calls = {"n": 0}

    def crashing_append(new: Any, expected: Any = None, *, project: bool = True) -> AppendResult:
        if any(e.type == "CollectionPeriodClosed" for e in new):  # a cycle, not its seal
            calls["n"] += 1

        def boom(results: list[AppendResult]) -> None:
            # every row of the batch is written (and projected) when the process "dies"
            assert len(results[0].events) == len(new)
            if calls["n"] == 3 and new[0].type != "PeriodSealed":
                raise RuntimeError("killed mid-cycle")

        return real_append_batches([(new, expected or {})], project=project, before_commit=boom)[0]

    monkeypatch.setattr(store, "append", crashing_append)
    with pytest.raises(RuntimeError, match="killed mid-cycle"):
        run_due(store, deal.deal_id, until)
    monkeypatch.undo()
    closed = list(store.read(deal.deal_id, types=["CollectionPeriodClosed"]))
    assert len(closed) == 2  # the first two dates committed, the third left nothing
    kinds = {e.effective_date for e in cycle_events(store, deal.deal_id)}
    assert len(kinds) == 2
    results = run_due(store, deal.deal_id, until)
    assert [r.status for r in results] == ["posted"] * 2
    per_date: dict[dt.date, int] = {}
    for e in store.read(deal.deal_id, types=["CollectionPeriodClosed", "WaterfallExecuted"]):
        per_date[e.effective_date] = per_date.get(e.effective_date, 0) + 1
    assert list(per_date.values()) == [2] * 4
    assert store.runner.compare(store, deal.deal_id) == []


def test_byd_trustee_approval_stops_the_cycle_until_approved(
    store: ProjectedStore, byd_setup: Callable[..., DealDefinition]
) -> None:
    required = {"value": "1", "assumed": True, "comment": "test: trustee approves each cycle"}
    deal = byd_setup({"trustee_approval_required": required})
    until = dt.date(2021, 12, 31)
    head = store.head(deal.deal_id)
    pending = run_due(store, deal.deal_id, until)
    assert [r.status for r in pending] == ["pending_approval"]
    assert store.head(deal.deal_id) == head
    pd = pending[0].payment_date
    approve_cycle(store, deal.deal_id, pd, TRUSTEE)
    first = run_due(store, deal.deal_id, until)
    assert [r.status for r in first] == ["posted", "pending_approval"]
    assert planned_signature(pending) == planned_signature(first[:1])
    # or approve and post in one step
    second = run_cycle(store, deal.deal_id, first[1].payment_date, approve=True, who=TRUSTEE)
    assert second.status == "posted"
    assert second.recorded[0].type == "CycleApproved"


def test_run_cycle_refuses_to_skip_a_payment_date(
    store: ProjectedStore, byd_setup: Callable[..., DealDefinition]
) -> None:
    deal = byd_setup()
    schedule = deal_schedule(deal, dt.date(2021, 9, 15), dt.date(2022, 1, 31))
    with pytest.raises(ValueError, match="not posted yet"):
        run_cycle(store, deal.deal_id, schedule[2].payment_date)
    result = run_cycle(store, deal.deal_id, 1)
    assert result.status == "posted"
    assert result.payment_date == schedule[0].payment_date


# ------------------------------------------------------------------------------ Driver (001)


def test_driver_fourteen_payment_dates_revolving_amortising_and_ce_increase(
    store: ProjectedStore, driver_setup: Callable[[], DealDefinition]
) -> None:
    deal = driver_setup()
    until = dt.date(2023, 1, 31)
    results = run_due(store, deal.deal_id, until)
    assert len(results) == 14
    modes = [r.mode for r in results]
    # nothing is offered, so the revolving period only accumulates: the Accumulation Balance
    # exceeds 15% of the ADRB on the first two payment dates, Early Amortisation Event (b)
    # (L18813-18817) occurs with the second and the third (Feb 2022, the last one the calendar
    # would have kept revolving, L19916-19922) amortises
    assert modes[:2] == ["revolving"] * 2
    assert set(modes[2:]) == {"amortising"}
    ws = waterfalls(store, deal.deal_id)
    for w in ws:
        check_payment_date(store, deal, w)
    eae_b = trigger_records(store, deal.deal_id, "eae_b_accumulation")
    assert [(x["breached"], x["in_effect"]) for x in eae_b[:3]] == [
        (False, False), (True, False), (True, True)
    ]  # fmt: skip
    assert eae_b[1]["watch_evaluations"] == 1 and all(x["in_effect"] for x in eae_b[2:])
    # the accumulated cash is the Accumulation Balance the test reads on the next date
    determined = [e.data["values"] for e in store.read(deal.deal_id, types=["MetricsDetermined"])]
    for n in (1, 2):  # PD n reads PD n-1's balance: every item sixth credited so far
        credited = sum((s.paid for w in ws[:n] for s in w.steps if s.step_id == "sixth"), D(0))
        balance = D(determined[n]["last_pd.accounts.accumulation.closing"])
        assert balance == credited > D("0.15") * D(determined[n]["pool.adrb_start"])
    # the revolving period accumulates; the first amortising date closes the account
    assert any(s.step_id == "sixth" and s.paid > 0 for s in ws[0].steps)
    close = [s for s in ws[2].steps if s.step_id == "accumulation.close"]
    assert close and close[0].paid == sum(
        (s.paid for w in ws[:2] for s in w.steps if s.step_id == "sixth"), D(0)
    )
    # CE increase condition (CGLR > 1.2%) from the Feb 2022 PD, sticky; no CCA excess release
    ce = [
        e.data for e in store.read(deal.deal_id, types=["TriggerEvaluated"])
        if e.data["trigger_id"] == "eae_f_ce_increase"
    ]  # fmt: skip
    flags = [c["in_effect"] for c in ce]
    first = flags.index(True)
    assert first == 5  # collection period 6 = April 2022, PD 26 May 2022
    assert all(flags[first:]) and not any(flags[:first])
    for w in ws[first:]:
        assert all(s.skipped for s in w.steps if s.step_id.startswith("cca.release"))
    # the trigger reads the Cumulative Gross Loss Ratio on DRBs (L18684-18696), the pool
    # report's own figure for the month of each collection period end
    by_month = {p.period: p for p in pool_periods(store, deal.deal_id, deal)}
    period_end = {
        e.data["payment_date"]: e.data["collection_period_end"]
        for e in store.read(deal.deal_id, types=["CollectionPeriodClosed"])
    }
    assert len(period_end) == len(ce)
    for c in ce:
        month = by_month[period_end[c["payment_date"]][:7]]
        if month.cumulative_defaults:  # discounted basis: DRB at default, not principal
            assert month.default_ratio_numerator != month.cumulative_defaults
        assert D(c["value"]) == month.cumulative_default_ratio, c["payment_date"]
    # Class A amortises, Sub never below its floor before the clean-up call
    rows = fold_all(NotesProjection(), store.read(deal.deal_id))
    a = D(rows["note:class_a"].row["balance"])
    s = D(rows["note:sub"].row["balance"])
    assert a < deal.notes["class_a"].amount
    assert s >= round_fen(a * D("0.05") / D("0.95")) - D("0.01")
    assert run_due(store, deal.deal_id, until) == []
    assert store.runner.compare(store, deal.deal_id) == []


def test_driver_dry_run_equals_posted(
    store: ProjectedStore, driver_setup: Callable[[], DealDefinition]
) -> None:
    deal = driver_setup()
    until = dt.date(2022, 6, 30)
    head = store.head(deal.deal_id)
    planned = run_due(store, deal.deal_id, until, dry_run=True)
    assert store.head(deal.deal_id) == head
    posted = run_due(store, deal.deal_id, until)
    assert len(posted) == 7
    assert planned_signature(planned) == planned_signature(posted)


def test_driver_clean_up_call_when_elected_repays_every_note(
    store: ProjectedStore, tmp_path: Path
) -> None:
    # clean-up threshold raised so the call is available on the first amortising date
    high = {"value": "0.95", "source": "test: clean-up available early"}
    path = scaled_deal("001_driver_china_13.yaml", tmp_path, {"clean_up_pct": high})
    load_deal(store, path)
    deal = deal_in_force(store, "driver_china_13")
    issue_notes(store, deal.deal_id, who=TRUSTEE)
    store.append(servicing_events(deal.deal_id, deal.calendar.cut_off_date, 8, {}))
    # not elected: the condition holds but nothing is exercised
    planned = run_due(store, deal.deal_id, dt.date(2022, 3, 31), dry_run=True)
    assert not any(e.type == "CleanUpCallExercised" for r in planned for e in r.events)
    elect_clean_up_call(store, deal.deal_id, dt.date(2021, 12, 1), who=TRUSTEE)
    results = run_due(store, deal.deal_id, dt.date(2022, 4, 30))
    calls = [(r.payment_date, e) for r in results for e in r.events
             if e.type == "CleanUpCallExercised"]  # fmt: skip
    # revolving dates cannot be called (condition "not defs.revolving", L18472-18490)
    assert len(calls) == 1 and calls[0][0] == results[3].payment_date
    after = balances_until(store, deal.deal_id, calls[0][0])
    assert after.get("pool:principal", D(0)) == 0
    ws = waterfalls(store, deal.deal_id)
    for w in ws:
        check_payment_date(store, deal, w)
    closing = {n.note_id: n.closing for n in ws[3].notes}
    # the call lifts the 5% Sub floor (L3731-3737): every note is repaid
    assert closing == {"class_a": D("0.00"), "sub": D("0.00")}
    evaluated = [e.data for e in store.read(deal.deal_id, types=["TriggerEvaluated"])
                 if e.data["trigger_id"] == "clean_up_exercised"]  # fmt: skip
    assert [x["in_effect"] for x in evaluated] == [False, False, False, True, True]
    assert run_due(store, deal.deal_id, dt.date(2022, 4, 30)) == []


def test_byd_event_of_default_declared_switches_to_post_default(
    store: ProjectedStore, byd_setup: Callable[..., DealDefinition]
) -> None:
    deal = byd_setup()
    run_due(store, deal.deal_id, dt.date(2021, 12, 31))
    declare_event(store, deal.deal_id, "event_of_default", dt.date(2022, 1, 5),
                  "holders_resolution", "resolution 2022-01", who=TRUSTEE)  # fmt: skip
    results = run_due(store, deal.deal_id, dt.date(2022, 3, 31))
    assert [r.mode for r in results] == ["post_default"] * 3
    for w in waterfalls(store, deal.deal_id):
        check_payment_date(store, deal, w)
    ws = waterfalls(store, deal.deal_id)[3:]
    # pooled order (TC 9.3, L1007-1018): everything through the collection account
    assert all(not any(s.paid for s in w.steps if s.step_id.startswith("income.")) for w in ws)


@pytest.mark.parametrize(
    ("src", "closing"),
    [
        # 000's issue date is 'expected in end of Sep 2023' (L99): 2023-09-27 assumed
        ("000_weshare_lease_abn.yaml", dt.date(2023, 9, 27)),
        ("002_xinrong_2024_1.yaml", None),
        ("003_wenhui_2024_1.yaml", None),
    ],
)
def test_other_seed_deals_run_thirteen_payment_dates(
    store: ProjectedStore, tmp_path: Path, src: str, closing: dt.date | None
) -> None:
    """Seeds 000, 002 and 003 through 13 payment dates with the invariants of every date (their
    RMB parameters — every parameter of 10,000 or more — scaled to the test pool)."""
    deal = seed_deal(store, tmp_path, src, closing, {8: 3})
    first = deal.calendar.first_payment_date
    until = dt.date(*add_months(first.year, first.month, 12), 28)
    results = run_due(store, deal.deal_id, until)
    assert len(results) == 13 and all(r.status == "posted" for r in results)
    ws = waterfalls(store, deal.deal_id)
    for w in ws:
        check_payment_date(store, deal, w)
    assert all(n.closing <= n.original for n in ws[-1].notes)
    assert run_due(store, deal.deal_id, until) == []
    assert store.runner.compare(store, deal.deal_id) == []


def test_concurrent_runs_post_each_cycle_once(
    store: ProjectedStore, byd_setup: Callable[..., DealDefinition]
) -> None:
    """A run that planned its cycles before another run posted them finds them already posted
    (same keys, same content) and posts nothing twice."""
    from ledger.cycle import walk

    deal = byd_setup()
    until = dt.date(2021, 12, 31)
    stale = walk.DueWalk(store, deal.deal_id, until)
    periods = stale.periods()
    period, state = next(periods)
    assert state is not None
    other = run_due(store, deal.deal_id, until)
    assert [r.status for r in other] == ["posted"] * 3
    head = store.head(deal.deal_id)
    first = walk.run_one(stale, period, state, False, None)
    assert first.status == "already_posted"
    rest = [walk.run_one(stale, p, s, False, None) for p, s in periods if s is not None]
    assert [r.status for r in rest] == ["already_posted"] * 2
    assert store.head(deal.deal_id) == head


def test_trigger_window_is_carried_from_one_payment_date_to_the_next(
    store: ProjectedStore, tmp_path: Path
) -> None:
    """A breach that must hold on two consecutive evaluations takes effect one date later; the
    pending change is recorded in TriggerEvaluated and carried by the notes projection."""
    path = scaled_deal("004_byd_2021_2.yaml", tmp_path)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["triggers"]["acc_e_cumulative_defaults"]["breach_evaluations"] = 2
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    load_deal(store, path)
    deal = deal_in_force(store, "byd_2021_2")
    issue_notes(store, deal.deal_id, dt.date(2021, 9, 15), who=TRUSTEE)
    store.append(servicing_events(deal.deal_id, deal.calendar.cut_off_date, 10, {7: 3}))
    results = run_due(store, deal.deal_id, dt.date(2022, 4, 30))
    assert [r.mode for r in results] == ["normal"] * 5 + ["accelerated"] * 2
    evaluated = [
        e.data for e in store.read(deal.deal_id, types=["TriggerEvaluated"])
        if e.data["trigger_id"] == "acc_e_cumulative_defaults"
    ]  # fmt: skip
    assert [(x["breached"], x["in_effect"]) for x in evaluated[3:]] == [
        (False, False), (True, False), (True, True), (True, True),
    ]  # fmt: skip
    assert evaluated[4]["watch_evaluations"] == 1 and evaluated[4]["watch_since"] is not None
    assert evaluated[5]["watch_since"] is None


def trigger_records(store: ProjectedStore, deal_id: str, trigger_id: str) -> list[dict[str, Any]]:
    return [
        e.data for e in store.read(deal_id, types=["TriggerEvaluated"])
        if e.data["trigger_id"] == trigger_id
    ]  # fmt: skip


# ------------------------------------------------------------------------------ 温惠 (003)


def test_wenhui_thirteen_payment_dates_cumulative_default_ratio_accelerates(
    store: ProjectedStore, tmp_path: Path
) -> None:
    """Seed 003 through 13 payment dates: six loans defaulting in September 2024 (collection
    period 7, 2024-09-01..30) take the cumulative default ratio above 10% at that period end
    (acceleration (e), L927; ratio = cumulative defaults / initial pool balance) → the
    accelerated order of clause 11.5 (L228) from the 2024-10-28 支付日 on, sticky."""
    deal = seed_deal(store, tmp_path, "003_wenhui_2024_1.yaml", None, {8: 6})
    until = dt.date(2025, 4, 30)
    results = run_due(store, deal.deal_id, until)
    assert len(results) == 13 and all(r.status == "posted" for r in results)
    dates = [r.payment_date for r in results]
    assert dates[0] == dt.date(2024, 4, 26) and dates[-1] == dt.date(2025, 4, 27)
    modes = [r.mode for r in results]
    # 2024-10-26 is a Saturday: the 7th 支付日 rolls to Monday 2024-10-28 (following)
    assert dates[6] == dt.date(2024, 10, 28)
    assert modes[:6] == ["normal"] * 6
    assert modes[6:] == ["accelerated"] * 7
    ws = waterfalls(store, deal.deal_id)
    assert [w.payment_date for w in ws] == dates
    for w in ws:
        check_payment_date(store, deal, w)
    evaluated = trigger_records(store, deal.deal_id, "acc_e_cumulative_defaults")
    assert [x["payment_date"] for x in evaluated] == [d.isoformat() for d in dates]
    assert [x["in_effect"] for x in evaluated] == [False] * 6 + [True] * 7
    assert not any(x["breached"] for x in evaluated[:6])
    assert all(D(x["value"]) == 0 for x in evaluated[:6])
    hit = evaluated[6]
    # six loans default after 8 instalments: 6 × 77,777.76 / 4,000,000 = 11.666664% > 10%
    ratio = (6 * (LOAN - 8 * MONTHLY_PRINCIPAL) / POOL).quantize(D("0.0000000001"))
    assert ratio == D("0.1166666400")
    assert hit["as_of"] == "2024-10-18"  # determination date, 6 business days before
    assert (hit["metric"], hit["comparison"], D(hit["threshold"])) == (
        "pool.cumulative_default_ratio", ">", D("0.10"),
    )  # fmt: skip
    assert D(hit["value"]) == ratio
    assert {k: D(v) for k, v in hit["inputs"].items()} == {"pool.cumulative_default_ratio": ratio}
    assert hit["breached"] and hit["in_effect"] and not hit["was_in_effect"] and hit["sticky"]
    assert all(x["in_effect"] and x["was_in_effect"] for x in evaluated[7:])
    rows = fold_all(NotesProjection(), store.read(deal.deal_id))
    assert rows["trigger:acc_e_cumulative_defaults"].row["in_effect"] is True
    assert all(n.closing <= n.original for n in ws[-1].notes)
    assert run_due(store, deal.deal_id, until) == []
    assert store.runner.compare(store, deal.deal_id) == []


# ------------------------------------------------------------------------------ WeShare (000)


def test_weshare_thirteen_payment_dates_event_of_default_declared(
    store: ProjectedStore, tmp_path: Path
) -> None:
    """Seed 000 has no metric trigger (rule sheet §8: no cumulative-default or delinquency
    trigger; EoD-1/2 need a senior interest or legal-maturity principal failure, which a pool
    with these defaults does not produce): the holders declare the event of default (EoD-3,
    L182-183) after the sixth payment date; the post-EoD order applies from the seventh."""
    closing = dt.date(2023, 9, 27)
    deal = seed_deal(store, tmp_path, "000_weshare_lease_abn.yaml", closing, {8: 3})
    before = run_due(store, deal.deal_id, dt.date(2024, 3, 31))
    assert [r.mode for r in before] == ["normal"] * 6
    declare_event(store, deal.deal_id, "event_of_default", dt.date(2024, 4, 8),
                  "holders_resolution", "resolution 2024-04", who=TRUSTEE)  # fmt: skip
    until = dt.date(2024, 10, 31)
    after = run_due(store, deal.deal_id, until)
    results = before + after
    assert len(results) == 13 and all(r.status == "posted" for r in results)
    dates = [r.payment_date for r in results]
    assert dates[0] == dt.date(2023, 10, 27) and dates[-1] == dt.date(2024, 10, 28)
    assert dates[5:7] == [dt.date(2024, 3, 27), dt.date(2024, 4, 28)]
    assert [r.mode for r in after] == ["post_default"] * 7
    ws = waterfalls(store, deal.deal_id)
    assert [w.payment_date for w in ws] == dates
    for w in ws:
        check_payment_date(store, deal, w)
    evaluated = trigger_records(store, deal.deal_id, "event_of_default")
    assert [x["payment_date"] for x in evaluated] == [d.isoformat() for d in dates]
    assert [x["in_effect"] for x in evaluated] == [False] * 6 + [True] * 7
    hit = evaluated[6]
    assert hit["declared"] and hit["breached"] and not hit["was_in_effect"] and hit["sticky"]
    # a declared trigger has no metric, threshold or inputs: the declaration is the result
    assert hit["as_of"] == "2024-04-22"  # determination date, 5 business days before
    assert (hit["metric"], hit["value"], hit["threshold"], hit["inputs"]) == (None, None, None, {})
    assert all(x["in_effect"] and x["was_in_effect"] for x in evaluated[7:])
    assert next(n for n in ws[6].notes if n.note_id == "A").closing > 0
    # post-EoD (L183): Class B principal waits until Class A is repaid
    for w in ws[6:]:
        a, b = (next(n for n in w.notes if n.note_id == k) for k in ("A", "B"))
        if a.closing > 0:
            assert b.closing == b.opening, w.payment_date
    rows = fold_all(NotesProjection(), store.read(deal.deal_id))
    assert rows["trigger:event_of_default"].row["in_effect"] is True
    assert run_due(store, deal.deal_id, until) == []
    assert store.runner.compare(store, deal.deal_id) == []
