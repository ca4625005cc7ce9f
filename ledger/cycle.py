"""The payment-date cycle (SPEC §1, §2.6-2.7, §4; issue 5 items 3-4): functional core, thin shell.

**Core.** :func:`plan_cycle` is pure: from the trust at the determination date
(:class:`~ledger.cycle_state.DeterminationState`) and the period it returns the cycle's events, in
order:

1. :class:`CollectionPeriodClosed` — the remitted collections split into the deal's sub-accounts
   by its collection split rules (seed 004 L2441-2457, L2728-2744; seed 001 L18553-18563). Cash
   is split item by item as far as it was remitted; what was collected but not remitted waits for
   a later date, and unexplained cash stays in ``trust:collections``;
2. :class:`CleanUpCallExercised` — when the clean-up condition holds and the originator has
   elected it (a :class:`CleanUpCallElected` event, or the deal parameter
   ``clean_up_call_elected`` = 1): the remaining pool is bought at the clean-up price into the
   ``cleanup_principal`` account (seed 004 L781, L2696; seed 001 L18472-18531), and a
   ``clean_up_exercised`` trigger of the deal is declared (seed 001 L3731-3737);
3. one :class:`TriggerEvaluated` per trigger (sticky / curable, declared events) — evaluated on
   the state after the split, with the trigger states of the previous date;
4. :class:`InterestAccrued` per interest-bearing class and :class:`FeeAccrued` per fee due;
5. :class:`WaterfallExecuted` in the mode the trigger states select, every step and posting;
6. :class:`DistributionPaid` — what each payee and class receives.

Every event is effective on the payment date and keyed ``cycle:<payment_date>:<n>``.

**Shell.** :func:`run_cycle` and :func:`run_due` read the deal's events, fold them
(:class:`~ledger.cycle_state.CycleFolder`), plan and append each cycle as **one atomic batch**:
the deterministic keys make a rerun post nothing, and a failure leaves the whole cycle or none.
A deal with the parameter ``trustee_approval_required`` = 1 stops at ``pending_approval`` until a
:class:`CycleApproved` for the payment date is posted (:func:`approve_cycle`, or ``approve=``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any, Literal

from events.cycle import (
    CYCLE_STREAM,
    AdditionalReceivablesOffered,
    CleanUpCallElected,
    CleanUpCallExercised,
    CollectionPeriodClosed,
    CycleApproved,
    DistributionPaid,
    EventDeclared,
    FeeAccrued,
    InterestAccrued,
    NoteIssue,
    NoteLine,
    NotesIssued,
    Payment,
    PurchaseLine,
    StepLine,
    TriggerEvaluated,
    WaterfallExecuted,
)
from events.envelope import NewEvent, RecordedEvent
from events.model import Event
from events.store import EventStore
from ledger.calendar import SchedulePeriod
from ledger.cycle_state import (
    CycleError,
    CycleFolder,
    DeterminationState,
    deal_schedule,
    determination_date,
)
from ledger.deal.schema import DealDefinition
from ledger.journal import apply_entries
from ledger.money import ZERO, allocate, round_fen
from ledger.servicing import deal_in_force
from ledger.waterfall import (
    StepResult,
    WaterfallResult,
    WaterfallState,
    run_waterfall,
    select_mode,
)
from ledger.waterfall.engine import accrual, opening_dues, posting_account
from ledger.waterfall.triggers import (
    clean_up_call_available,
    evaluate_triggers,
    trigger_states,
    trigger_watches,
)
from projections.fast import EventRow, read_rows, recorded_of, row_of

__all__ = [
    "CycleError",
    "CycleResult",
    "approval_required",
    "approve_cycle",
    "cycle_key",
    "cycle_result_json",
    "declare_event",
    "elect_clean_up_call",
    "issue_notes",
    "offer_additional_receivables",
    "plan_cycle",
    "run_cycle",
    "run_due",
]

Status = Literal["posted", "already_posted", "dry_run", "pending_approval"]


def cycle_key(payment_date: dt.date, n: int) -> str:
    """The idempotency key of the ``n``-th event (from 1) of a payment date's cycle."""
    return f"cycle:{payment_date.isoformat()}:{n}"


def approval_required(deal: DealDefinition) -> bool:
    """Whether the deal asks for the trustee's approval of each cycle (parameter
    ``trustee_approval_required`` = 1; absent means no)."""
    p = deal.parameters.get("trustee_approval_required")
    return p is not None and p.value != 0


def _elected_by_parameter(deal: DealDefinition) -> bool:
    p = deal.parameters.get("clean_up_call_elected")
    return p is not None and p.value != 0


# ================================================================================== the core


def split_collections(
    deal: DealDefinition, cash: Decimal, unsplit: Mapping[str, Decimal]
) -> tuple[dict[str, Decimal], dict[str, Decimal], Decimal]:
    """(items moved, cash per posting account, collected but not remitted).

    Everything collected is moved when the remitted cash covers it; otherwise the cash is split
    pro rata to the items (fen-exact). An item without a split rule follows ``interest`` when it
    is income-like and ``principal_scheduled`` otherwise (seed 001's single pot has no rule for
    repurchase interest).
    """
    rules: dict[str, str] = {r.item: r.to for r in deal.collection_split}
    items = {k: v for k, v in sorted(unsplit.items()) if v > 0}
    total = sum(items.values(), ZERO)
    movable = min(total, max(cash, ZERO))
    if movable < total and movable > 0:
        shares = allocate(movable, list(items.values()))
        items = {k: s for k, s in zip(items, shares, strict=True) if s > 0}
    elif movable == 0:
        items = {}
    fallback_income = rules.get("interest") or next(iter(rules.values()))
    fallback_principal = rules.get("principal_scheduled") or fallback_income
    to: dict[str, Decimal] = {}
    for item, amount in items.items():
        income_like = item in ("interest", "fees_penalties", "prepayment_fees") or not (
            item.endswith("principal")
        )
        aid = rules.get(item) or (fallback_income if income_like else fallback_principal)
        acct = posting_account(deal, aid)
        to[acct] = to.get(acct, ZERO) + amount
    return items, to, total - sum(items.values(), ZERO)


def _cash_total(deal: DealDefinition, balances: Mapping[str, Decimal]) -> Decimal:
    return sum(
        (v for aid, v in balances.items() if deal.accounts[aid].kind != "ledger"),
        ZERO,
    )


def _line(s: StepResult) -> StepLine:
    return StepLine(
        step_id=s.step_id,
        clause=s.clause,
        kind=s.kind,
        source=s.source,
        destination=s.destination,
        due=s.due,
        paid=s.paid,
        shortfall=s.shortfall,
        carried_forward=s.carried_forward,
        skipped=s.skipped,
        failed_tests=tuple(getattr(s, "failed_tests", ())),
    )


def _payments(result: WaterfallResult) -> tuple[Payment, ...]:
    paid: dict[str, Decimal] = {}
    for entry in result.entries:
        for p in entry.postings:
            if p.account.startswith("payable:") and p.amount > 0:
                paid[p.account] = paid.get(p.account, ZERO) + p.amount
    out: list[Payment] = []
    for account, amount in sorted(paid.items()):
        parts = account.split(":")
        if parts[1] == "note":
            kind = parts[3]
            assert kind in ("interest", "principal", "return")
            out.append(Payment(payee_account=account, kind=kind, note_id=parts[2], amount=amount))
        elif parts[1] == "fee":
            out.append(Payment(payee_account=account, kind="fee", amount=amount))
        else:
            out.append(Payment(payee_account=account, kind="party", amount=amount))
    return tuple(out)


def _accruals(deal: DealDefinition, ws: WaterfallState, period: SchedulePeriod) -> list[Event]:
    """Interest of each class (seed 004 L1811-1818; seed 001 L11489-11497) and each fee due,
    with the same amounts the waterfall engine pays against (its own due computation)."""
    dues = opening_dues(deal, ws)
    common = {
        "payment_date": period.payment_date,
        "period_index": period.index,
        "interest_period_start": ws.interest_period_start,
        "interest_period_end": ws.interest_period_end,
    }
    out: list[Event] = []
    for nid, note in deal.notes.items():
        if note.coupon.kind == "none":
            continue
        state = ws.notes[nid]
        rate = dues.env.number(f"notes.{nid}.rate", f"notes.{nid}.coupon.rate")
        accrued = round_fen(
            accrual(
                state.balance,
                rate,
                ws.interest_period_start,
                ws.interest_period_end,
                note.day_count,
            )
        )
        carried = state.interest_shortfall if note.interest_carry_forward else ZERO
        out.append(
            InterestAccrued(
                **common,
                note_id=nid,
                opening_balance=state.balance,
                rate=rate,
                day_count=note.day_count,
                accrued=accrued,
                carried_in=carried,
                due=dues.interest[nid],
            )
        )
    for fid, fee in deal.fees.items():
        due = dues.fees[fid]
        if not due:
            continue
        carried = ws.fees_unpaid.get(fid, ZERO) if fee.carry_forward else ZERO
        out.append(
            FeeAccrued(
                **common,
                fee_id=fid,
                payee=fee.payee,
                accrued=due - carried,
                carried_in=carried,
                due=due,
            )
        )
    return out


def plan_cycle(
    deal: DealDefinition, state: DeterminationState, period: SchedulePeriod
) -> list[NewEvent]:
    """The events of one payment date's cycle, in order (pure; see the module docstring)."""
    ws = state.waterfall
    pd = period.payment_date
    if ws.payment_date != pd or ws.period_index != period.index:
        raise CycleError(f"state is for {ws.payment_date}, period is for {pd}")
    common = {"payment_date": pd, "period_index": period.index}
    planned: list[Event] = []
    balances = dict(ws.accounts)

    # 1. close the collection period: split what was remitted
    items, to, unremitted = split_collections(deal, state.collections_cash, state.unsplit_items)
    planned.append(
        CollectionPeriodClosed(
            **common,
            collection_period_start=period.collection_period_start,
            collection_period_end=period.collection_period_end,
            determination_date=determination_date(period),
            items=items,
            to_accounts=to,
            unremitted=unremitted,
        )
    )
    by_posting = {posting_account(deal, aid): aid for aid in deal.accounts}
    for acct, amount in to.items():
        balances[by_posting[acct]] += amount
    ws = ws.model_copy(update={"accounts": balances})

    # 2. the clean-up call, if it is available and elected
    declared = set(state.declared)
    elected = state.clean_up_elected or _elected_by_parameter(deal)
    if state.clean_up_exercised and "clean_up_exercised" in deal.triggers:
        declared.add("clean_up_exercised")
    if (
        elected
        and not state.clean_up_exercised
        and deal.clean_up_call is not None
        and clean_up_call_available(deal, ws)
    ):
        price = round_fen(
            opening_dues(deal, ws).env.number(deal.clean_up_call.price, "clean_up_call.price")
        )
        rules: dict[str, str] = {r.item: r.to for r in deal.collection_split}
        target = rules.get("cleanup_principal") or rules.get("principal_scheduled")
        if target is None:
            raise CycleError(f"deal {deal.deal_id} has no account for clean-up proceeds")
        planned.append(
            CleanUpCallExercised(
                **common,
                price=price,
                performing_principal=state.pool_performing,
                defaulted_principal=state.pool_defaulted,
                to_account=posting_account(deal, target),
            )
        )
        balances = dict(balances)
        balances[target] += price
        ws = ws.model_copy(update={"accounts": balances})
        if "clean_up_exercised" in deal.triggers:
            declared.add("clean_up_exercised")

    # 3. triggers at the determination date
    as_of = determination_date(period)
    outcomes = evaluate_triggers(deal, ws, frozenset(declared), as_of=as_of)
    for tid, o in outcomes.items():
        t = deal.triggers[tid]
        inputs = {} if o.value is None else {t.metric or "value": str(o.value)}
        planned.append(
            TriggerEvaluated(
                **common,
                trigger_id=tid,
                clause=o.clause,
                as_of=as_of,
                metric=t.metric,
                value=o.value,
                comparison=t.comparison if t.metric else None,
                threshold=o.threshold,
                condition=t.condition,
                declared=t.declared and tid in declared,
                inputs=inputs,
                breached=o.breached,
                in_effect=o.in_effect,
                was_in_effect=o.was_in_effect,
                sticky=t.sticky,
                watch_since=o.watch.since if o.watch else None,
                watch_evaluations=o.watch.evaluations if o.watch else None,
            )
        )
    ws = ws.model_copy(
        update={"triggers": trigger_states(outcomes), "trigger_watch": trigger_watches(outcomes)}
    )

    # 4-5. accruals and the waterfall in the selected mode
    mode = select_mode(deal, ws)
    planned.extend(_accruals(deal, ws, period))
    result = run_waterfall(deal, ws, mode)
    opening_cash = _cash_total(deal, result.opening_accounts)
    retained = _cash_total(deal, result.closing_accounts)
    planned.append(
        WaterfallExecuted(
            **common,
            mode=result.mode,
            interest_period_start=ws.interest_period_start,
            interest_period_end=ws.interest_period_end,
            steps=tuple(_line(s) for s in result.steps),
            postings=result.entries,
            notes=tuple(
                NoteLine(
                    note_id=nid,
                    original=state.note_originals.get(nid, note.amount),
                    opening=ws.notes[nid].balance,
                    closing=result.note_balances[nid],
                    interest_shortfall=result.interest_shortfalls[nid],
                )
                for nid, note in deal.notes.items()
            ),
            fees_unpaid={k: v for k, v in sorted(result.fees_unpaid.items()) if v},
            purchases=tuple(
                PurchaseLine.model_validate(p, from_attributes=True)
                for p in getattr(result, "purchases", ())
            ),
            cap_usage=result.cap_usage,
            available=opening_cash,
            paid_out=result.paid_out,
            retained=retained,
        )
    )
    # 6. the distribution
    planned.append(DistributionPaid(**common, payments=_payments(result)))

    _check_cash(deal, state, planned)
    return [
        NewEvent.of(
            ev,
            deal_id=state.deal_id,
            stream_id=CYCLE_STREAM,
            effective_date=pd,
            idempotency_key=cycle_key(pd, n),
        )
        for n, ev in enumerate(planned, start=1)
    ]


def _check_cash(deal: DealDefinition, state: DeterminationState, planned: Sequence[Event]) -> None:
    """No cash account of the deal goes negative through the cycle (SPEC §2.4)."""
    opening = {posting_account(deal, a): v for a, v in state.waterfall.accounts.items()}
    opening["trust:collections"] = state.collections_cash
    closing = apply_entries(opening, (e for ev in planned for e in ev.entries()))
    negative = {
        a: v
        for a, v in closing.items()
        if v < 0 and a.split(":", 1)[0] in ("trust", "reserve", "servicer")
    }
    if negative:
        raise CycleError(f"the cycle would take cash accounts negative: {negative}")


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


def _nothing_due(store: EventStore, deal: DealDefinition, until: dt.date) -> bool:
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


class _Walk:
    """Folds a deal's events in effective order, period by period.

    The history is read as the replay reads it (:func:`projections.fast.read_rows`: only the
    columns a fold needs, payloads parsed by orjson) and kept as rows; each becomes an event
    only when it is fed (``benchmarks/cycle.py``, 84,427 loans: 12.2 s to 7.3 s a cycle)."""

    def __init__(self, store: EventStore, deal_id: str, until: dt.date) -> None:
        self.store, self.deal_id = store, deal_id
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
        self.schedule = deal_schedule(self.deal, self.folder.closing_date, until)
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
        for period in self.schedule:
            self._feed_until(period.collection_period_end)
            # metrics look back at most three period ends (seed 004 L2636: 3-period average)
            self.folder.mark_period_end(period, light=period.index < first_due - _LOOKBACK)
            self._feed_until(determination_date(period))
            if period.payment_date in self.posted:
                yield period, None
            else:
                yield period, self.folder.state(period)


def _run_one(
    walk: _Walk,
    period: SchedulePeriod,
    state: DeterminationState,
    dry_run: bool,
    approve: str | None,
) -> CycleResult:
    deal = walk.deal
    planned = plan_cycle(deal, state, period)
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
        if approve is None:
            return result("pending_approval")
        approval = CycleApproved(payment_date=pd, approved_by=approve)
        batch.insert(
            0,
            NewEvent.of(
                approval,
                deal_id=walk.deal_id,
                stream_id=CYCLE_STREAM,
                effective_date=pd,
                idempotency_key=f"cycle-approval:{pd.isoformat()}",
                actor=approve,
                role="trustee",
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
    return result("already_posted" if appended.duplicate else "posted", recorded)


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
    store: EventStore, deal_id: str, until: dt.date, dry_run: bool = False
) -> list[CycleResult]:
    """Run every payment date on or before ``until`` whose cycle is not posted yet, in date
    order, each as one atomic batch; a second run posts nothing (returns no results).

    Stops at the first date pending the trustee's approval (later dates depend on it). With
    ``dry_run`` nothing is stored and each result holds exactly the events that would be posted
    (later dates planned on top of the earlier planned ones).
    """
    if _nothing_due(store, deal_in_force(store, deal_id), until):
        return []
    walk = _Walk(store, deal_id, until)
    out: list[CycleResult] = []
    for period, state in walk.periods():
        if state is None:
            continue
        result = _run_one(walk, period, state, dry_run, None)
        out.append(result)
        if result.status == "pending_approval":
            break
    return out


def run_cycle(
    store: EventStore,
    deal_id: str,
    period: dt.date | int,
    dry_run: bool = False,
    approve: str | None = None,
) -> CycleResult:
    """Run one payment date's cycle (``period``: its payment date or period index).

    Every earlier payment date must be posted already (:class:`CycleError` otherwise: use
    :func:`run_due`). A cycle already posted returns ``already_posted`` and posts nothing.
    ``approve`` (the trustee's name) records the approval in the same batch where the deal
    requires one.
    """
    deal = deal_in_force(store, deal_id)
    if isinstance(period, int):
        probe = _Walk(
            store, deal_id, deal.calendar.first_payment_date + dt.timedelta(days=40 * period)
        )
        match = [p for p in probe.schedule if p.index == period]
        if not match:
            raise CycleError(f"deal {deal_id} has no period {period}")
        pd = match[0].payment_date
    else:
        pd = period
    walk = _Walk(store, deal_id, pd)
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
        return _run_one(walk, p, state, dry_run, approve)
    raise CycleError(f"{pd} is not a payment date of deal {deal_id}")


# ============================================================================ trustee actions


def _append_one(store: EventStore, deal_id: str, ev: Event, day: dt.date, key: str,
                actor: str, role: str) -> RecordedEvent:  # fmt: skip
    new = NewEvent.of(
        ev, deal_id=deal_id, stream_id=ev.default_stream(), effective_date=day,
        idempotency_key=key, actor=actor, role=role,
    )  # fmt: skip
    return store.append([new]).events[0]


def issue_notes(
    store: EventStore, deal_id: str, closing_date: dt.date | None = None, actor: str = "issuer"
) -> RecordedEvent:
    """Record the notes of the deal in force as issued on ``closing_date`` (default: the deal
    file's closing date); idempotent."""
    deal = deal_in_force(store, deal_id)
    closing = closing_date or deal.calendar.closing_date
    if closing is None:
        raise CycleError(f"deal {deal_id} has no closing date in its file: give one")
    ev = NotesIssued(
        closing_date=closing,
        notes=tuple(
            NoteIssue(note_id=nid, class_name=n.class_name, amount=n.amount)
            for nid, n in deal.notes.items()
        ),
    )
    return _append_one(store, deal_id, ev, closing, "notes-issued", actor, "issuer")


def declare_event(
    store: EventStore,
    deal_id: str,
    trigger_id: str,
    declared_on: dt.date,
    declared_by: Literal["holders_resolution", "trustee", "originator", "servicer"],
    reference: str | None = None,
    revoked: bool = False,
) -> RecordedEvent:
    """Post an :class:`EventDeclared` for a ``declared`` trigger of the deal."""
    deal = deal_in_force(store, deal_id)
    trigger = deal.triggers.get(trigger_id)
    if trigger is None or not trigger.declared:
        raise CycleError(f"deal {deal_id} has no declared trigger {trigger_id!r}")
    ev = EventDeclared(
        trigger_id=trigger_id, declared_by=declared_by, declared_on=declared_on,
        reference=reference, revoked=revoked,
    )  # fmt: skip
    key = f"declared:{trigger_id}:{declared_on.isoformat()}:{'revoked' if revoked else 'on'}"
    return _append_one(store, deal_id, ev, declared_on, key, declared_by, "trustee")


def elect_clean_up_call(
    store: EventStore, deal_id: str, from_payment_date: dt.date, reference: str | None = None
) -> RecordedEvent:
    """The originator's election to exercise the clean-up call once its condition holds."""
    ev = CleanUpCallElected(from_payment_date=from_payment_date, reference=reference)
    key = f"clean-up-elected:{from_payment_date.isoformat()}"
    return _append_one(store, deal_id, ev, from_payment_date, key, "originator", "originator")


def offer_additional_receivables(
    store: EventStore,
    deal_id: str,
    payment_date: dt.date,
    balance: Decimal,
    offered_on: dt.date,
    weighted_average_rate: Decimal | None = None,
    loan_count: int = 0,
    reference: str | None = None,
) -> RecordedEvent:
    """The originator's offer of additional receivables for a revolving payment date; it must
    be effective (``offered_on``) by that date's determination date to be bought."""
    ev = AdditionalReceivablesOffered(
        payment_date=payment_date,
        balance=balance,
        weighted_average_rate=weighted_average_rate,
        loan_count=loan_count,
        reference=reference,
    )
    key = f"receivables-offered:{payment_date.isoformat()}"
    return _append_one(store, deal_id, ev, offered_on, key, "originator", "originator")


def approve_cycle(
    store: EventStore, deal_id: str, payment_date: dt.date, approved_by: str
) -> RecordedEvent:
    """The trustee's approval of one payment date's cycle (then run it again to post it)."""
    ev = CycleApproved(payment_date=payment_date, approved_by=approved_by)
    key = f"cycle-approval:{payment_date.isoformat()}"
    return _append_one(store, deal_id, ev, payment_date, key, approved_by, "trustee")
