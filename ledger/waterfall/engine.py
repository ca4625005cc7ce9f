"""The waterfall engine: a pure function of (deal, state, mode) → ordered lines + postings.

:func:`run_waterfall` walks the steps of one mode of a deal (``waterfalls.<mode>``) in order.
Each step pays from one cash account what is due, never more than the account holds (SPEC §2.4:
"pay what is there and record the shortfall"), and every movement is a balanced
:class:`~ledger.core.journal.JournalEntry`. Pro-rata groups split with
:func:`ledger.core.money.allocate`, so every fen is conserved.

Posting account names follow :mod:`ledger.core.accounts` (``<group>:<name>``): deal cash accounts
are
``trust:<id>``, reserves ``reserve:<id>``, non-cash ledgers ``ledger:<id>`` (their contra is
``ledger-offset:<id>``); payees are ``payable:fee:<id>``, ``payable:note:<id>:interest`` /
``:principal`` / ``:return`` and ``payable:party:<role>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, Decimal

from events.cycle import CapUsage
from ledger.core.calendar.daycount import DayCount, accrue, day_count_fraction
from ledger.core.expr import ExprError
from ledger.core.journal import JournalEntry, Posting, transfer
from ledger.core.money import FEN, ZERO, allocate, round_fen
from ledger.deal.pool_rules import pool_criteria_failures
from ledger.deal.schema import DealDefinition
from ledger.deal.steps import (
    BookLedgerStep,
    CoverShortfallStep,
    PayFeesStep,
    PayInterestStep,
    PayPrincipalStep,
    PayReturnStep,
    PayStep,
    PurchaseStep,
    Step,
    TopUpStep,
    TransferStep,
)
from ledger.waterfall.env import DealEnv
from ledger.waterfall.state import Purchase, StepResult, WaterfallResult, WaterfallState

_GROUP = {"cash": "trust", "reserve": "reserve", "ledger": "ledger"}
_TOP_KEYS = frozenset(DealDefinition.model_fields)


class WaterfallError(ValueError):
    """The waterfall cannot run: unknown mode, inconsistent state or a formula that fails
    (``path``: the YAML path of the failing formula, when one failed)."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


def formula_failure(where: str, exc: ExprError) -> WaterfallError:
    """A formula's failure as a :class:`WaterfallError`: ``where`` is the YAML path of the
    formula evaluated; a relative path (``amount``) is taken under ``where``'s step."""
    path = exc.path or where
    if exc.path is not None and exc.path.split(".")[0].split("[")[0] not in _TOP_KEYS:
        path = f"{where}.{exc.path}"
    return WaterfallError(f"{where}: {exc}", path)


def posting_account(deal: DealDefinition, account_id: str) -> str:
    """The chart-of-accounts name of a deal account (``trust:income``, ``ledger:pdl``)."""
    return f"{_GROUP[deal.accounts[account_id].kind]}:{account_id}"


def select_mode(deal: DealDefinition, state: WaterfallState) -> str:
    """The waterfall mode the trigger states call for: first matching ``modes`` rule, else
    ``default_mode``."""
    env = DealEnv(deal, state)
    for i, rule in enumerate(deal.modes):
        try:
            if env.condition(rule.when, f"modes[{i}].when"):
                return rule.mode
        except ExprError as exc:
            raise formula_failure(f"modes[{i}].when", exc) from None
    return deal.default_mode


def run_waterfall(
    deal: DealDefinition, state: WaterfallState, mode: str | None = None
) -> WaterfallResult:
    """Run one payment date's waterfall; ``mode`` defaults to :func:`select_mode`."""
    chosen = select_mode(deal, state) if mode is None else mode
    if chosen not in deal.waterfalls:
        raise WaterfallError(f"deal {deal.deal_id} has no waterfall mode {chosen!r}")
    return _Run(deal, state, chosen).run()


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a common year
        return day.replace(year=day.year + years, day=28)


def cap_period_start(deal: DealDefinition, cap_id: str, payment_date: date) -> date | None:
    """First day of the period of cap ``cap_id`` that ``payment_date`` falls in: the payment
    date itself, the start of its cap year (anniversaries of ``period_start``, default the
    closing date), or ``None`` for a life-of-deal cap."""
    cap = deal.caps[cap_id]
    if cap.period == "payment_date":
        return payment_date
    if cap.period == "life":
        return None
    anchor = cap.period_start or deal.calendar.closing_date
    if anchor is None:  # pragma: no cover - refused by the deal checks
        raise WaterfallError(f"caps.{cap_id}: a yearly cap needs period_start")
    years = max(0, payment_date.year - anchor.year)
    while years > 0 and _add_years(anchor, years) > payment_date:
        years -= 1
    return _add_years(anchor, years)


def accrual(amount: Decimal, rate: Decimal, start: date, end: date, convention: str) -> Decimal:
    """``amount × rate × days / basis`` over ``[start, end)``, unrounded (seed 004 L1811-1818:
    actual days / 365 also in leap years for ``act/365f``)."""
    return accrue(amount, rate, day_count_fraction(start, end, DayCount(convention)))


def _pro_rata(total: Decimal, dues: Sequence[Decimal]) -> list[Decimal]:
    """Split ``total`` (≤ sum of dues) by dues, fen-exact; nothing due gives nothing."""
    if sum(dues, ZERO) == 0:
        return [ZERO for _ in dues]
    return allocate(total, dues)


@dataclass(frozen=True, slots=True)
class OpeningDues:
    """What a run pays against, fixed before any step moves cash: the expressions' opening
    environment, each class's interest due (with carried shortfall) and each fee's total due."""

    env: DealEnv
    interest: Mapping[str, Decimal]
    fees: Mapping[str, Decimal]


def opening_dues(deal: DealDefinition, state: WaterfallState) -> OpeningDues:
    """The dues of the payment date in ``state`` as the engine computes them (the cycle's
    ``InterestAccrued``/``FeeAccrued`` record exactly these; they do not depend on the mode)."""
    run = _Run(deal, state, deal.default_mode)
    return OpeningDues(run.env(), dict(run.interest_due), dict(run.fee_due))


class _Run:
    """The mutable working of one run; only :meth:`run`'s frozen result leaves the module."""

    def __init__(self, deal: DealDefinition, state: WaterfallState, mode: str) -> None:
        self.deal, self.state, self.mode = deal, state, mode
        unknown = sorted(set(state.accounts) - set(deal.accounts))
        if unknown:
            raise WaterfallError(f"state has accounts the deal does not define: {unknown}")
        unknown = sorted(set(state.notes) - set(deal.notes))
        if unknown:
            raise WaterfallError(f"state has notes the deal does not define: {unknown}")
        self.balances = {aid: state.accounts.get(aid, ZERO) for aid in deal.accounts}
        for aid, balance in self.balances.items():
            if deal.accounts[aid].kind != "ledger" and balance < 0:
                raise WaterfallError(f"cash account {aid!r} opens negative ({balance})")
        self.note_bal = {
            nid: (state.notes[nid].balance if nid in state.notes else note.amount)
            for nid, note in deal.notes.items()
        }
        self.results: list[StepResult] = []
        self.entries: list[JournalEntry] = []
        self.paid_out = ZERO
        self.purchases: list[Purchase] = []
        env = self.env()
        try:
            self.interest_due = self._interest_dues(env)
            self.fee_due, self.fee_within = self._fee_dues(env)
        except ExprError as exc:
            raise WaterfallError(str(exc), exc.path) from None
        self.interest_paid = {nid: ZERO for nid in deal.notes}
        self.paid_within = {fid: ZERO for fid in deal.fees}
        self.paid_above = {fid: ZERO for fid in deal.fees}

    def env(self) -> DealEnv:
        return DealEnv(self.deal, self.state, self.balances, self.note_bal)

    # --- amounts due, fixed at the start of the run ------------------------------------------

    def _interest_dues(self, env: DealEnv) -> dict[str, Decimal]:
        """Interest = round_fen(opening balance × coupon × day count) (+ carried shortfall)."""
        out: dict[str, Decimal] = {}
        s = self.state
        for nid, note in self.deal.notes.items():
            if note.coupon.kind == "none":
                out[nid] = ZERO
                continue
            rate = env.number(f"notes.{nid}.rate", f"notes.{nid}.coupon.rate")
            current = round_fen(
                accrual(
                    self.note_bal[nid],
                    rate,
                    s.interest_period_start,
                    s.interest_period_end,
                    note.day_count,
                )
            )
            carried = s.notes[nid].interest_shortfall if nid in s.notes else ZERO
            out[nid] = current + (carried if note.interest_carry_forward else ZERO)
        return out

    def _fee_dues(self, env: DealEnv) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
        """Each fee's total due, and the part of it within its cap (all of it when uncapped)."""
        s = self.state
        due: dict[str, Decimal] = {}
        for fid, fee in self.deal.fees.items():
            where = f"fees.{fid}"
            if fee.kind == "rate":
                assert fee.rate is not None and fee.base is not None and fee.day_count
                rate = env.number(fee.rate, f"{where}.rate")
                base = env.number(fee.base, f"{where}.base")
                start, end = s.interest_period_start, s.interest_period_end
                current = round_fen(accrual(base, rate, start, end, fee.day_count))
            elif fee.amount is not None:
                current = round_fen(env.number(fee.amount, f"{where}.amount"))
            else:
                current = s.fees_incurred.get(fid, ZERO)
            carried = s.fees_unpaid.get(fid, ZERO) if fee.carry_forward else ZERO
            due[fid] = max(ZERO, current) + carried
        within = dict(due)
        self.cap_start: dict[str, date | None] = {}
        self.cap_used_before: dict[str, Decimal] = {}
        for cid, cap in self.deal.caps.items():
            period = cap_period_start(self.deal, cid, s.payment_date)
            usage = s.cap_usage.get(cid)
            used = usage.used if usage is not None and usage.period_start == period else ZERO
            self.cap_start[cid], self.cap_used_before[cid] = period, used
            members = [fid for fid, fee in self.deal.fees.items() if fee.cap == cid]
            total = sum((due[f] for f in members), ZERO)
            if not members or total == 0:
                continue
            cap_amount = max(ZERO, round_fen(env.number(cap.amount, f"caps.{cid}.amount")))
            cap_amount = max(ZERO, cap_amount - used)
            for fid, share in zip(
                members, allocate(min(total, cap_amount), [due[f] for f in members]), strict=True
            ):
                within[fid] = share
        return due, within

    # --- cash movements ----------------------------------------------------------------------

    def _move(self, source: str, dest: str, amount: Decimal, memo: str) -> None:
        """Move cash out of ``source`` to a deal account or an external payee."""
        if amount <= 0:
            return
        if amount > self.balances[source]:  # pragma: no cover - guarded by every caller
            raise WaterfallError(f"{memo}: {amount} exceeds {source} balance")
        self.balances[source] -= amount
        if dest in self.deal.accounts:
            self.balances[dest] += amount
            debit = posting_account(self.deal, dest)
        else:
            self.paid_out += amount
            debit = dest
        self.entries.append(transfer(debit, posting_account(self.deal, source), amount, memo))

    def _book(self, ledger: str, amount: Decimal, memo: str) -> None:
        """Book a non-cash amount (signed) to a ledger against its offset account."""
        if amount == 0:
            return
        self.balances[ledger] += amount
        self.entries.append(
            JournalEntry(
                postings=(
                    Posting(account=posting_account(self.deal, ledger), amount=amount),
                    Posting(account=f"ledger-offset:{ledger}", amount=-amount),
                ),
                memo=memo,
            )
        )

    def _line(
        self,
        step: Step,
        source: str | None,
        dest: str,
        due: Decimal,
        paid: Decimal,
        carried: Decimal = ZERO,
        skipped: bool = False,
        failed_tests: tuple[str, ...] = (),
    ) -> None:
        self.results.append(
            StepResult(
                step_id=step.id,
                clause=step.clause,
                kind=step.kind,
                source=source,
                destination=dest,
                due=due,
                paid=paid,
                shortfall=due - paid,
                carried_forward=carried,
                skipped=skipped,
                failed_tests=failed_tests,
            )
        )

    # --- the walk ----------------------------------------------------------------------------

    def run(self) -> WaterfallResult:
        steps = self.deal.waterfalls[self.mode]
        by_id = {step.id: step for step in steps}
        for i, step in enumerate(steps):
            try:
                self._step(step, by_id)
            except ExprError as exc:
                raise formula_failure(f"waterfalls.{self.mode}[{i}]", exc) from None
        shortfalls = {
            nid: (self.interest_due[nid] - self.interest_paid[nid])
            if note.interest_carry_forward
            else ZERO
            for nid, note in self.deal.notes.items()
        }
        unpaid = {
            fid: (self.fee_due[fid] - self.paid_within[fid] - self.paid_above[fid])
            if fee.carry_forward
            else ZERO
            for fid, fee in self.deal.fees.items()
        }
        return WaterfallResult(
            mode=self.mode,
            payment_date=self.state.payment_date,
            steps=tuple(self.results),
            entries=tuple(self.entries),
            opening_accounts={aid: self.state.accounts.get(aid, ZERO) for aid in self.balances},
            closing_accounts=dict(self.balances),
            note_balances=dict(self.note_bal),
            interest_shortfalls=shortfalls,
            fees_unpaid=unpaid,
            paid_out=self.paid_out,
            purchases=tuple(self.purchases),
            cap_usage=self._cap_usage(),
        )

    def _cap_usage(self) -> dict[str, CapUsage]:
        out = {}
        for cid in self.deal.caps:
            members = [fid for fid, fee in self.deal.fees.items() if fee.cap == cid]
            used = self.cap_used_before[cid] + sum((self.paid_within[f] for f in members), ZERO)
            out[cid] = CapUsage(period_start=self.cap_start[cid], used=used)
        return out

    def _applies(self, step: Step, env: DealEnv) -> bool:
        return step.when is None or env.condition(step.when, "when")

    def _limit(self, step: Step, env: DealEnv) -> Decimal | None:
        if step.limit is None:
            return None
        return max(ZERO, round_fen(env.number(step.limit, "limit")))

    def _step(self, step: Step, by_id: dict[str, Step]) -> None:
        env = self.env()
        if not self._applies(step, env):
            for source, dest, _ in self._dues(step, env):
                self._line(step, source, dest, ZERO, ZERO, skipped=True)
            return
        limit = self._limit(step, env)
        if isinstance(step, BookLedgerStep):
            amount = round_fen(env.number(step.amount, "amount")) * step.sign
            self._book(step.ledger, amount, f"{step.id}: {step.clause}")
            self._line(step, None, posting_account(self.deal, step.ledger), amount, amount)
            paid = amount
        else:
            budget = self.balances[step.source]
            if limit is not None:
                budget = min(budget, limit)
            if isinstance(step, CoverShortfallStep):
                paid = self._cover(step, env, by_id, budget)
            elif isinstance(step, PayPrincipalStep):
                paid = self._principal(step, env, budget)
            elif isinstance(step, PurchaseStep):
                paid = self._purchase(step, env, budget)
            else:
                paid = self._group(step, env, budget)
        for booking in step.record_in:
            memo = f"{step.id}: {step.clause} (recorded in {booking.ledger})"
            self._book(booking.ledger, paid * booking.sign, memo)

    def _dues(self, step: Step, env: DealEnv) -> list[tuple[str | None, str, Decimal]]:
        """(source, destination, amount due) of each payee of a non-principal step."""
        d = self.deal
        if isinstance(step, BookLedgerStep):
            return [(None, posting_account(d, step.ledger), ZERO)]
        src = step.source
        if isinstance(step, PayFeesStep):
            out: list[tuple[str | None, str, Decimal]] = []
            for fid in step.fees:
                fee = d.fees[fid]
                within = max(ZERO, self.fee_within[fid] - self.paid_within[fid])
                above = self.fee_due[fid] - self.fee_within[fid] - self.paid_above[fid]
                due = {"within_cap": within, "above_cap": above, "full": within + above}
                dest = fee.paid_into or f"payable:fee:{fid}"
                out.append((src, dest, due[step.portion]))
            return out
        if isinstance(step, PayInterestStep):
            return [
                (
                    src,
                    f"payable:note:{nid}:interest",
                    self.interest_due[nid] - self.interest_paid[nid],
                )
                for nid in step.notes
            ]
        if isinstance(step, TopUpStep):
            out = []
            for aid in step.accounts:
                target = round_fen(env.number(f"targets.{aid}", f"accounts.{aid}.target"))
                out.append((src, aid, max(ZERO, target - self.balances[aid])))
            return out
        if isinstance(step, PayPrincipalStep):
            return [
                (src, f"payable:note:{nid}:principal", self.note_bal[nid]) for nid in step.notes
            ]
        if isinstance(step, CoverShortfallStep):
            return [(src, step.to, ZERO)]
        if isinstance(step, TransferStep):
            return [(src, step.to, self._amount_or_all(step.amount, src, env))]
        if isinstance(step, PayStep):
            return [
                (src, f"payable:party:{step.payee}", self._amount_or_all(step.amount, src, env))
            ]
        if isinstance(step, PurchaseStep):
            offered, price = self._offer(step, env)
            return [(src, f"payable:party:{step.seller}", round_fen(offered * price))]
        if isinstance(step, PayReturnStep):
            dest = f"payable:note:{step.note}:return"
            if not step.capped:
                return [(src, dest, self.balances[src])]
            note = d.notes[step.note]
            assert note.period_return_cap is not None
            s = self.state
            cap = accrual(
                self.note_bal[step.note],
                note.period_return_cap,
                s.interest_period_start,
                s.interest_period_end,
                note.day_count,
            )
            return [(src, dest, round_fen(cap))]
        raise WaterfallError(f"unknown step kind {step.kind!r}")  # pragma: no cover

    def _amount_or_all(self, formula: str | None, source: str, env: DealEnv) -> Decimal:
        if formula is None:
            return self.balances[source]
        return max(ZERO, round_fen(env.number(formula, "amount")))

    def _group(self, step: Step, env: DealEnv, budget: Decimal) -> Decimal:
        """Pay the payees of a step pari passu, pro rata to what each is due."""
        lines = self._dues(step, env)
        dues = [due for _, _, due in lines]
        total = min(sum(dues, ZERO), budget)
        shares = _pro_rata(total, dues)
        memo = f"{step.id}: {step.clause}"
        for (source, dest, due), paid, index in zip(lines, shares, range(len(lines)), strict=True):
            assert source is not None
            self._move(source, dest, paid, memo)
            carried = self._settle(step, index, paid, due)
            self._line(step, source, dest, due, paid, carried)
        return total

    def _settle(self, step: Step, index: int, paid: Decimal, due: Decimal) -> Decimal:
        """Record what a fee or interest line paid; return the shortfall carried forward."""
        if isinstance(step, PayFeesStep):
            fid = step.fees[index]
            if step.portion == "above_cap":
                self.paid_above[fid] += paid
            elif step.portion == "within_cap":
                self.paid_within[fid] += paid
            else:
                to_within = min(paid, max(ZERO, self.fee_within[fid] - self.paid_within[fid]))
                self.paid_within[fid] += to_within
                self.paid_above[fid] += paid - to_within
            return due - paid if self.deal.fees[fid].carry_forward else ZERO
        if isinstance(step, PayInterestStep):
            nid = step.notes[index]
            self.interest_paid[nid] += paid
            return due - paid if self.deal.notes[nid].interest_carry_forward else ZERO
        return ZERO

    def _principal(self, step: PayPrincipalStep, env: DealEnv, budget: Decimal) -> Decimal:
        """Principal down to the target balance (zero by default), sequential or pro rata."""
        balances = [self.note_bal[nid] for nid in step.notes]
        due_total = self._principal_due(step, env)
        paid_total = min(due_total, budget)
        if step.method == "pro_rata":
            dues = _pro_rata(due_total, balances)
            paid = _pro_rata(paid_total, balances)
        else:
            dues, paid = [], []
            left_due, left_paid = due_total, paid_total
            for balance in balances:
                dues.append(min(balance, left_due))
                paid.append(min(balance, left_paid))
                left_due -= dues[-1]
                left_paid -= paid[-1]
        memo = f"{step.id}: {step.clause}"
        for nid, due, amount in zip(step.notes, dues, paid, strict=True):
            dest = f"payable:note:{nid}:principal"
            self._move(step.source, dest, amount, memo)
            self.note_bal[nid] -= amount
            self._line(step, step.source, dest, due, amount)
        return paid_total

    def _cover(
        self, step: CoverShortfallStep, env: DealEnv, by_id: dict[str, Step], budget: Decimal
    ) -> Decimal:
        """Cover what ``step.to`` lacks to pay the covered steps (principal → income cover)."""
        needed = ZERO
        for sid in step.covers:
            covered = by_id[sid]
            if isinstance(covered, BookLedgerStep | CoverShortfallStep):
                continue
            if covered.source != step.to or not self._applies(covered, env):
                continue
            if isinstance(covered, TransferStep | PayStep) and covered.amount is None:
                continue  # "everything left" is not an amount due
            if isinstance(covered, PayReturnStep) and not covered.capped:
                continue
            if isinstance(covered, PayPrincipalStep):
                due = self._principal_due(covered, env)
            else:
                due = sum((d for _, _, d in self._dues(covered, env)), ZERO)
            limit = self._limit(covered, env)
            needed += due if limit is None else min(due, limit)
        due = max(ZERO, needed - self.balances[step.to])
        paid = min(due, budget)
        self._move(step.source, step.to, paid, f"{step.id}: {step.clause}")
        self._line(step, step.source, step.to, due, paid)
        return paid

    def _offer(self, step: PurchaseStep, env: DealEnv) -> tuple[Decimal, Decimal]:
        """(balance offered, price per unit of balance) of a purchase step."""
        offered = max(ZERO, round_fen(env.number(step.offered, "offered")))
        price = env.number(step.price, "price")
        if price <= 0:
            raise ExprError(f"price: a purchase price must be positive, got {price}")
        return offered, price

    def _purchase(self, step: PurchaseStep, env: DealEnv, budget: Decimal) -> Decimal:
        """Buy the most of the offer the budget pays for (seed 001 L11099-11105, L17709-17723;
        seed 002 L196-200), unless a pool-level criterion fails after it: whole loans of a
        listed offer, in its order, else the largest fen balance."""
        offered, price = self._offer(step, env)
        due = round_fen(offered * price)
        listed = self.state.offered_receivables
        loan_ids: tuple[str, ...] = ()
        if listed:
            total = sum((r.balance for r in listed), ZERO)
            if total != offered:
                raise WaterfallError(
                    f"{step.id}: offered {offered} but the receivables listed total {total}"
                )
            balance = ZERO
            bought: list[str] = []
            for r in listed:
                if round_fen((balance + r.balance) * price) > budget:
                    break
                balance += r.balance
                bought.append(r.loan_id)
            loan_ids = tuple(bought)
        else:
            # the largest fen balance whose price, rounded half-up to the fen, the budget covers
            balance = min(offered, (budget / price).quantize(FEN, rounding=ROUND_DOWN))
            while balance > 0 and round_fen(balance * price) > budget:
                balance -= FEN
            while balance < offered and round_fen((balance + FEN) * price) <= budget:
                balance += FEN
        paid = round_fen(balance * price)
        failed: tuple[str, ...] = ()
        if balance > 0:
            failed = tuple(c.id for c in pool_criteria_failures(self.deal, env, balance, paid))
            if failed:
                balance = paid = ZERO
                loan_ids = ()
        dest = f"payable:party:{step.seller}"
        memo = f"{step.id}: {step.clause}"
        self._move(step.source, dest, paid, memo)
        self._line(step, step.source, dest, due, paid, failed_tests=failed)
        for booking in step.record_balance_in:
            self._book(booking.ledger, balance * booking.sign, f"{memo} (balance bought)")
        self.purchases.append(
            Purchase(
                step_id=step.id,
                seller=step.seller,
                offered=offered,
                balance=balance,
                price=paid,
                available=budget,
                loan_ids=loan_ids,
            )
        )
        return paid

    def _principal_due(self, step: PayPrincipalStep, env: DealEnv) -> Decimal:
        outstanding = sum((self.note_bal[nid] for nid in step.notes), ZERO)
        target = ZERO
        if step.target_balance is not None:
            target = max(ZERO, round_fen(env.number(step.target_balance, "target_balance")))
        due = max(ZERO, outstanding - target)
        if step.amount is not None:
            due = min(due, max(ZERO, round_fen(env.number(step.amount, "amount"))))
        return due
