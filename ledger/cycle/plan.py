"""The payment-date cycle (SPEC §1, §2.6-2.7, §4; issue 5 items 3-4): functional core, thin shell.

**Core.** :func:`plan_cycle` is pure: from the trust at the determination date
(:class:`~ledger.cycle.state.DeterminationState`) and the period it returns the cycle's events, in
order:

1. :class:`CollectionPeriodClosed` — the remitted collections split into the deal's sub-accounts
   by its collection split rules (seed 004 L2441-2457, L2728-2744; seed 001 L18553-18563). Cash
   is split item by item as far as it was remitted; what was collected but not remitted waits for
   a later date, and unexplained cash stays in ``trust:collections``;
2. :class:`MetricsDetermined` — every metric the deal declares as determined for the date (the
   engine's determinations of docs/primitives.md, the deal's formula metrics, and the dry runs
   the plan itself computes: ``dry_run.notes.<id>.balance``, seed 003 L928-930);
3. :class:`CleanUpCallTested` — for a deal with a clean-up call, on every date: its condition,
   price and proviso (seed 001 L18472-18490 "provided that all payment obligations under the
   Notes will be thereby fulfilled"), whether it is elected (a :class:`CleanUpCallElected`
   event, or the deal parameter ``clean_up_call_elected`` = 1) and exercised; then
   :class:`CleanUpCallExercised` when it is available and elected: the remaining pool is bought
   at the clean-up price into the ``cleanup_principal`` account (seed 004 L781, L2696; seed 001
   L18472-18531), and a ``clean_up_exercised`` trigger of the deal is declared (seed 001
   L3731-3737);
4. one :class:`TriggerEvaluated` per trigger (sticky / curable, declared events) — evaluated on
   the state after the split, with the trigger states of the previous date;
5. :class:`InterestAccrued` per interest-bearing class and :class:`FeeAccrued` per fee due;
6. :class:`WaterfallExecuted` in the mode the trigger states select, every step and posting;
7. :class:`DistributionPaid` — what each payee and class receives.

Every event is effective on the payment date and keyed ``cycle:<payment_date>:<n>``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from events.cycle import (
    CYCLE_STREAM,
    CleanUpCallExercised,
    CleanUpCallTested,
    CollectionPeriodClosed,
    DistributionPaid,
    FeeAccrued,
    InterestAccrued,
    MetricsDetermined,
    NoteLine,
    Payment,
    PurchaseLine,
    StepLine,
    TriggerEvaluated,
    WaterfallExecuted,
)
from events.envelope import NewEvent
from events.model import Event
from ledger.core.calendar import SchedulePeriod
from ledger.core.expr import ExprError, Value
from ledger.core.journal import apply_entries
from ledger.core.money import ZERO, allocate, round_fen
from ledger.cycle.schedule import CycleError, determination_date
from ledger.cycle.state import DeterminationState
from ledger.deal.schema import DealDefinition
from ledger.waterfall import (
    StepResult,
    WaterfallResult,
    WaterfallState,
    run_waterfall,
    select_mode,
)
from ledger.waterfall.engine import accrual, formula_failure, opening_dues, posting_account
from ledger.waterfall.env import DealEnv
from ledger.waterfall.triggers import (
    TriggerOutcome,
    clean_up_call_available,
    evaluate_triggers,
    trigger_states,
    trigger_watches,
)


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

    # 2. the determinations of the date: those the plan computes (dry runs), then all recorded
    as_of = determination_date(period)
    ws = ws.model_copy(update={"metrics": {**ws.metrics, **_planned_metrics(deal, ws)}})
    planned.append(
        MetricsDetermined(
            **common,
            as_of=as_of,
            collection_period_end=period.collection_period_end,
            values=dict(sorted(ws.metrics.items())),
        )
    )

    # 3. the clean-up call: tested on every date, exercised when available and elected
    declared = set(state.declared)
    if state.clean_up_exercised and "clean_up_exercised" in deal.triggers:
        declared.add("clean_up_exercised")
    if deal.clean_up_call is not None:
        elected = state.clean_up_elected or _elected_by_parameter(deal)
        test, price = _clean_up_test(deal, state, ws, frozenset(declared), as_of, elected)
        planned.append(test)
        if test.exercised:
            assert price is not None
            target = _clean_up_account(deal)
            planned.append(
                CleanUpCallExercised(
                    **common,
                    price=price,
                    performing_principal=state.pool_performing,
                    defaulted_principal=state.pool_defaulted,
                    to_account=posting_account(deal, target),
                )
            )
            ws = _with_proceeds(ws, target, price)
            if "clean_up_exercised" in deal.triggers:
                declared.add("clean_up_exercised")

    # 4. triggers at the determination date
    outcomes, after = _after_triggers(deal, ws, frozenset(declared), as_of)
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
    ws = after

    # 5-6. accruals and the waterfall in the selected mode
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
    # 7. the distribution
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


def _planned_metrics(deal: DealDefinition, ws: WaterfallState) -> dict[str, Value]:
    """``dry_run.notes.<id>.balance`` where the deal declares it: the classes' principal after
    a dry run of the date's waterfall in the mode the trigger states before this date's
    evaluation select (docs/primitives.md; seed 003 L928-930)."""
    wanted = [n for n in deal.metrics if n.startswith("dry_run.")]
    if not wanted:
        return {}
    result = run_waterfall(deal, ws, select_mode(deal, ws))
    return {n: result.note_balances[n.split(".")[2]] for n in wanted}


def _clean_up_account(deal: DealDefinition) -> str:
    rules: dict[str, str] = {r.item: r.to for r in deal.collection_split}
    target = rules.get("cleanup_principal") or rules.get("principal_scheduled")
    if target is None:
        raise CycleError(f"deal {deal.deal_id} has no account for clean-up proceeds")
    return target


def _with_proceeds(ws: WaterfallState, account: str, price: Decimal) -> WaterfallState:
    balances = dict(ws.accounts)
    balances[account] += price
    return ws.model_copy(update={"accounts": balances})


def _after_triggers(
    deal: DealDefinition, ws: WaterfallState, declared: frozenset[str], as_of: dt.date
) -> tuple[dict[str, TriggerOutcome], WaterfallState]:
    outcomes = evaluate_triggers(deal, ws, declared, as_of=as_of)
    ws = ws.model_copy(
        update={"triggers": trigger_states(outcomes), "trigger_watch": trigger_watches(outcomes)}
    )
    return outcomes, ws


def _clean_up_test(
    deal: DealDefinition,
    state: DeterminationState,
    ws: WaterfallState,
    declared: frozenset[str],
    as_of: dt.date,
    elected: bool,
) -> tuple[CleanUpCallTested, Decimal | None]:
    """The clean-up call on the date (seed 001 L18472-18490; seed 004 L781): its condition,
    then (when it holds) its price and proviso; ``clean_up.notes_repaid`` is a dry run of the
    date with the call exercised (the proceeds split, the triggers with the call declared, the
    waterfall)."""
    call = deal.clean_up_call
    assert call is not None

    def tested(reason: str, **kw: Any) -> CleanUpCallTested:
        fields = {"condition_met": False, "available": False, "exercised": False, **kw}
        return CleanUpCallTested(
            payment_date=ws.payment_date, period_index=ws.period_index,
            elected=elected, reason=reason, **fields,
        )  # fmt: skip

    if state.clean_up_exercised:
        return tested("exercised on an earlier payment date"), None
    if not clean_up_call_available(deal, ws):
        return tested("condition not met (clean_up_call.condition)"), None
    dues = opening_dues(deal, ws)
    price = round_fen(dues.env.number(call.price, "clean_up_call.price"))
    figures: dict[str, Any] = {"condition_met": True, "price": price}
    proviso: bool | None = None
    if call.proviso is not None:
        obligations = sum((n.balance for n in ws.notes.values()), ZERO) + sum(
            dues.interest.values(), ZERO
        )
        called = _with_proceeds(ws, _clean_up_account(deal), price)
        if "clean_up_exercised" in deal.triggers:
            declared = declared | {"clean_up_exercised"}
        _, called = _after_triggers(deal, called, declared, as_of)
        result = run_waterfall(deal, called, select_mode(deal, called))
        repaid = not any(result.note_balances.values()) and not any(
            result.interest_shortfalls.values()
        )
        names = {
            "clean_up.price": price,
            "clean_up.note_obligations": obligations,
            "clean_up.notes_repaid": repaid,
        }
        env = DealEnv(deal, ws.model_copy(update={"metrics": {**ws.metrics, **names}}))
        try:
            proviso = env.condition(call.proviso, "clean_up_call.proviso")
        except ExprError as exc:
            raise formula_failure("clean_up_call.proviso", exc) from None
        figures.update(proviso_met=proviso, note_obligations=obligations, notes_repaid=repaid)
    if proviso is False:
        return tested("proviso not met (clean_up_call.proviso)", **figures), None
    exercised = elected
    reason = "exercised" if exercised else "available, not elected"
    return tested(reason, available=True, exercised=exercised, **figures), price


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
