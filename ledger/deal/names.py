"""The names a deal's formulas may read, and their kinds: the engine primitives of
:mod:`ledger.deal.primitives` (the one catalogue, ``docs/primitives.md``) expanded for one deal,
plus the deal file's own formulas (``defs.<id>``, formula metrics).

The waterfall engine builds its evaluation environment with exactly these names
(:class:`ledger.waterfall.env.DealEnv`), so a formula that validates can be evaluated.
"""

from __future__ import annotations

import datetime as dt
import weakref

from ledger.core.expr import Kind
from ledger.deal.primitives import family_of
from ledger.deal.schema import DealDefinition

RESERVED_PREFIXES = (
    "params.",
    "accounts.",
    "targets.",
    "notes.",
    "triggers.",
    "defs.",
    "ratings.",
    "roles.",
    "period.",
    "loan.",
    "purchase.",
    "dates.",
    "dry_run.",
    "clean_up.",
    "last_pd.",
    "reported.",
    "reported_for_date.",
)
"""Prefixes of state names and of the determination families: no formula metric may use them."""

PURCHASE_NAMES: dict[str, Kind] = {"purchase.balance": "number", "purchase.price": "number"}
"""Names a pool-level eligibility test adds: the balance a purchase step would buy, its price."""

CLEAN_UP_NAMES: dict[str, Kind] = {
    "clean_up.price": "number",
    "clean_up.note_obligations": "number",
    "clean_up.notes_repaid": "bool",
}
"""Names ``clean_up_call.proviso`` adds (the clean-up test of a payment date)."""

NOTE_FIELDS = ("balance", "opening", "original", "interest_shortfall")
PERIOD_FIELDS = ("days", "index")
PERIOD_DATES = ("payment_date", "start", "end", "as_of", "collection_end", "next_as_of")
DATE_NAMES = ("dates.cut_off", "dates.first_payment", "dates.closing")


def metric_kind(deal: DealDefinition, name: str) -> Kind:
    """The kind of a declared metric: its primitive's, or the formula metric's (number when
    the file does not say)."""
    decl = deal.metrics[name]
    if decl.formula is None:
        family = family_of(name)
        if family is not None and family.kind != "date":
            return family.kind
    return decl.kind or "number"


def state_names(deal: DealDefinition, *, targets: bool = True) -> dict[str, Kind]:
    """The state names (always available) of one deal, parameters first."""
    names: dict[str, Kind] = {}
    for pid in deal.parameters:
        names[f"params.{pid}"] = "number"
    for aid, account in deal.accounts.items():
        names[f"accounts.{aid}.balance"] = "number"
        names[f"accounts.{aid}.opening"] = "number"
        if targets and account.target is not None:
            names[f"targets.{aid}"] = "number"
    for nid, note in deal.notes.items():
        for field in NOTE_FIELDS:
            names[f"notes.{nid}.{field}"] = "number"
        if note.coupon.kind != "none":
            names[f"notes.{nid}.rate"] = "number"
        if note.expected_maturity is not None:
            names[f"notes.{nid}.expected_maturity"] = "date"
    for tid in deal.triggers:
        names[f"triggers.{tid}"] = "bool"
    holders = set(deal.roles()) | set(deal.parties)
    for holder in holders:
        for agency in deal.agencies:
            names[f"ratings.{holder}.{agency}"] = "number"
    for role in deal.roles():
        names[f"roles.{role}"] = "number"
    for field in PERIOD_FIELDS:
        names[f"period.{field}"] = "number"
    for field in PERIOD_DATES:
        names[f"period.{field}"] = "date"
    for name in DATE_NAMES:
        names[name] = "date"
    if deal.revolving_period is not None:
        names["period.revolving"] = "bool"
        names["dates.revolving_end"] = "date"
    return names


def deal_names(
    deal: DealDefinition,
    *,
    targets: bool = True,
    defs_upto: str | None = None,
    plan: bool = False,
) -> dict[str, Kind]:
    """Every name a deal-level formula may read.

    ``targets=False`` leaves out ``targets.*`` (target and definition formulas may not read
    targets, so they cannot loop); ``defs_upto`` keeps only definitions declared before it;
    ``plan`` adds the determinations computed while the cycle is planned (``dry_run.*``, which
    trigger formulas only may read).
    """
    names = state_names(deal, targets=targets)
    for did, definition in deal.definitions.items():
        if did == defs_upto:
            break
        names[f"defs.{did}"] = definition.kind
    for metric, decl in deal.metrics.items():
        family = family_of(metric) if decl.formula is None else None
        if family is not None and family.timing == "plan" and not plan:
            continue
        if family is not None and family.timing == "clean_up":
            continue
        names[metric] = metric_kind(deal, metric)
    return names


_KNOWN: dict[int, tuple[weakref.ref[DealDefinition], frozenset[str]]] = {}


def known_names(deal: DealDefinition) -> frozenset[str]:
    """Every name some formula of ``deal`` may read (:func:`deal_names` with ``plan``), cached
    per deal object."""
    hit = _KNOWN.get(id(deal))
    if hit is not None and hit[0]() is deal:
        return hit[1]
    names = frozenset(deal_names(deal, plan=True))
    key = id(deal)
    _KNOWN[key] = (weakref.ref(deal, lambda _: _KNOWN.pop(key, None)), names)
    return names


def metric_formula_names(deal: DealDefinition, upto: str) -> dict[str, Kind]:
    """What the formula of metric ``upto`` may read: parameters, the fixed dates, the declared
    period-end primitives and the formula metrics declared before it that are not averages (an
    average exists only at a determination date, not at each period end)."""
    names: dict[str, Kind] = {f"params.{pid}": "number" for pid in deal.parameters}
    names.update({n: "date" for n in ("dates.cut_off", "dates.first_payment")})
    for metric, decl in deal.metrics.items():
        if metric == upto:
            break
        family = family_of(metric) if decl.formula is None else None
        if (decl.formula is not None and decl.average_of_periods is None) or (
            family is not None and family.timing == "period_end"
        ):
            names[metric] = metric_kind(deal, metric)
    return names


def deal_dates(deal: DealDefinition, closing: dt.date | None = None) -> dict[str, dt.date]:
    """The deal's fixed dates as formula names; ``dates.closing`` is ``closing`` (the notes'
    issue) or the file's closing date, and has no value when neither is known."""
    c = deal.calendar
    out = {"dates.cut_off": c.cut_off_date, "dates.first_payment": c.first_payment_date}
    if closing is not None or c.closing_date is not None:
        out["dates.closing"] = closing or c.closing_date  # type: ignore[assignment]
    if deal.revolving_period is not None:
        out["dates.revolving_end"] = deal.revolving_period.last_payment_date
    return out


def loan_names(deal: DealDefinition) -> dict[str, Kind]:
    """Names a loan-level formula (eligibility test, repurchase price) may read."""
    names: dict[str, Kind] = {f"params.{pid}": "number" for pid in deal.parameters}
    for field, decl in deal.loan_fields.items():
        names[f"loan.{field}"] = decl.kind
    return names
