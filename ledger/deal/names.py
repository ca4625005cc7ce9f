"""The names a deal's formulas may read, and their kinds (SPEC §3: "formulas over named metrics").

The waterfall engine builds its evaluation environment with exactly these names
(:func:`ledger.waterfall.env.build_env`), so a formula that validates can be evaluated.

======================================  ======  ==============================================
name                                    kind    meaning
======================================  ======  ==============================================
``params.<id>``                         number  a deal parameter (assumed ones flagged)
``accounts.<id>.balance``               number  current balance (changes as steps run)
``accounts.<id>.opening``               number  balance at the start of the waterfall
``targets.<id>``                        number  an account's target formula, evaluated
``notes.<id>.balance`` / ``.opening``   number  outstanding principal now / before the run
``notes.<id>.original``                 number  face amount at issue
``notes.<id>.interest_shortfall``       number  interest carried forward from earlier dates
``notes.<id>.rate``                     number  current coupon (notes with a coupon)
``triggers.<id>``                       bool    the trigger is in effect
``defs.<id>``                           either  a named derived formula
``ratings.<role or party>.<agency>``    number  rank of the grade (compare with ``'A+'``)
``roles.<role>``                        number  ordinal of the party holding the role
``period.days``                         number  actual days in the interest period
``period.index``                        number  payment date number (1 = first)
``period.revolving``                    bool    in the revolving period (deals with one)
``period.payment_date`` / ``.start``    date    payment date; interest period start / end
``period.end`` / ``period.as_of``       date    (excl.); evaluation date (a trigger's as_of)
``dates.cut_off`` / ``.first_payment``  date    calendar dates of the deal file; also
``dates.closing`` / ``.revolving_end``  date    when the file has them
declared metrics (``pool.balance``)     either  supplied by projections each period
``loan.<field>`` (loan formulas only)   either  a loan's field, for eligibility/repurchase
``purchase.balance`` / ``.price``       number  pool-level criteria only: what a purchase buys
======================================  ======  ==============================================
"""

from __future__ import annotations

import datetime as dt

from ledger.core.expr import Kind
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
)

PURCHASE_NAMES: dict[str, Kind] = {"purchase.balance": "number", "purchase.price": "number"}
"""Names a pool-level eligibility test adds: the balance a purchase step would buy, its price."""

NOTE_FIELDS = ("balance", "opening", "original", "interest_shortfall")
PERIOD_FIELDS = ("days", "index")
PERIOD_DATES = ("payment_date", "start", "end", "as_of")


def deal_names(
    deal: DealDefinition, *, targets: bool = True, defs_upto: str | None = None
) -> dict[str, Kind]:
    """Every name a deal-level formula may read.

    ``targets=False`` leaves out ``targets.*`` (target and definition formulas may not read
    targets, so they cannot loop); ``defs_upto`` keeps only definitions declared before it.
    """
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
    for tid in deal.triggers:
        names[f"triggers.{tid}"] = "bool"
    for did, definition in deal.definitions.items():
        if did == defs_upto:
            break
        names[f"defs.{did}"] = definition.kind
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
    for name in deal_dates(deal):
        names[name] = "date"
    if deal.revolving_period is not None:
        names["period.revolving"] = "bool"
    for metric, decl in deal.metrics.items():
        names[metric] = decl.kind
    return names


def deal_dates(deal: DealDefinition) -> dict[str, dt.date]:
    """The deal's fixed dates as formula names (``dates.closing`` only when the file has it)."""
    c = deal.calendar
    out = {"dates.cut_off": c.cut_off_date, "dates.first_payment": c.first_payment_date}
    if c.closing_date is not None:
        out["dates.closing"] = c.closing_date
    if deal.revolving_period is not None:
        out["dates.revolving_end"] = deal.revolving_period.last_payment_date
    return out


def loan_names(deal: DealDefinition) -> dict[str, Kind]:
    """Names a loan-level formula (eligibility test, repurchase price) may read."""
    names: dict[str, Kind] = {f"params.{pid}": "number" for pid in deal.parameters}
    for field, decl in deal.loan_fields.items():
        names[f"loan.{field}"] = decl.kind
    return names
