"""Bank reconciliation: a custodian statement against the ledger's cash postings (issue 6 item 3).

Pure. A *ledger posting* is one leg, on the reconciled account, of an event (:func:`cash_postings`):
its value date is the event's effective date, its reference the payload's ``reference`` where the
event has one, else the event type and date (plus the waterfall step for a step's leg). The bank
signs a credit to the trust account positive, which is the sign of a debit leg on the ledger's
asset account (``ledger/core/accounts.py``), so amounts compare as they are.

:func:`reconcile` matches in this order, each rule only among what the earlier ones left:

1. ``reference``: same non-empty reference and amount, one to one (nearest value date first);
2. ``date+amount``: same value date and amount, one to one;
3. ``many-to-one``: several bank lines of one value date summing exactly to one posting of that
   date, or several postings to one bank line (restricted to the items with the single side's
   reference when any carries it; at most ``max_group`` candidates are searched);
4. ``date+amount±1bd``: same amount, value dates one business day apart (bank value date the
   next business day after the ledger's, or the reverse) — only when a business-day function is
   given.

What is left are breaks: a bank line and a posting with the same reference but different amounts
are **one** ``amount_difference`` (bank minus ledger); any other leftover bank line is
``unmatched_bank``, any leftover posting ``unmatched_ledger``. Finally the closing balances: the
bank's closing balance minus the ledger's (balance of the account as of the period end) should be
exactly what the open items explain (Σ unmatched bank − Σ unmatched ledger + Σ amount
differences); a ``balance_difference`` break carries whatever they do not explain (a different
opening balance, a statement whose running balance does not add up).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import combinations

from events.bank import BankLine, Break, LedgerPosting, Match
from events.envelope import RecordedEvent
from events.model import Event
from ledger.core.money import ZERO

__all__ = [
    "Reconciliation",
    "cash_postings",
    "closing_balance",
    "posting_reference",
    "reconcile",
    "statement_lines",
]

NextBusinessDay = Callable[[date], date]


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The outcome of :func:`reconcile` (what ``ReconciliationCompleted`` records)."""

    matched: tuple[Match, ...]
    breaks: tuple[Break, ...]
    bank_closing_balance: Decimal | None
    ledger_closing_balance: Decimal


# --- the ledger side ------------------------------------------------------------------------------


def posting_reference(event: Event, effective_date: date, memo: str, entries: int) -> str:
    """The reference a custodian would show for a leg: the payload's ``reference`` (e.g.
    ``CollectionsRemitted``), else ``<type> <payment date or effective date>``, with the
    waterfall step (the memo up to ``:``) when the event posts several entries."""
    given = getattr(event, "reference", None)
    if isinstance(given, str) and given:
        return given
    day = getattr(event, "payment_date", None) or effective_date
    ref = f"{event.type_name} {day.isoformat()}"
    if entries > 1 and memo:
        ref += " " + memo.split(":", 1)[0]
    return ref


def cash_postings(
    events: Iterable[RecordedEvent], accounts: Iterable[str]
) -> dict[str, list[LedgerPosting]]:
    """Every leg on each of ``accounts``, in (value date, chain) order."""
    wanted = frozenset(accounts)
    out: dict[str, list[LedgerPosting]] = {a: [] for a in wanted}
    for recorded in events:
        ev = recorded.event
        if not any(a in wanted for a, _ in ev.legs()):
            continue
        entries = ev.entries()
        for entry in entries:
            for p in entry.postings:
                if p.account in wanted and p.amount:
                    out[p.account].append(
                        LedgerPosting(
                            event_id=recorded.event_id,
                            deal_seq=recorded.deal_seq,
                            event_type=recorded.type,
                            value_date=recorded.effective_date,
                            amount=p.amount,
                            reference=posting_reference(
                                ev, recorded.effective_date, entry.memo, len(entries)
                            ),
                        )
                    )
    for postings in out.values():
        postings.sort(key=lambda p: (p.value_date, p.deal_seq))
    return out


def closing_balance(postings: Iterable[LedgerPosting], as_of: date) -> Decimal:
    """The account's balance at the end of ``as_of`` (every posting of a value date up to it)."""
    return sum((p.amount for p in postings if p.value_date <= as_of), ZERO)


def statement_lines(postings: Sequence[LedgerPosting], opening: Decimal) -> tuple[BankLine, ...]:
    """The statement a custodian would send for these postings: one line per leg in value-date
    order, the leg's reference, and the running balance from ``opening``. Line numbers are CSV
    lines (header = 1)."""
    lines = []
    balance = opening
    for i, p in enumerate(sorted(postings, key=lambda p: (p.value_date, p.deal_seq)), start=2):
        balance += p.amount
        lines.append(
            BankLine(
                line_no=i,
                value_date=p.value_date,
                amount=p.amount,
                reference=p.reference,
                balance_after=balance,
            )
        )
    return tuple(lines)


# --- matching -------------------------------------------------------------------------------------


class _Matcher:
    def __init__(self, lines: Sequence[BankLine], postings: Sequence[LedgerPosting]) -> None:
        self.lines = sorted(lines, key=lambda line: line.line_no)
        self.postings = sorted(postings, key=lambda p: (p.value_date, p.deal_seq))
        self.free_lines = set(range(len(self.lines)))
        self.free_postings = set(range(len(self.postings)))
        self.matched: list[Match] = []

    def take(self, line_ix: Sequence[int], posting_ix: Sequence[int], rule: str) -> None:
        self.free_lines.difference_update(line_ix)
        self.free_postings.difference_update(posting_ix)
        first = self.lines[line_ix[0]]
        self.matched.append(
            Match(
                bank_lines=tuple(self.lines[i].line_no for i in line_ix),
                postings=tuple(self.postings[j] for j in posting_ix),
                value_date=first.value_date,
                amount=sum((self.lines[i].amount for i in line_ix), ZERO),
                rule=rule,
            )
        )

    def one_to_one(self, rule: str, fits: Callable[[BankLine, LedgerPosting], bool]) -> None:
        by_amount: dict[Decimal, list[int]] = {}
        for j in sorted(self.free_postings):
            by_amount.setdefault(self.postings[j].amount, []).append(j)
        for i in sorted(self.free_lines):
            line = self.lines[i]
            best: tuple[int, int] | None = None
            for j in by_amount.get(line.amount, ()):
                p = self.postings[j]
                if j in self.free_postings and fits(line, p):
                    gap = abs((p.value_date - line.value_date).days)
                    if best is None or gap < best[0]:
                        best = (gap, j)
            if best is not None:
                self.take([i], [best[1]], rule)

    def many_to_one(self, max_group: int) -> None:
        for j in sorted(self.free_postings):
            p = self.postings[j]
            group = [i for i in sorted(self.free_lines) if self.lines[i].value_date == p.value_date]
            found = _subset(group, [self.lines[i] for i in group], p.amount, p.reference, max_group)
            if found:
                self.take(found, [j], "many-to-one")
        for i in sorted(self.free_lines):
            line = self.lines[i]
            pgroup = [
                j
                for j in sorted(self.free_postings)
                if self.postings[j].value_date == line.value_date
            ]
            found = _subset(
                pgroup, [self.postings[j] for j in pgroup], line.amount, line.reference, max_group
            )
            if found:
                self.take([i], found, "many-to-one")


def _subset(
    ix: list[int],
    items: Sequence[BankLine | LedgerPosting],
    total: Decimal,
    reference: str,
    max_group: int,
) -> list[int] | None:
    """The first group of at least two of ``items`` summing to ``total``: those sharing
    ``reference`` when any does, else all of them; the whole group first, then smaller ones
    (searched only when there are at most ``max_group`` candidates)."""
    if reference and any(it.reference == reference for it in items):
        pairs = [(i, it) for i, it in zip(ix, items, strict=True) if it.reference == reference]
    else:
        pairs = list(zip(ix, items, strict=True))
    if len(pairs) < 2:
        return None
    if sum((it.amount for _, it in pairs), ZERO) == total:
        return [i for i, _ in pairs]
    if len(pairs) > max_group:
        return None
    for size in range(2, len(pairs)):
        for combo in combinations(pairs, size):
            if sum((it.amount for _, it in combo), ZERO) == total:
                return [i for i, _ in combo]
    return None


def _adjacent(next_business_day: NextBusinessDay) -> Callable[[BankLine, LedgerPosting], bool]:
    def fits(line: BankLine, p: LedgerPosting) -> bool:
        return line.value_date == next_business_day(
            p.value_date
        ) or p.value_date == next_business_day(line.value_date)

    return fits


def reconcile(
    lines: Sequence[BankLine],
    postings: Sequence[LedgerPosting],
    *,
    period_end: date,
    ledger_closing_balance: Decimal,
    bank_closing_balance: Decimal | None = None,
    next_business_day: NextBusinessDay | None = None,
    max_group: int = 12,
) -> Reconciliation:
    """Match ``lines`` of a statement against the ``postings`` of the account in its period (see
    the module docstring for the rules) and list the breaks."""
    m = _Matcher(lines, postings)
    m.one_to_one(
        "reference", lambda line, p: bool(line.reference) and line.reference == p.reference
    )
    m.one_to_one("date+amount", lambda line, p: line.value_date == p.value_date)
    m.many_to_one(max_group)
    if next_business_day is not None:
        m.one_to_one("date+amount±1bd", _adjacent(next_business_day))

    breaks: list[Break] = []
    for i in sorted(m.free_lines):
        line = m.lines[i]
        if not line.reference:
            continue
        same = [j for j in sorted(m.free_postings) if m.postings[j].reference == line.reference]
        if not same:
            continue
        j = min(same, key=lambda j: abs((m.postings[j].value_date - line.value_date).days))
        p = m.postings[j]
        m.free_lines.discard(i)
        m.free_postings.discard(j)
        breaks.append(
            Break(
                kind="amount_difference",
                value_date=line.value_date,
                amount=line.amount - p.amount,
                reference=line.reference,
                bank_line=line.line_no,
                posting=p,
                detail=f"bank {line.amount} vs ledger {p.amount} ({p.event_type} {p.value_date})",
            )
        )
    for i in sorted(m.free_lines):
        line = m.lines[i]
        breaks.append(
            Break(
                kind="unmatched_bank",
                value_date=line.value_date,
                amount=line.amount,
                reference=line.reference,
                bank_line=line.line_no,
                detail="on the statement, not in the ledger",
            )
        )
    for j in sorted(m.free_postings):
        p = m.postings[j]
        breaks.append(
            Break(
                kind="unmatched_ledger",
                value_date=p.value_date,
                amount=p.amount,
                reference=p.reference,
                posting=p,
                detail=f"{p.event_type} in the ledger, not on the statement",
            )
        )
    if bank_closing_balance is not None:
        explained = sum(
            (-b.amount if b.kind == "unmatched_ledger" else b.amount for b in breaks), ZERO
        )
        residual = bank_closing_balance - ledger_closing_balance - explained
        if residual:
            breaks.append(
                Break(
                    kind="balance_difference",
                    value_date=period_end,
                    amount=residual,
                    detail=(
                        f"bank closing {bank_closing_balance} - ledger {ledger_closing_balance}"
                        f" = {bank_closing_balance - ledger_closing_balance}, of which the open"
                        f" items explain {explained}"
                    ),
                )
            )
    matched = sorted(m.matched, key=lambda x: min(x.bank_lines))
    return Reconciliation(
        tuple(matched), tuple(breaks), bank_closing_balance, ledger_closing_balance
    )
