"""The engine's primitives: every name a deal formula may read that the deal file does not define
itself, with its exact definition, its unit and the date it is taken at (issue 13, part A).

A deal's vocabulary is closed. A formula reads

* a **state name** (``params.*``, ``accounts.*``, ``notes.*``, ``triggers.*``, ``period.*``, …):
  always available, the trust on the payment date as the waterfall sees it;
* a **determination** (``pool.balance``, ``collections.interest``, ``pool.adrb``, …): a figure
  the cycle computes from the ledger's events. A deal names the determinations it uses under
  ``metrics:`` (with the seed term each stands for); the cycle computes exactly those, and
  records them on every payment date (``MetricsDetermined``);
* a **formula of the deal file**: ``defs.<id>`` (``definitions:``) or a metric with a
  ``formula`` (``metrics:``; a formula metric reads only parameters, dates, period-end
  determinations and earlier formula metrics, and may average itself over the last n
  collection periods).

Nothing else: ``deal validate`` refuses any other name with its YAML path and line, and no name
has a default value. A determination the cycle cannot take on a date (the previous payment date's
figures on the first one, a reported figure nobody reported) has *no* value on that date: a
formula that reads it there stops the cycle with the formula's file and line.

``docs/primitives.md`` is generated from :data:`CATALOGUE` (``python -m ledger.deal.primitives``);
``tests/test_primitives.py`` keeps the two equal and checks that the cycle computes every
determination of the catalogue.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Literal

Kind = Literal["number", "bool", "date"]
Timing = Literal["state", "period_end", "determination_date", "plan", "clean_up"]

RECORDED_ITEMS = (
    "principal_scheduled",
    "principal_prepaid",
    "interest",
    "fees_penalties",
    "prepayment_fees",
    "recovery_principal",
    "recovery_income",
    "repurchase_principal",
    "repurchase_interest",
)
"""The collection items the ledger records from servicing events (``CollectionReceived``,
``RecoveryReceived``, ``LoanRepurchased``): the ``collections.<item>`` family."""

PRINCIPAL_ITEMS = frozenset(i for i in RECORDED_ITEMS if "principal" in i)
"""Principal collections (本金回收款) among :data:`RECORDED_ITEMS`."""


@dataclass(frozen=True)
class Primitive:
    """One name (or family of names, ``<placeholder>`` segments) a formula may read."""

    name: str
    kind: Kind
    unit: str
    as_of: str
    definition: str
    timing: Timing
    """``state``: the trust on the date (always available); ``period_end``: a determination
    taken at each collection period end (formula metrics may read and average it);
    ``determination_date``: a determination taken at the determination date; ``plan``: computed
    while the cycle is planned (trigger formulas only); ``clean_up``: the clean-up test
    (``clean_up_call.proviso`` only)."""
    requires: tuple[str, ...] = ()
    """Parameters the computation reads, and ``discounted_balance`` for the deal's DRB block
    (``deal validate`` refuses the name without them)."""

    @property
    def determination(self) -> bool:
        """A figure the cycle computes, declared under ``metrics:`` to be used."""
        return self.timing != "state"


def _p(
    name: str,
    kind: Kind,
    unit: str,
    as_of: str,
    definition: str,
    timing: Timing = "state",
    requires: tuple[str, ...] = (),
) -> Primitive:
    return Primitive(name, kind, unit, as_of, " ".join(definition.split()), timing, requires)


_END = "end of the collection period's last day"
_DET = "the determination date (信托分配日, Calculation Date)"

# fmt: off
CATALOGUE: tuple[Primitive, ...] = (
    # --- state names ----------------------------------------------------------------------
    _p("params.<parameter>", "number", "as declared", "fixed", "a parameter of the deal file"),
    _p("accounts.<account>.balance", "number", "CNY", "now",
       "the account's balance as the waterfall's steps run (cash, reserve or ledger)"),
    _p("accounts.<account>.opening", "number", "CNY", "start of the waterfall",
       "the account's balance after the collection split, before the first step"),
    _p("targets.<account>", "number", "CNY", "start of the waterfall",
       "the account's target formula, evaluated (accounts with a target)"),
    _p("notes.<note>.balance", "number", "CNY", "now",
       "the class's outstanding principal as the waterfall's steps run"),
    _p("notes.<note>.opening", "number", "CNY", "before the waterfall",
       "the class's outstanding principal after the previous payment date"),
    _p("notes.<note>.original", "number", "CNY", "issue", "the class's face amount at issue"),
    _p("notes.<note>.interest_shortfall", "number", "CNY", "before the waterfall",
       "interest unpaid on earlier payment dates and carried forward"),
    _p("notes.<note>.rate", "number", "per annum", "the interest period",
       "the class's coupon (classes with a coupon)"),
    _p("notes.<note>.expected_maturity", "date", "date", "fixed",
       "the class's expected maturity date (classes that have one in the deal file)"),
    _p("triggers.<trigger>", "bool", "bool", "before this date's evaluation",
       "the trigger is in effect (states of the previous evaluation; a trigger never evaluated "
       "is not in effect)"),
    _p("ratings.<party or role>.<agency>", "number", "rank", _DET,
       "rank of the holder's grade on the Chinese long-term scale (compare with 'A+'): the deal "
       "file's ratings, changed by RatingChanged events; an unrated holder ranks below every "
       "grade"),
    _p("roles.<role>", "number", "ordinal", _DET,
       "ordinal of the party holding the role (0 when vacant)"),
    _p("period.index", "number", "count", "the payment date", "payment date number, 1 = first"),
    _p("period.days", "number", "days", "the interest period",
       "actual days from the interest period's start (incl.) to its end (excl.)"),
    _p("period.payment_date", "date", "date", "the payment date", "the payment date"),
    _p("period.start", "date", "date", "the interest period", "the interest period's first day"),
    _p("period.end", "date", "date", "the interest period",
       "the interest period's end (excluded)"),
    _p("period.as_of", "date", "date", _DET, "the date the formula is evaluated for: the "
       "determination date of the payment date"),
    _p("period.collection_end", "date", "date", _END,
       "the last day of the payment date's collection period"),
    _p("period.next_as_of", "date", "date", "the next determination date",
       "the determination date of the next payment date"),
    _p("period.revolving", "bool", "bool", "the payment date",
       "the payment date is in the revolving period: on or before revolving_period's last "
       "payment date and no trigger that ends it in effect (deals with a revolving period)"),
    _p("dates.cut_off", "date", "date", "fixed", "the deal file's cut-off date"),
    _p("dates.first_payment", "date", "date", "fixed", "the deal file's first payment date"),
    _p("dates.closing", "date", "date", "fixed",
       "the closing date (trust effective date): NotesIssued's closing date, else the deal "
       "file's calendar.closing_date"),
    _p("dates.revolving_end", "date", "date", "fixed",
       "the last payment date of the revolving period (deals with one)"),
    _p("loan.<field>", "number", "as declared", "the loan's cut-off or repurchase date",
       "a loan field of the deal file (eligibility tests and the repurchase price only)"),
    _p("purchase.balance", "number", "CNY", "the purchase step",
       "the balance a revolving purchase step would buy (pool-level eligibility tests only)"),
    _p("purchase.price", "number", "CNY", "the purchase step",
       "the price that purchase would pay (pool-level eligibility tests only)"),
    # --- determinations at each collection period end ---------------------------------------
    _p("pool.balance", "number", "CNY", _END,
       "balance of pool:principal: principal outstanding of the performing and delinquent "
       "loans (a loan's principal moves to pool.defaulted_balance when it defaults)",
       "period_end"),
    _p("pool.defaulted_balance", "number", "CNY", _END,
       "balance of pool:defaulted: principal at default of the defaulted loans not written "
       "off, repurchased or called, less principal recovered on them", "period_end"),
    _p("pool.outstanding_balance", "number", "CNY", _END,
       "pool.balance + pool.defaulted_balance: principal outstanding of every loan still in the "
       "pool, defaulted ones not written off included (seed 004 L2788 A-B-C, L2899-2901)",
       "period_end"),
    _p("pool.balance_period_start", "number", "CNY", "end of the previous collection period",
       "pool.balance at the previous collection period end; for the first period, the "
       "principal of the loans boarded by its end", "period_end"),
    _p("pool.outstanding_balance_period_start", "number", "CNY",
       "end of the previous collection period",
       "pool.outstanding_balance at the previous collection period end; for the first period, "
       "the principal of the loans boarded by its end", "period_end"),
    _p("pool.boarded_balance", "number", "CNY", _END,
       "principal at boarding of every loan boarded (LoanBoarded.outstanding_principal): the "
       "initial pool plus the additional receivables boarded", "period_end"),
    _p("pool.defaults_recent_period", "number", "CNY", _END,
       "principal at default of the loans that defaulted in the collection period",
       "period_end"),
    _p("pool.defaults_prior_periods", "number", "CNY", "end of the previous collection period",
       "principal at default of the loans that defaulted in earlier collection periods",
       "period_end"),
    _p("pool.cumulative_defaults", "number", "CNY", _END,
       "principal at default of every loan that defaulted since the cut-off (gross of "
       "recoveries)", "period_end"),
    _p("pool.delinquent_balance_61_90", "number", "CNY", _END,
       "principal outstanding of the loans last reported delinquent with more than 60 and at "
       "most 90 days past due (not defaulted)", "period_end"),
    _p("pool.delinquent_balance_over_60", "number", "CNY", _END,
       "principal outstanding of the loans last reported delinquent with more than 60 days "
       "past due (not defaulted)", "period_end"),
    _p("pool.principal_collected_before_period", "number", "CNY",
       "end of the previous collection period",
       "principal collections (collections.<item> of the principal items) collected from the "
       "cut-off to the start of the collection period, reversals netted", "period_end"),
    _p("collections.<item>", "number", "CNY", _END,
       "the item collected in the collection period (by the collection's effective date), "
       "reversals netted; <item> is one the ledger records: " + ", ".join(RECORDED_ITEMS),
       "period_end"),
    _p("collection.days", "number", "days", _END,
       "calendar days in the collection period, both ends included", "period_end"),
    _p("pool.wac", "number", "per annum", _END,
       "balance-weighted average loan rate of the performing and delinquent loans",
       "period_end"),
    _p("pool.adrb", "number", "CNY", _END,
       "Aggregate Discounted Receivables Balance of the performing and delinquent loans by the "
       "deal's one DRB definition, its discounted_balance block (ledger.core.discounting."
       "aggregate_drb; seed 001 L17790-17794, L18755-18771)", "period_end",
       ("discounted_balance",)),
    _p("pool.adrb_start", "number", "CNY",
       "the day before the Monthly Period starts (the end of the month two months before the "
       "payment date's month)",
       "the ADRB (as pool.adrb) at the end of the day before the first day of the calendar "
       "month preceding the payment date (seed 001 L20008-20014 'as of the beginning of the "
       "Monthly Period', L19520-19522)", "period_end", ("discounted_balance",)),
    _p("pool.cumulative_gross_loss_ratio", "number", "ratio", _END,
       "Σ DRB of the defaulted loans at their default date / (params.cut_off_adrb + DRB of "
       "the additional receivables at their own cut-off) (seed 001 L18684-18696, "
       "L17772-17778; projections.pool.discounted_ratio_parts)", "period_end",
       ("discounted_balance", "cut_off_adrb")),
    # --- determinations at the determination date -----------------------------------------
    _p("revolving.offered_balance", "number", "CNY", _DET,
       "balance of the AdditionalReceivablesOffered for this payment date effective by the "
       "determination date (DRB or principal, as the deal prices it); 0 when nothing is "
       "offered", "determination_date"),
    _p("revolving.offered_wac", "number", "per annum", _DET,
       "weighted average rate of that offer; 0 when nothing is offered (an offer without a "
       "rate leaves the name without a value)", "determination_date"),
    _p("last_pd.revolving", "bool", "bool", "the previous payment date",
       "the previous payment date was in the revolving period (as period.revolving after its "
       "trigger evaluation); no value on the first payment date", "determination_date"),
    _p("last_pd.accounts.<account>.closing", "number", "CNY", "the previous payment date",
       "the account's balance after the previous payment date's waterfall; no value on the "
       "first payment date", "determination_date"),
    _p("last_pd.purchases.price", "number", "CNY", "the previous payment date",
       "price the previous payment date's purchase steps paid; no value on the first payment "
       "date", "determination_date"),
    _p("last_pd.purchases.balance", "number", "CNY", "the previous payment date",
       "balance those purchase steps bought; no value on the first payment date",
       "determination_date"),
    _p("reported.<name>", "number", "CNY", _DET,
       "the amount of the latest FigureReported of that name effective by the determination "
       "date (a standing figure such as the originator's debts to borrowers); no value when "
       "none was reported", "determination_date"),
    _p("reported_for_date.<name>", "number", "CNY", "the payment date",
       "Σ amounts of the FigureReported events of that name for this payment date, effective "
       "by its determination date (a per-date figure such as commingled collections); 0 when "
       "none was reported for the date", "determination_date"),
    # --- computed while the cycle is planned ----------------------------------------------
    _p("dry_run.notes.<note>.balance", "number", "CNY", "after this date's waterfall",
       "the class's principal after a dry run (nothing posted) of this date's waterfall, after "
       "the collection split, in the mode the trigger states before this date's evaluation "
       "select (trigger formulas only)", "plan"),
    # --- the clean-up call test ------------------------------------------------------------
    _p("clean_up.price", "number", "CNY", "the payment date",
       "the clean-up price (clean_up_call.price) rounded to the fen (clean_up_call.proviso "
       "only)", "clean_up"),
    _p("clean_up.note_obligations", "number", "CNY", "the payment date",
       "Σ over the classes of principal outstanding + interest due on the date (with carried "
       "shortfalls) (clean_up_call.proviso only)", "clean_up"),
    _p("clean_up.notes_repaid", "bool", "bool", "the payment date",
       "a dry run of the date's cycle with the call exercised (proceeds split, triggers, "
       "waterfall) leaves every class at zero principal with no interest shortfall "
       "(clean_up_call.proviso only)", "clean_up"),
)
# fmt: on

BY_NAME: dict[str, Primitive] = {p.name: p for p in CATALOGUE}


def family_of(name: str) -> Primitive | None:
    """The catalogue entry a determination name belongs to (``collections.interest`` →
    ``collections.<item>``), or ``None`` (also for a state name: those are expanded per deal in
    :mod:`ledger.deal.names`)."""
    if name in BY_NAME:
        return BY_NAME[name] if BY_NAME[name].determination else None
    parts = name.split(".")
    for p in CATALOGUE:
        pattern = p.name.split(".")
        if not p.determination or len(pattern) != len(parts):
            continue
        if all(a == b or (a.startswith("<") and b) for a, b in zip(pattern, parts, strict=True)):
            if p.name == "collections.<item>" and parts[1] not in RECORDED_ITEMS:
                continue
            return p
    return None


def catalogue_markdown() -> str:
    """``docs/primitives.md``: the catalogue as a page."""
    out = [
        "# Engine primitives",
        "",
        "<!-- generated by `python -m ledger.deal.primitives > docs/primitives.md`; "
        "tests/test_primitives.py keeps it equal to ledger/deal/primitives.py -->",
        "",
        *(__doc__ or "").split("\n\n", 1)[1].strip().splitlines(),
        "",
    ]
    titles = {
        "state": "State names (always available)",
        "period_end": "Determinations at each collection period end",
        "determination_date": "Determinations at the determination date",
        "plan": "Computed while the cycle is planned",
        "clean_up": "The clean-up call test",
    }
    for timing, title in titles.items():
        out += ["", f"## {title}", "", "| name | kind | unit | as of | definition |",
                "|---|---|---|---|---|"]  # fmt: skip
        for p in CATALOGUE:
            if p.timing == timing:
                needs = f" Requires {', '.join(p.requires)}." if p.requires else ""
                out.append(
                    f"| `{p.name}` | {p.kind} | {p.unit} | {p.as_of} | {p.definition}.{needs} |"
                )
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(catalogue_markdown())
