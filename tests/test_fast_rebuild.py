"""The fast rebuild (projections/fast.py) equals the reference fold row for row, and payload-level
postings (projections/legs.py) equal the models' ``legs()``.

The reference (``Projection.changes/apply/fold``) is the definition: ``rebuild_reference`` folds
each projection event by event. Checked on both backends over a simulated deal history with
defaults, recoveries, write-offs, repurchases, delinquency reports, reversals, remittances, raw
payloads not in dumped form and payment-date cycles; and without a database over random histories
(hypothesis).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.catalogue import CollectionReceived, EventReversed
from events.envelope import NewEvent, RecordedEvent
from events.model import event_class, load_event
from events.servicing import (
    CollectionsRemitted,
    LoanBoarded,
    LoanDefaulted,
    LoanDelinquencyReported,
    LoanRepurchased,
    LoanWrittenOff,
    PoolBoarded,
    RecoveryReceived,
)
from ledger.cycle.walk import run_due
from ledger.servicing.operator import negate_entries
from projections import fast
from projections.base import Projection, State
from projections.fast import default_parts, fast_rebuild, fold_parts, fold_rows, parallel_rebuild
from projections.fast_rows import LOAN_STREAM, Unpartitionable, serves
from projections.legs import PAYLOAD_LEGS, payload_legs
from projections.loans import LoanProjection
from projections.notes import NotesProjection
from projections.pool import PoolProjection
from projections.remittance import RemittanceProjection
from projections.runner import ProjectionRunner, normal_json
from projections.store import ProjectedStore
from tests.helpers import posted_by
from tests.test_cycle import seed_deal

D = Decimal


def same_rows(fast: dict[str, State], ref: dict[str, State]) -> None:
    assert set(fast) == set(ref)
    for name, rows in ref.items():
        got = fast[name]
        assert set(got) == set(rows), name
        for key, v in rows.items():
            assert (normal_json(got[key].row), got[key].last_seq) == (
                normal_json(v.row),
                v.last_seq,
            ), (
                name,
                key,
            )


# ------------------------------------------------------------------ a deal history, both backends


def _of(ev: Any, deal_id: str, day: dt.date, key: str) -> NewEvent:
    reversed_type = getattr(ev, "reversed_type", None)
    return NewEvent.of(
        ev, deal_id=deal_id, stream_id=ev.default_stream(), effective_date=day,
        idempotency_key=key, **posted_by(ev.type_name, reversed_type),
    )  # fmt: skip


def _raw(deal_id: str, type_: str, data: dict[str, Any], day: dt.date, key: str) -> NewEvent:
    """A payload as an import of exported history may carry it: validated, stored as given."""
    stream = f"loan-{data['loan_id']}" if "loan_id" in data else "deal"
    return NewEvent(
        deal_id=deal_id,
        stream_id=stream,
        type=type_,
        schema_version=event_class(type_).schema_version,
        data=data,
        effective_date=day,
        idempotency_key=key,
        **posted_by(type_),
    )


def _reversal(original: RecordedEvent, key: str) -> NewEvent:
    ev = EventReversed(
        reversed_event_id=original.event_id,
        reversed_type=original.type,
        reversed_data=original.data,
        reason="posted in error",
        reversed_entries=negate_entries(original.event),
    )
    return _of(ev, original.deal_id, original.effective_date, key)


def history(store: ProjectedStore, tmp: Path) -> str:
    """BYD scaled to 40 loans, 16 months of servicing with defaults, then recoveries, write-offs,
    repurchases, delinquency reports, raw payloads, reversals and the payment dates."""
    deal = seed_deal(store, tmp, "004_byd_2021_2.yaml", dt.date(2021, 9, 15), {5: 3, 9: 2})
    d = deal.deal_id
    day = dt.date(2022, 9, 20)
    extra = [
        _of(
            RecoveryReceived(
                loan_id="L0000", value_date=day, principal=D("5000.00"), interest=D("120.50")
            ),
            d,
            day,
            "rec-0",
        ),
        _of(RecoveryReceived(loan_id="L0001", value_date=day, amount=D("700.00")), d, day, "rec-1"),
        _of(LoanWrittenOff(loan_id="L0002", value_date=day, amount=D("1000.00")), d, day, "wo-2"),
        _of(
            LoanRepurchased(
                loan_id="L0010",
                value_date=day,
                reason="breach",
                price=D("50010.00"),
                principal=D("50000.00"),
            ),
            d,
            day,
            "rep-10",
        ),
        _of(
            LoanRepurchased(
                loan_id="L0003",
                value_date=day,
                reason="breach",
                price=D("10.00"),
                principal=D("20.00"),
                from_defaulted=True,
            ),
            d,
            day,
            "rep-3",
        ),
        _of(
            LoanDelinquencyReported(loan_id="L0011", value_date=day, days_past_due=45),
            d,
            day,
            "dq-11",
        ),
        _of(
            LoanDelinquencyReported(loan_id="L0012", value_date=day, days_past_due=95),
            d,
            day,
            "dq-12",
        ),
        _of(
            CollectionReceived(
                loan_id="L0011", value_date=day, principal=D("100.00"), fees=D("3.00")
            ),
            d,
            day,
            "col-11",
        ),
        _of(
            CollectionReceived(
                loan_id="L0013", value_date=day, prepayment=True, principal=D("30000.00")
            ),
            d,
            day,
            "pre-13",
        ),
        _raw(
            d,
            "CollectionReceived",
            {
                "loan_id": "L0014",
                "value_date": day.isoformat(),
                "principal": "100",
                "interest": "5.000",
                "fees": 0,
            },
            day,
            "raw-14",
        ),
        _raw(
            d,
            "CollectionReceived",
            {
                "loan_id": "L0015",
                "value_date": day.isoformat(),
                "principal": "12.5",
                "interest": "0.000",
            },
            day,
            "raw-15",
        ),
        _raw(
            d,
            "LoanDelinquencyReported",
            {"loan_id": "L0015", "value_date": day.isoformat(), "days_past_due": 31},
            day,
            "raw-dq-15",
        ),
        _of(CollectionsRemitted(value_date=day, amount=D("1.00")), d, day, "remit-x"),
    ]
    store.append(extra)
    originals = {
        e.idempotency_key: e
        for e in store.read(
            d,
            types=[
                "RecoveryReceived",
                "CollectionReceived",
                "LoanDelinquencyReported",
                "LoanDefaulted",
            ],
        )
    }
    keys = ["rec-1", "col-11", "dq-12", "raw-14", "default:L0004"]
    store.append([_reversal(originals[k], f"rev-{k}") for k in keys])
    run_due(store, d, dt.date(2022, 3, 31))
    return d


RUNNER_CASES: list[Callable[[], list[Projection[Any]]]] = [
    lambda: ProjectionRunner.default().projections,
    lambda: [PoolProjection()],
    lambda: [LoanProjection(), RemittanceProjection()],
    lambda: [NotesProjection(), ProjectionRunner.default().projections[0]],
]


def test_fast_rebuild_equals_the_reference_fold(store: ProjectedStore, tmp_path: Path) -> None:
    deal_id = history(store, tmp_path)
    kinds = {e.type for e in store.read(deal_id)}
    assert {"EventReversed", "WaterfallExecuted", "RecoveryReceived", "LoanRepurchased"} <= kinds
    for case in RUNNER_CASES:
        runner = ProjectionRunner(case())
        assert serves(runner.projections)
        same_rows(runner.rebuild(store, deal_id), runner.rebuild_reference(store, deal_id))
    runner = ProjectionRunner.default()
    head, _ = store.head(deal_id)
    for bounds in (
        {"until_seq": head // 2},
        {"after_seq": 100},
        {"effective_to": dt.date(2022, 1, 31)},
        {"types": ["CollectionReceived", "LoanBoarded"]},
    ):
        fast, ref = (
            runner.rebuild(store, deal_id, **bounds),
            runner.rebuild_reference(store, deal_id, **bounds),
        )
        same_rows(fast, ref)
    # and the live rows (kept by the reference changes at each append) agree with both
    assert runner.compare(store, deal_id) == []


@pytest.mark.parametrize("parts", [2, 3])
def test_rebuild_in_parallel_parts_equals_the_reference(
    store: ProjectedStore, tmp_path: Path, parts: int
) -> None:
    """PostgreSQL: the parts run in processes of their own and are merged (the same rows as the
    reference, within bounds too); SQLite has no parallel reader: the rebuild folds in one."""
    deal_id = history(store, tmp_path)
    runner = ProjectionRunner.default()
    head, _ = store.head(deal_id)
    for bounds in ({}, {"until_seq": head // 2}, {"effective_to": dt.date(2022, 1, 31)}):
        ref = runner.rebuild_reference(store, deal_id, **bounds)
        if store.dialect == "postgresql":
            same_rows(parallel_rebuild(store, deal_id, runner.projections, bounds, parts), ref)
        else:
            with pytest.raises(Unpartitionable):
                parallel_rebuild(store, deal_id, runner.projections, bounds, parts)
        same_rows(fast_rebuild(store, deal_id, runner.projections, parts=parts, **bounds), ref)


# ------------------------------------------------------------------ random histories, no database

LOANS = ["A", "B", "C"]
_MONEY = st.integers(min_value=0, max_value=5_000_00)


def _text(cents: int, form: int) -> Any:
    """A money amount in a form a model accepts: dumped (two decimals), or raw (more zeros, no
    decimals, a JSON number)."""
    v = D(cents) / 100
    if form == 0 or cents % 100:
        return str(v.quantize(D("0.01"))) if form != 3 else str(v.quantize(D("0.001")))
    return [
        str(v.quantize(D("0.01"))),
        str(cents // 100),
        str(v.quantize(D("0.001"))),
        cents // 100,
    ][form]


@st.composite
def events_(draw: st.DrawFn) -> list[tuple[str, dict[str, Any], str]]:
    out: list[tuple[str, dict[str, Any], str]] = []
    days = ["2024-01-10", "2024-01-31", "2024-02-05", "2024-03-15"]
    for lid in LOANS:
        out.append(
            (
                "LoanBoarded",
                {
                    "loan_id": lid,
                    "borrower_id": "b",
                    "origination_date": "2023-01-01",
                    "maturity_date": "2026-06-15",
                    "original_principal": "9000.00",
                    "outstanding_principal": _text(
                        draw(st.integers(0, 9000_00)), draw(st.integers(0, 3))
                    ),
                    "interest_rate": draw(st.sampled_from(["0.05", "0.0435", "0.1"])),
                    "amortization": "annuity",
                    "payment_day": 15,
                    "remaining_term_months": 30,
                    "days_past_due": draw(st.integers(0, 100)),
                    "cut_off_date": "2023-12-31",
                    "extra": {},
                },
                "2023-12-31",
            )
        )
    n = draw(st.integers(1, 30))
    for _ in range(n):
        lid = draw(st.sampled_from(LOANS))
        day = draw(st.sampled_from(days))
        kind = draw(
            st.sampled_from(
                ["CollectionReceived"] * 5
                + ["LoanDelinquencyReported"] * 2
                + [
                    "LoanDefaulted",
                    "RecoveryReceived",
                    "LoanWrittenOff",
                    "LoanRepurchased",
                    "CollectionsRemitted",
                    "reversal",
                ]
            )
        )
        form = draw(st.sampled_from([0, 0, 0, 1, 2, 3]))

        def m(form: int = form) -> Any:
            return _text(draw(_MONEY), form)

        if kind == "CollectionReceived":
            data = {
                "loan_id": lid,
                "value_date": day,
                "principal": m(),
                "interest": m(),
                "fees": draw(st.sampled_from(["0.00", "1.50"])),
                "prepayment": draw(st.booleans()),
            }
        elif kind == "LoanDelinquencyReported":
            data = {"loan_id": lid, "value_date": day, "days_past_due": draw(st.integers(0, 120))}
        elif kind == "LoanDefaulted":
            data = {"loan_id": lid, "value_date": day, "principal": m(), "days_past_due": 91}
        elif kind == "RecoveryReceived":
            p, i = draw(_MONEY) + 1, draw(_MONEY)
            data = {
                "loan_id": lid,
                "value_date": day,
                "principal": _text(p, form),
                "interest": _text(i, form),
                "fees": "0.00",
                "amount": str((D(p + i) / 100).quantize(D("0.01"))),
                "written_off": draw(st.booleans()),
            }
        elif kind == "LoanWrittenOff":
            data = {"loan_id": lid, "value_date": day, "amount": m()}
        elif kind == "LoanRepurchased":
            data = {
                "loan_id": lid,
                "value_date": day,
                "reason": "r",
                "price": m(),
                "principal": m(),
                "from_defaulted": draw(st.booleans()),
            }
        elif kind == "CollectionsRemitted":
            data = {"value_date": day, "amount": m()}
        else:  # reverse an earlier event of the history
            earlier = draw(st.sampled_from(out))
            if earlier[0] == "EventReversed":
                continue
            ev = load_event(earlier[0], event_class(earlier[0]).schema_version, earlier[1])
            data = {
                "reversed_event_id": "x",
                "reversed_type": earlier[0],
                "reversed_data": earlier[1],
                "reason": "error",
                "reversed_entries": [e.model_dump(mode="json") for e in negate_entries(ev)],
            }
            kind = "EventReversed"
        out.append((kind, data, day))
    return out


def _recorded(seq: int, kind: str, data: dict[str, Any], day: str) -> RecordedEvent:
    return RecordedEvent(
        seq,
        f"e{seq}",
        "X",
        seq,
        "s",
        seq,
        kind,
        event_class(kind).schema_version,
        dt.date.fromisoformat(day),
        dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        "a",
        "r",
        f"k{seq}",
        None,
        None,
        data,
        "",
        "",
        [],
    )


@settings(max_examples=300)
@given(events_())
def test_fast_fold_equals_reference_on_random_histories(
    history_: list[tuple[str, dict[str, Any], str]],
) -> None:
    rows = [
        (seq, kind, event_class(kind).schema_version, day, data)
        for seq, (kind, data, day) in enumerate(history_, start=1)
    ]
    recorded = [_recorded(*r[:2], r[4], r[3]) for r in rows]
    projections = ProjectionRunner.default().projections
    ref: dict[str, State] = {p.name: {} for p in projections}
    for e in recorded:
        for p in projections:
            p.fold(ref[p.name], e)
    same_rows(fold_rows("X", projections, rows), ref)


def _loan_of(kind: str, data: dict[str, Any]) -> str | None:
    if kind == "EventReversed":
        return data["reversed_data"].get("loan_id")  # type: ignore[no-any-return]
    return data.get("loan_id")


@settings(max_examples=300)
@given(events_(), st.integers(2, 3), st.data())
def test_folding_in_parts_equals_the_reference_on_random_histories(
    history_: list[tuple[str, dict[str, Any], str]], parts: int, draw: st.DataObject
) -> None:
    """Loans split between parts (a loan's events in its stream, or some in the deal's, which
    every part reads), amounts and rates printed with any exponent: the merged rows are the
    reference's, ``last_seq`` included."""
    rows = []
    for seq, (kind, data, day) in enumerate(history_, start=1):
        lid = _loan_of(kind, data)
        stream = "deal" if lid is None else draw.draw(st.sampled_from([LOAN_STREAM + lid, "deal"]))
        rows.append((seq, kind, event_class(kind).schema_version, day, data, stream))
    projections = ProjectionRunner.default().projections
    ref: dict[str, State] = {p.name: {} for p in projections}
    for seq, kind, _, day, data, _ in rows:
        for p in projections:
            p.fold(ref[p.name], _recorded(seq, kind, data, day))
    same_rows(fold_parts("X", projections, rows, parts), ref)


def test_a_loan_event_in_another_loans_stream_cannot_be_folded_in_parts() -> None:
    """Only the part owning a loan stream reads it: a change of another part's loan there would
    be lost, so the parts refuse (and ``fast_rebuild`` folds in one)."""
    boarded = {
        "loan_id": "B",
        "borrower_id": "b",
        "origination_date": "2023-01-01",
        "maturity_date": "2026-06-15",
        "original_principal": "9000.00",
        "outstanding_principal": "9000.00",
        "interest_rate": "0.05",
        "amortization": "annuity",
        "payment_day": 15,
        "remaining_term_months": 30,
        "days_past_due": 0,
        "cut_off_date": "2023-12-31",
        "extra": {},
    }
    v = event_class("LoanBoarded").schema_version
    projections = ProjectionRunner.default().projections
    row = (1, "LoanBoarded", v, "2023-12-31", boarded)
    fold_parts("X", projections, [(*row, "loan-B")], 2)  # its own stream: fine
    with pytest.raises(Unpartitionable, match="loan B outside its stream"):
        fold_parts("X", projections, [(*row, "loan-A")], 2)  # A (65) and B (66): other parts


# ------------------------------------------------------------------ payload-level postings

SAMPLES: dict[str, list[Any]] = {
    "LoanBoarded": [
        LoanBoarded(
            loan_id="L",
            borrower_id="B",
            origination_date=dt.date(2020, 1, 1),
            maturity_date=dt.date(2025, 1, 1),
            original_principal=D("100.00"),
            outstanding_principal=out,
            interest_rate=D("0.05"),
            amortization="annuity",
            payment_day=1,
            remaining_term_months=12,
            days_past_due=0,
            cut_off_date=dt.date(2021, 1, 1),
        )
        for out in (D("80.00"), D("0.00"))
    ],
    "PoolBoarded": [
        PoolBoarded(
            file_name="f",
            file_sha256="0" * 64,
            cut_off_date=dt.date(2021, 1, 1),
            loan_count=1,
            aggregate_principal=D("80.00"),
        )
    ],
    "CollectionReceived": [
        CollectionReceived(
            loan_id="L", value_date=dt.date(2021, 2, 1), principal=p, interest=i, fees=f
        )
        for p, i, f in [
            (D("1.00"), D("2.00"), D("3.00")),
            (D("0"), D("0"), D("0")),
            (D("5.00"), D("0"), D("0")),
            (D("0"), D("0"), D("0.50")),
        ]
    ],
    "LoanDelinquencyReported": [
        LoanDelinquencyReported(loan_id="L", value_date=dt.date(2021, 2, 1), days_past_due=30)
    ],
    "LoanDefaulted": [
        LoanDefaulted(loan_id="L", value_date=dt.date(2021, 2, 1), principal=p)
        for p in (D("70.00"), D("0.00"))
    ],
    "RecoveryReceived": [
        RecoveryReceived(loan_id="L", value_date=dt.date(2021, 2, 1), **kw)
        for kw in [
            dict[str, Any](amount=D("9.00")),
            {"principal": D("5.00"), "interest": D("1.00")},
            {"principal": D("5.00"), "fees": D("1.00"), "written_off": True},
            {"interest": D("2.00")},
        ]
    ],
    "LoanWrittenOff": [
        LoanWrittenOff(loan_id="L", value_date=dt.date(2021, 2, 1), amount=a)
        for a in (D("7.00"), D("0.00"))
    ],
    "LoanRepurchased": [
        LoanRepurchased(
            loan_id="L",
            value_date=dt.date(2021, 2, 1),
            reason="r",
            price=pr,
            principal=p,
            from_defaulted=fd,
        )
        for pr, p, fd in [
            (D("10.00"), D("9.00"), False),
            (D("8.00"), D("9.00"), True),
            (D("0.00"), D("0.00"), False),
            (D("9.00"), D("9.00"), False),
        ]
    ],
    "CollectionsRemitted": [
        CollectionsRemitted(value_date=dt.date(2021, 2, 1), amount=a) for a in (D("5.00"), D("0"))
    ],
}


def _exact(legs: list[tuple[str, Decimal]]) -> list[tuple[str, str]]:
    return [(a, str(x)) for a, x in legs]


@pytest.mark.parametrize("kind", sorted(PAYLOAD_LEGS))
def test_payload_legs_equal_the_models_legs(kind: str) -> None:
    assert set(SAMPLES) == set(PAYLOAD_LEGS)
    for model in SAMPLES[kind]:
        legs = payload_legs(kind, model.payload())
        assert legs is not None
        assert _exact(legs) == _exact(model.legs()), model
    # a payload not in dumped form is left to the model
    raw = dict(SAMPLES[kind][0].payload())
    for field in ("outstanding_principal", "principal", "amount", "price"):
        if isinstance(raw.get(field), str):
            raw[field] = raw[field].removesuffix(".00") or "0"
            if kind != "PoolBoarded":
                assert payload_legs(kind, raw) is None
            break


def test_parts_by_default(store: ProjectedStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """One part for a small deal or on SQLite; two on PostgreSQL from PARALLEL_FROM events on a
    machine with two CPUs; the environment variable decides when set."""
    monkeypatch.delenv("TRUST_LEDGER_REBUILD_PARTS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert default_parts(store, "none") == 1
    monkeypatch.setattr(fast, "PARALLEL_FROM", 0)
    assert default_parts(store, "none") == (2 if store.dialect == "postgresql" else 1)
    monkeypatch.setenv("TRUST_LEDGER_REBUILD_PARTS", "3")
    assert default_parts(store, "none") == 3
    for bad in ("two", "0"):
        monkeypatch.setenv("TRUST_LEDGER_REBUILD_PARTS", bad)
        with pytest.raises(ValueError, match="TRUST_LEDGER_REBUILD_PARTS"):
            default_parts(store, "none")
