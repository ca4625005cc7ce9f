"""The payment-date cycle's shell: the walk over due dates.

**Shell.** :func:`run_cycle` and :func:`run_due` read the deal's events, fold them
(:class:`~ledger.cycle.state.CycleFolder`), plan and append each cycle as **one atomic batch**:
the deterministic keys make a rerun post nothing, and a failure leaves the whole cycle or none.
A deal with the parameter ``trustee_approval_required`` = 1 stops at ``pending_approval`` until a
:class:`CycleApproved` for the payment date is posted (:func:`~ledger.cycle.acts.approve_cycle`, or
``approve=``).

**Who.** A cycle is posted by ``who``, a trustee (:mod:`events.policy`): the person who ran it
(``run-due --as``, ``POST .../run-due``) or, when nobody is named, :data:`SCHEDULER`, the
trustee's scheduler. After each cycle posted, ``who`` seals the period
(:func:`ledger.cycle.seal.seal_period`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import pairwise
from operator import itemgetter
from typing import Any, Literal

from events.cycle import (
    CYCLE_STREAM,
    CycleApproved,
)
from events.envelope import NewEvent, RecordedEvent
from events.policy import Identity
from ledger.core.calendar import SchedulePeriod
from ledger.core.expr import ExprError
from ledger.cycle.determinations import adrb_start_date
from ledger.cycle.plan import approval_required, plan_cycle
from ledger.cycle.schedule import CycleError, deal_schedule, determination_date
from ledger.cycle.seal import seal_last_posted, seal_period
from ledger.cycle.state import CycleFolder, DeterminationState
from ledger.deal.loader import locate
from ledger.deal.schema import DealDefinition
from ledger.servicing.deals import deal_in_force
from ledger.waterfall import WaterfallError
from projections.fast import read_rows
from projections.fast_rows import EventRow, recorded_of, row_of
from projections.store import ProjectedStore

Status = Literal["posted", "already_posted", "dry_run", "pending_approval"]

SCHEDULER = Identity("scheduler", "trustee")
"""Who posts a cycle when no person is named: the trustee's scheduler."""


# ================================================================================== the shell


@dataclass(frozen=True)
class CycleResult:
    """One payment date's outcome: ``events`` are those posted (or, for a dry run or a cycle
    pending approval, those that would be)."""

    deal_id: str
    payment_date: dt.date
    period_index: int
    status: Status
    events: tuple[NewEvent, ...] = ()
    recorded: tuple[RecordedEvent, ...] = ()
    mode: str | None = None
    data: dict[str, object] = field(default_factory=dict)


def _as_recorded(new: NewEvent, seq: int) -> RecordedEvent:
    """A planned event as the folder sees a stored one (dry runs plan the next dates on it)."""
    return RecordedEvent(
        position=0, event_id=new.event_id, deal_id=new.deal_id, deal_seq=seq,
        stream_id=new.stream_id, stream_version=0, type=new.type,
        schema_version=new.schema_version, effective_date=new.effective_date,
        recorded_at=datetime(1970, 1, 1, tzinfo=UTC), actor=new.actor, role=new.role,
        idempotency_key=new.idempotency_key, correlation_id=None, causation_id=None,
        data=new.data, prev_hash="", hash="", model_cache=[new.model] if new.model else [],
    )  # fmt: skip


_LOOKBACK = 3
"""Period ends a planned date's figures look back to beyond its own (at least)."""


def _lookback(deal: DealDefinition) -> int:
    """Period ends before the first due date that take their loan-level figures: the longest
    average a formula metric takes (seed 004 L2637: 3 periods), and one more."""
    longest = max((m.average_of_periods or 1 for m in deal.metrics.values()), default=1)
    return max(_LOOKBACK, longest)


def formula_error(deal: DealDefinition, period: SchedulePeriod, exc: Exception) -> CycleError:
    """A formula that failed while a date was determined or planned, as the cycle's error: the
    formula's file and line, and that nothing of the date was posted (issue 13)."""
    path = getattr(exc, "path", None)
    what = f"payment date {period.payment_date} of deal {deal.deal_id} not posted"
    if path is None:
        return CycleError(f"{what}: {exc}")
    return CycleError(f"{what}: a formula failed at {locate(deal, path)}: {exc}")


def _nothing_due(store: ProjectedStore, deal: DealDefinition, until: dt.date) -> bool:
    """Whether every payment date up to ``until`` is posted (read from the cycle events only)."""
    closing = deal.calendar.closing_date
    posted: set[dt.date] = set()
    for e in store.read(deal.deal_id, types=["NotesIssued", "CollectionPeriodClosed"]):
        if e.type == "NotesIssued":
            closing = dt.date.fromisoformat(e.data["closing_date"])
        else:
            posted.add(dt.date.fromisoformat(e.data["payment_date"]))
    if closing is None:
        return False  # the walk reports the missing closing date
    return all(p.payment_date in posted for p in deal_schedule(deal, closing, until))


_EFFECTIVE_ORDER = itemgetter(3, 0)
"""An event row's place in the walk: effective date, then chain order."""


class DueWalk:
    """Folds a deal's events in effective order, period by period.

    The history is read as the replay reads it (:func:`projections.fast.read_rows`: only the
    columns a fold needs, payloads parsed by orjson) and kept as rows; each becomes an event
    only when it is fed (``benchmarks/cycle.py``, 84,427 loans: 12.2 s to 7.3 s a cycle)."""

    def __init__(
        self, store: ProjectedStore, deal_id: str, until: dt.date, who: Identity = SCHEDULER
    ) -> None:
        self.store, self.deal_id, self.who = store, deal_id, who
        self.deal = deal_in_force(store, deal_id)
        rows = sorted(read_rows(store, deal_id, {"effective_to": until}), key=_EFFECTIVE_ORDER)
        self.posted: set[dt.date] = {
            dt.date.fromisoformat(r[4]["payment_date"])
            for r in rows
            if r[1] == "CollectionPeriodClosed"
        }
        self.approved: set[dt.date] = {
            dt.date.fromisoformat(r[4]["payment_date"]) for r in rows if r[1] == "CycleApproved"
        }
        self.folder = CycleFolder(self.deal)
        # NotesIssued (closing date) is needed for the schedule before anything else
        for r in rows:
            if r[1] == "NotesIssued":
                self.folder.closing_date = dt.date.fromisoformat(r[4]["closing_date"])
        ahead = deal_schedule(self.deal, self.folder.closing_date, until + dt.timedelta(days=93))
        self.schedule = tuple(p for p in ahead if p.payment_date <= until)
        self.next_determination = {
            p.payment_date: determination_date(n) for p, n in pairwise(ahead)
        }
        self.pending: list[EventRow] = rows
        self.i = 0
        self.fake_seq = 10**12
        # optimistic concurrency (SPEC §2.6): a concurrent writer of another cycle of the deal
        # makes this append fail instead of posting a cycle planned on a stale state
        self.cycle_version = store.stream_version(deal_id, CYCLE_STREAM)

    def _feed_until(self, day: dt.date) -> None:
        pending, i, last = self.pending, self.i, day.isoformat()
        feed, deal_id = self.folder.feed, self.deal_id
        while i < len(pending) and pending[i][3] <= last:
            feed(recorded_of(deal_id, pending[i]))
            i += 1
        self.i = i

    def add(self, recorded: Sequence[RecordedEvent]) -> None:
        """Events just posted (or planned), all effective after what was fed."""
        rest = self.pending[self.i :] + [row_of(e) for e in recorded]
        self.pending = sorted(rest, key=_EFFECTIVE_ORDER)
        self.i = 0

    def periods(self) -> Iterator[tuple[SchedulePeriod, DeterminationState | None]]:
        """Each period with its determination state (None when its cycle is already posted)."""
        first_due = min(
            (p.index for p in self.schedule if p.payment_date not in self.posted),
            default=len(self.schedule) + 1,
        )
        lookback = _lookback(self.deal)
        for period in self.schedule:
            light = period.index < first_due - lookback
            start = adrb_start_date(period.payment_date)
            if (
                "pool.adrb_start" in self.deal.metrics
                and not light
                and period.collection_period_start <= start < period.collection_period_end
            ):
                # a Monthly Period starting inside the collection period (seed 001's first)
                self._feed_until(start)
                self.folder.snapshot_adrb(start)
            self._feed_until(period.collection_period_end)
            try:
                self.folder.mark_period_end(period, light=light)
                self._feed_until(determination_date(period))
                if period.payment_date in self.posted:
                    yield period, None
                    continue
                state = self.folder.state(period, self.next_determination.get(period.payment_date))
            except ExprError as exc:
                raise formula_error(self.deal, period, exc) from None
            yield period, state


def run_one(
    walk: DueWalk,
    period: SchedulePeriod,
    state: DeterminationState,
    dry_run: bool,
    approve: bool | None,
) -> CycleResult:
    """Plan one period's cycle and post it as one batch by ``walk.who`` (with ``approve``, the
    trustee's approval of it in the same batch), then seal the period."""
    deal = walk.deal
    who = walk.who
    try:
        planned = [
            replace(e, actor=who.name, role=who.role) for e in plan_cycle(deal, state, period)
        ]
    except (ExprError, WaterfallError) as exc:
        raise formula_error(deal, period, exc) from None
    pd = period.payment_date
    mode = next(
        (str(e.data["mode"]) for e in planned if e.type == "WaterfallExecuted"),
        None,
    )

    def result(status: Status, recorded: tuple[RecordedEvent, ...] = ()) -> CycleResult:
        return CycleResult(
            walk.deal_id, pd, period.index, status, tuple(planned), recorded, mode=mode
        )

    if dry_run:
        walk.add([_as_recorded(e, walk.fake_seq + i) for i, e in enumerate(planned)])
        walk.fake_seq += len(planned)
        walk.posted.add(pd)
        return result("dry_run")
    batch = list(planned)
    if approval_required(deal) and pd not in walk.approved:
        if not approve:
            return result("pending_approval")
        approval = CycleApproved(payment_date=pd, approved_by=who.name)
        batch.insert(
            0,
            NewEvent.of(
                approval,
                deal_id=walk.deal_id,
                stream_id=CYCLE_STREAM,
                effective_date=pd,
                idempotency_key=f"cycle-approval:{pd.isoformat()}",
                actor=who.name,
                role=who.role,
            ),
        )
    appended = walk.store.append(batch, {CYCLE_STREAM: walk.cycle_version})
    walk.cycle_version = max(
        [
            walk.cycle_version,
            *(e.stream_version for e in appended.events if e.stream_id == CYCLE_STREAM),
        ]
    )
    recorded = tuple(appended.events)
    walk.add(recorded)
    walk.posted.add(pd)
    if appended.duplicate:  # another run posted it, and sealed it
        return result("already_posted", recorded)
    seal_period(walk.store, walk.deal_id, pd, who=who)
    return result("posted", recorded)


def cycle_result_json(result: CycleResult) -> dict[str, Any]:
    """A result as JSON: the events posted (or that would be) with their keys and payloads."""
    return {
        "deal_id": result.deal_id,
        "payment_date": result.payment_date.isoformat(),
        "period_index": result.period_index,
        "status": result.status,
        "mode": result.mode,
        "events": [
            {
                "type": e.type,
                "idempotency_key": e.idempotency_key,
                "effective_date": e.effective_date.isoformat(),
                "data": e.data,
            }
            for e in result.events
        ],
    }


def run_due(
    store: ProjectedStore,
    deal_id: str,
    until: dt.date,
    dry_run: bool = False,
    *,
    who: Identity = SCHEDULER,
) -> list[CycleResult]:
    """Run every payment date on or before ``until`` whose cycle is not posted yet, in date
    order, each as one atomic batch; a second run posts nothing (returns no results).

    Stops at the first date pending the trustee's approval (later dates depend on it). With
    ``dry_run`` nothing is stored and each result holds exactly the events that would be posted
    (later dates planned on top of the earlier planned ones).

    Each cycle posted is sealed (:func:`~ledger.cycle.seal.seal_period`); a run with nothing due
    seals the last payment date posted if a crash came between its cycle and its seal.
    """
    if _nothing_due(store, deal_in_force(store, deal_id), until):
        if not dry_run:
            seal_last_posted(store, deal_id, until, who)
        return []
    walk = DueWalk(store, deal_id, until, who)
    out: list[CycleResult] = []
    for period, state in walk.periods():
        if state is None:
            continue
        result = run_one(walk, period, state, dry_run, None)
        out.append(result)
        if result.status == "pending_approval":
            break
    return out


def run_cycle(
    store: ProjectedStore,
    deal_id: str,
    period: dt.date | int,
    dry_run: bool = False,
    approve: bool = False,
    *,
    who: Identity = SCHEDULER,
) -> CycleResult:
    """Run one payment date's cycle (``period``: its payment date or period index).

    Every earlier payment date must be posted already (:class:`CycleError` otherwise: use
    :func:`run_due`). A cycle already posted returns ``already_posted`` and posts nothing.
    ``approve`` records ``who``'s approval in the same batch where the deal requires one.
    """
    deal = deal_in_force(store, deal_id)
    if isinstance(period, int):
        probe = DueWalk(
            store, deal_id, deal.calendar.first_payment_date + dt.timedelta(days=40 * period), who
        )
        match = [p for p in probe.schedule if p.index == period]
        if not match:
            raise CycleError(f"deal {deal_id} has no period {period}")
        pd = match[0].payment_date
    else:
        pd = period
    walk = DueWalk(store, deal_id, pd, who)
    for p, state in walk.periods():
        if p.payment_date < pd:
            if state is not None:
                raise CycleError(
                    f"payment date {p.payment_date} of deal {deal_id} is not posted yet: "
                    "run run-due first"
                )
            continue
        if p.payment_date != pd:
            break
        if state is None:
            return CycleResult(deal_id, pd, p.index, "already_posted")
        return run_one(walk, p, state, dry_run, approve)
    raise CycleError(f"{pd} is not a payment date of deal {deal_id}")
