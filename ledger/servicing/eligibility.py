"""Eligibility of loans against a deal's criteria (boarding and revolving purchases).

**Eligibility at boarding** — each criterion with a ``test`` and ``boarding`` in ``applies_to``
  is evaluated with :func:`ledger.deal.pool_rules.eligibility_failures` on the loan fields the tape
  gives: an **extra column** named like the deal's ``loan_fields`` entry (number or
  ``true``/``false``), else a value **derived** from the pinned columns (:data:`DERIVED_FIELDS`,
  e.g. ``maturity_yyyymmdd``, ``original_term_months``, ``borrower_exposure``, Driver China
  Thirteen's ``discounted_receivables_balance`` at the cut-off). A criterion reading a field the
  tape neither carries nor implies (borrower age, LTV, ...) cannot be checked from the tape: it is
  reported in :attr:`ImportResult.unchecked` (like the deal's documentary criteria), not failed."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from ledger.core.amortisation import Amortization
from ledger.core.discounting import DrbConvention, boarding_drb
from ledger.core.expr import Value, parse
from ledger.core.money import ZERO
from ledger.deal.pool_rules import eligibility_failures
from ledger.deal.schema import Criterion, DealDefinition
from ledger.servicing.tape_formats import BoardingRow, BoardingTape, TapeError

# --- boarding ---------------------------------------------------------------------------------


def _months_between(start: date, end: date) -> int:
    months = (end.year - start.year) * 12 + end.month - start.month
    return months - 1 if end.day < start.day else months


def _yyyymmdd(d: date) -> Decimal:
    return Decimal(d.year * 10000 + d.month * 100 + d.day)


@dataclass(frozen=True, slots=True)
class _PoolFacts:
    cut_off: date
    """The (Additional) Cut-Off Date the fields are measured at."""
    drb: DrbConvention | None
    pool_outstanding: Decimal
    pool_original: Decimal
    by_borrower_outstanding: Mapping[str, Decimal]
    by_borrower_original: Mapping[str, Decimal]


def _drb(r: BoardingRow, p: _PoolFacts) -> Decimal:
    if p.drb is None:
        raise ValueError("the deal has no discounted_balance block to value the loan with")
    return boarding_drb(r, p.cut_off, p.drb)


def _original_term(r: BoardingRow) -> int:
    return _months_between(r.origination_date, r.maturity_date)


DERIVED_FIELDS: dict[str, tuple[tuple[str, ...], Callable[[BoardingRow, _PoolFacts], Value]]] = {
    "outstanding_principal": (("outstanding_principal",), lambda r, p: r.outstanding_principal),
    "outstanding_at_cutoff": (("outstanding_principal",), lambda r, p: r.outstanding_principal),
    "original_principal": (("original_principal",), lambda r, p: r.original_principal),
    "rate": (("interest_rate",), lambda r, p: r.interest_rate),
    "days_past_due": (("days_past_due",), lambda r, p: Decimal(r.days_past_due)),
    "days_overdue_at_cutoff": (("days_past_due",), lambda r, p: Decimal(r.days_past_due)),
    "days_late_now": (("days_past_due",), lambda r, p: Decimal(r.days_past_due)),
    "remaining_term_months": (
        ("remaining_term_months",),
        lambda r, p: Decimal(r.remaining_term_months),
    ),
    # a revolving purchase's tape is drawn as at its Additional Cut-Off Date (seed 002 L164 (o))
    "remaining_term_months_at_purchase_cutoff": (
        ("remaining_term_months",),
        lambda r, p: Decimal(r.remaining_term_months),
    ),
    "maturity_yyyymmdd": (("maturity_date",), lambda r, p: _yyyymmdd(r.maturity_date)),
    "expiry_yyyymmdd": (("maturity_date",), lambda r, p: _yyyymmdd(r.maturity_date)),
    "origination_yyyymmdd": (("origination_date",), lambda r, p: _yyyymmdd(r.origination_date)),
    "original_term_months": (
        ("origination_date", "maturity_date"),
        lambda r, p: Decimal(_original_term(r)),
    ),
    "remaining_term_years_at_origination": (
        ("origination_date", "maturity_date"),
        lambda r, p: Decimal(_original_term(r)) / 12,
    ),
    "months_to_maturity": (
        ("maturity_date",),
        lambda r, p: Decimal(_months_between(p.cut_off, r.maturity_date)),
    ),
    "instalments_paid": (
        ("origination_date", "maturity_date", "remaining_term_months"),
        lambda r, p: Decimal(max(_original_term(r) - r.remaining_term_months, 0)),
    ),
    "repayments_made": (
        ("origination_date", "maturity_date", "remaining_term_months"),
        lambda r, p: Decimal(max(_original_term(r) - r.remaining_term_months, 0)),
    ),
    "is_bullet": (("amortization",), lambda r, p: r.amortization is Amortization.BULLET),
    "monthly_level_payment_or_principal": (
        ("amortization",),
        lambda r, p: r.amortization in (Amortization.ANNUITY, Amortization.LEVEL_PRINCIPAL),
    ),
    "borrower_exposure": (
        ("borrower_id", "outstanding_principal"),
        lambda r, p: p.by_borrower_outstanding[r.borrower_id],
    ),
    "pool_share_at_cutoff": (
        ("outstanding_principal",),
        lambda r, p: r.outstanding_principal / p.pool_outstanding if p.pool_outstanding else ZERO,
    ),
    "borrower_contract_share": (
        ("borrower_id", "original_principal"),
        lambda r, p: (
            p.by_borrower_original[r.borrower_id] / p.pool_original if p.pool_original else ZERO
        ),
    ),
    "discounted_receivables_balance": (
        ("outstanding_principal", "interest_rate", "remaining_term_months", "maturity_date"),
        lambda r, p: _drb(r, p),
    ),
    "written_off_principal": ((), lambda r, p: ZERO),
}
"""Loan fields a boarding tape implies: field → (tape columns it comes from, how)."""


def _criterion_fields(crit: Criterion) -> frozenset[str]:
    assert crit.test is not None
    return frozenset(
        n.removeprefix("loan.") for n in parse(crit.test).names() if n.startswith("loan.")
    )


def _extra_value(kind: str, text: str) -> Value:
    if kind == "bool":
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"{text!r} is not true or false")
    try:
        value = Decimal(text)
    except ArithmeticError:
        raise ValueError(f"{text!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a number")
    return value


def loan_fields_of(
    deal: DealDefinition,
    tape: BoardingTape,
    needed: Iterable[str] | None = None,
    cut_off: date | None = None,
) -> tuple[list[dict[str, Value]], list[TapeError]]:
    """Each loan's ``loan.*`` fields for the deal's formulas, from its extra columns (by field
    name) or derived from the pinned columns (:data:`DERIVED_FIELDS`) as at ``cut_off`` (default:
    the deal's cut-off date; an Additional Cut-Off Date for a revolving purchase); malformed
    extra values are errors on that column. ``needed`` limits the fields computed (default: every
    declared one)."""
    wanted = [
        f for f in (needed if needed is not None else deal.loan_fields) if f in deal.loan_fields
    ]
    facts = _pool_facts(deal, tape.rows, cut_off or deal.calendar.cut_off_date)
    out: list[dict[str, Value]] = []
    errors: list[TapeError] = []
    for row, line in zip(tape.rows, tape.lines, strict=True):
        env: dict[str, Value] = {}
        for name in wanted:
            text = row.extra.get(name)
            if text:
                try:
                    env[name] = _extra_value(deal.loan_fields[name].kind, text)
                except ValueError as exc:
                    errors.append(TapeError(tape.file, line, name, str(exc)))
            elif name in DERIVED_FIELDS:
                env[name] = DERIVED_FIELDS[name][1](row, facts)
        out.append(env)
    return out, errors


def _pool_facts(deal: DealDefinition, rows: Sequence[BoardingRow], cut_off: date) -> _PoolFacts:
    out_by: dict[str, Decimal] = {}
    orig_by: dict[str, Decimal] = {}
    for r in rows:
        out_by[r.borrower_id] = out_by.get(r.borrower_id, ZERO) + r.outstanding_principal
        orig_by[r.borrower_id] = orig_by.get(r.borrower_id, ZERO) + r.original_principal
    return _PoolFacts(
        cut_off=cut_off,
        drb=deal.drb_convention(),
        pool_outstanding=sum(out_by.values(), ZERO),
        pool_original=sum(orig_by.values(), ZERO),
        by_borrower_outstanding=out_by,
        by_borrower_original=orig_by,
    )


def check_eligibility(
    deal: DealDefinition,
    tape: BoardingTape,
    stage: Literal["boarding", "revolving"] = "boarding",
    cut_off: date | None = None,
) -> tuple[list[TapeError], tuple[str, ...]]:
    """Every (file, row, field, reason) of an ineligible loan, and the criteria that could not be
    checked from this tape (pure). ``stage``: the criteria of the boarding at the deal's cut-off,
    or of a revolving purchase as at its Additional Cut-Off Date ``cut_off``."""
    testable = [
        c for c in deal.eligibility if c.test is not None and stage in c.applies_to
        and c.level == "loan"
    ]  # fmt: skip
    needed = (
        frozenset().union(*(_criterion_fields(c) for c in testable)) if testable else frozenset()
    )
    envs, errors = loan_fields_of(deal, tape, needed, cut_off)
    extra_names = set().union(*(r.extra.keys() for r in tape.rows)) if tape.rows else set()
    available = (set(DERIVED_FIELDS) | extra_names) & set(deal.loan_fields)
    checkable: list[Criterion] = []
    unchecked: list[str] = []
    for c in testable:
        missing = sorted(_criterion_fields(c) - available)
        if missing:
            unchecked.append(f"{c.id}: needs {', '.join(missing)} (not on the tape)")
        else:
            checkable.append(c)
    unchecked += [
        f"{c.id}: documentary" for c in deal.eligibility if c.test is None and stage in c.applies_to
    ]
    trimmed = deal.model_copy(update={"eligibility": tuple(checkable)})
    bad_lines = {e.row for e in errors}
    for row, line, env in zip(tape.rows, tape.lines, envs, strict=True):
        if line in bad_lines:
            continue
        usable = [c for c in checkable if _criterion_fields(c) <= env.keys()]
        if len(usable) != len(checkable):
            trimmed_row = trimmed.model_copy(update={"eligibility": tuple(usable)})
            failed = eligibility_failures(trimmed_row, env, stage)
        else:
            failed = eligibility_failures(trimmed, env, stage)
        for crit in failed:
            names = sorted(_criterion_fields(crit))
            columns: list[str] = []
            for n in names:
                src = DERIVED_FIELDS[n][0] if n in DERIVED_FIELDS and n not in row.extra else (n,)
                columns.extend(c for c in src if c not in columns)
            values = ", ".join(f"loan.{n}={env[n]}" for n in names)
            errors.append(
                TapeError(
                    tape.file,
                    line,
                    ",".join(columns),
                    f"loan {row.loan_id} is ineligible: criterion {crit.id} ({crit.text}) "
                    f"fails with {values} [{crit.clause}]",
                )
            )
    return errors, tuple(unchecked)


def eligible_rows(
    deal: DealDefinition,
    rows: Sequence[BoardingRow],
    stage: Literal["boarding", "revolving"] = "boarding",
    cut_off: date | None = None,
) -> list[BoardingRow]:
    """The rows that pass the deal's checkable criteria of ``stage`` (pure; for simulated pools,
    whose draws do not know the deal's eligibility criteria)."""
    tape = BoardingTape("<rows>", "", tuple(rows), tuple(range(2, len(rows) + 2)))
    errors, _ = check_eligibility(deal, tape, stage, cut_off)
    bad = {e.row for e in errors}
    return [r for r, line in zip(rows, tape.lines, strict=True) if line not in bad]
