"""The deal definition: frozen pydantic models of everything SPEC §3 lists.

A deal file (YAML) holds parties and ratings, notes, accounts (cash sub-accounts, reserves with
target formulas, non-cash ledgers), fees, collection split rules, triggers, waterfall modes with
ordered steps (:mod:`ledger.deal.steps`), calendar rules, eligibility criteria, the repurchase
price and the clean-up call. Formulas are strings in the safe expression language of
:mod:`ledger.core.expr`; they are parsed when the file is validated (:mod:`ledger.deal.types`).
Cross-references (accounts, notes, fees, roles, names inside formulas) are checked by
:mod:`ledger.deal.checks`, which knows the YAML path of every problem.

Terms a document leaves blank are :class:`Parameter` values with ``assumed: true`` and a comment.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field, model_validator

from ledger.core.discounting import DrbConvention
from ledger.core.expr import Kind, parse
from ledger.core.money import Money, Rate
from ledger.deal.steps import Step
from ledger.deal.types import DayCountName, DealModel, Formula, Grade, Identifier


class Parameter(DealModel):
    """A number the formulas read as ``params.<id>``; blank terms are ``assumed`` with a comment."""

    value: Rate
    assumed: bool = False
    comment: str | None = None
    source: str | None = None

    @model_validator(mode="after")
    def _assumed_has_comment(self) -> Parameter:
        if self.assumed and not (self.comment and self.comment.strip()):
            raise ValueError("an assumed parameter needs a comment saying why and from where")
        return self


class Agency(DealModel):
    name: str


class Party(DealModel):
    """A legal entity; it may hold several roles (seed 004 L49: originator = servicer)."""

    name: str
    roles: tuple[Identifier, ...]
    ratings: dict[str, Grade] = Field(default_factory=dict)
    clause: str | None = None


class Coupon(DealModel):
    """Fixed (``rate`` usually ``params.x``), floating (index + margin formula) or none."""

    kind: Literal["fixed", "floating", "none"]
    rate: Formula | None = None

    @model_validator(mode="after")
    def _rate_matches_kind(self) -> Coupon:
        if self.kind == "none" and self.rate is not None:
            raise ValueError("a coupon of kind 'none' has no rate")
        if self.kind != "none" and self.rate is None:
            raise ValueError(f"a {self.kind} coupon needs a rate formula")
        return self


class Note(DealModel):
    """A class of notes (资产支持证券)."""

    class_name: str
    rank: int = Field(ge=1)
    amount: Money
    coupon: Coupon
    day_count: DayCountName = "act/365f"
    interest_carry_forward: bool
    period_return_cap: Rate | None = None
    """Annual cap on a subordinated period return (e.g. 5% p.a.); not carried forward."""
    amortisation: Literal["pass_through", "targeted", "bullet", "sequential"]
    expected_maturity: dt.date | None = None
    legal_maturity: dt.date
    payment_frequency_months: int = Field(default=1, ge=1)
    clause: str


class Account(DealModel):
    """A cash sub-account, a reserve account (with a target) or a non-cash ledger."""

    name: str
    kind: Literal["cash", "reserve", "ledger"]
    parent: str | None = None
    trust_property: bool = True
    """False for reserves that belong to the servicer/originator until used (seed 004 L1068)."""
    target: Formula | None = None
    funded_at_issue: Formula | None = None
    """Cash deposited into the account from the notes' issue proceeds on the closing date, a
    formula over ``params.*`` (seed 001 L10996-11002: the Initial Cash Collateral Amount); the
    originator is paid the proceeds less it (:class:`events.cycle.ReserveFunded`)."""
    clause: str

    @model_validator(mode="after")
    def _ledger_has_no_target(self) -> Account:
        if self.kind == "ledger" and (self.target is not None or self.funded_at_issue is not None):
            raise ValueError("a non-cash ledger has no target and holds no cash")
        return self


class Cap(DealModel):
    """A cap shared by the fees that name it (e.g. 优先支出上限), per ``period``.

    ``payment_date``: ``amount`` on each payment date; ``year``: ``amount`` per year counted from
    ``period_start`` (default: the calendar's closing date), the used part tracked in
    ``WaterfallState.cap_usage`` (seed 003 L769 "每年优先支出费用上限"); ``life``: ``amount`` over
    the life of the deal.
    """

    amount: Formula
    period: Literal["payment_date", "year", "life"] = "payment_date"
    period_start: dt.date | None = None
    clause: str

    @model_validator(mode="after")
    def _start_only_for_years(self) -> Cap:
        if self.period_start is not None and self.period != "year":
            raise ValueError("period_start is for a yearly cap (period: year)")
        return self


class Fee(DealModel):
    """A fee, expense or tax.

    ``rate``: ``round_fen(rate × base × day count)``; ``fixed``: ``amount`` per payment date;
    ``expense`` and ``tax``: ``amount`` if given, else the amounts incurred for the date
    (``ExpenseIncurred`` events; none incurred, nothing due).
    """

    payee: Identifier
    kind: Literal["rate", "fixed", "expense", "tax"]
    rate: Formula | None = None
    base: Formula | None = None
    day_count: DayCountName | None = None
    amount: Formula | None = None
    cap: str | None = None
    carry_forward: bool = True
    back_end: bool = False
    """Paid low in the order (after notes), as the back-end servicer fee of seed 003."""
    paid_into: str | None = None
    """A trust account the fee is reserved into (taxes → tax reserve, seed 004 L980)."""
    clause: str

    @model_validator(mode="after")
    def _fields_match_kind(self) -> Fee:
        if self.kind == "rate":
            missing = [f for f in ("rate", "base", "day_count") if getattr(self, f) is None]
            if missing:
                raise ValueError(f"a rate fee needs {', '.join(missing)}")
            if self.amount is not None:
                raise ValueError("a rate fee has no amount (it is rate × base × day count)")
        elif self.kind == "fixed" and self.amount is None:
            raise ValueError("a fixed fee needs an amount")
        if self.kind != "rate" and (self.rate is not None or self.base is not None):
            raise ValueError(f"a {self.kind} fee has no rate or base")
        return self


CollectionItem = Literal[
    "principal_scheduled",
    "principal_prepaid",
    "interest",
    "fees_penalties",
    "prepayment_fees",
    "recovery_principal",
    "recovery_income",
    "repurchase_principal",
    "repurchase_interest",
    "cleanup_principal",
    "cleanup_interest",
    "setoff_principal",
    "setoff_interest",
    "insurance_principal",
    "insurance_income",
    "guarantor_principal",
    "guarantor_income",
    "investment_income",
    "disposal_principal",
]


class SplitRule(DealModel):
    """Where one kind of collection goes (收入回收款 vs 本金回收款)."""

    item: CollectionItem
    to: str
    clause: str


class ThresholdStep(DealModel):
    """A threshold that applies to payment dates in [from_date, until_date]."""

    from_date: dt.date | None = None
    until_date: dt.date | None = None
    threshold: Formula


class Consequence(DealModel):
    kind: Literal[
        "waterfall_mode",
        "end_revolving",
        "remittance_frequency",
        "reserve_target",
        "targeted_oc",
        "perfection_notice",
        "reserve_funding",
        "disclosure",
    ]
    mode: str | None = None
    account: str | None = None
    description: str


class Trigger(DealModel):
    """A test evaluated at each period end; its state is the formula name ``triggers.<id>``.

    Either ``metric`` compared to a ``threshold`` (or a dated ``threshold_schedule``), or a
    boolean ``condition``, or ``declared`` (set by a holders' resolution event).
    """

    description: str
    metric: Formula | None = None
    comparison: Literal[">", ">=", "<", "<="] = ">"
    threshold: Formula | None = None
    threshold_schedule: tuple[ThresholdStep, ...] | None = None
    condition: Formula | None = None
    declared: bool = False
    grace_business_days: int | None = Field(default=None, ge=0)
    sticky: bool = True
    cure: Formula | None = None
    """When a curable (non-sticky) trigger stops being in effect; default: the test fails."""
    breach_days: int | None = Field(default=None, ge=1)
    """The test must have failed on every evaluation for at least this many calendar days (from
    the first failing evaluation) before the trigger fires (e.g. 90 days, seed 003 L926)."""
    breach_evaluations: int | None = Field(default=None, ge=1)
    """... or on this many consecutive evaluations."""
    cure_days: int | None = Field(default=None, ge=1)
    """A curable trigger stops being in effect only once it has been cured on every evaluation
    for at least this many calendar days."""
    cure_evaluations: int | None = Field(default=None, ge=1)
    """... or on this many consecutive evaluations."""
    consequences: tuple[Consequence, ...] = ()
    clause: str

    @model_validator(mode="after")
    def _one_test(self) -> Trigger:
        tests = sum(
            [self.metric is not None, self.condition is not None, self.declared]
        )  # fmt: skip
        if tests != 1:
            raise ValueError("a trigger has exactly one of metric, condition or declared: true")
        if self.metric is not None and (self.threshold is None) == (
            self.threshold_schedule is None
        ):
            raise ValueError("a metric trigger needs exactly one of threshold, threshold_schedule")
        if self.metric is None and (self.threshold or self.threshold_schedule):
            raise ValueError("threshold without a metric")
        if self.sticky and self.cure is not None:
            raise ValueError("a sticky trigger cannot have a cure condition")
        if self.sticky and (self.cure_days or self.cure_evaluations):
            raise ValueError("a sticky trigger cannot have a cure window")
        return self


class ModeRule(DealModel):
    """Waterfall mode selection: the first rule whose ``when`` holds wins."""

    mode: str
    when: Formula
    clause: str


class Offset(DealModel):
    """``business_days`` after (positive) or before (negative) an anchor date."""

    business_days: int
    relative_to: Literal[
        "payment_date", "calculation_date", "collection_period_end", "receipt", "closing_date"
    ]
    not_later_than: Literal["determination_date"] | None = None
    not_earlier_than: Literal["calculation_date"] | None = None
    """Floor at the calculation date (seed 002 L218 "但不早于计算日")."""


class RemittanceRule(DealModel):
    """Servicer remittance timing; the first rule whose ``when`` holds applies.

    ``business_days`` after the calculation date or before the payment date is the once-a-period
    remittance; after a ``receipt`` it is "within n business days of each receipt".
    :mod:`ledger.deal.remittance` maps each rule to :mod:`ledger.core.calendar.rules`.
    """

    when: Formula | None = None
    offset: Offset
    takes_effect: Literal["immediately", "end_of_remittance_period"] = "immediately"
    """When a switch to this rule applies: at once, or from the end of the current remittance
    period (seed 003 L202)."""
    clause: str


class CalendarRules(DealModel):
    """Calendar as data; the calendar module turns it into dates (PRC business days, 调休)."""

    business_days: Literal["prc"] = "prc"
    makeup_workdays: Literal["business_day", "not_business_day"] = "business_day"
    """Whether an official make-up working day (调休上班日, a Saturday or Sunday the State Council
    makes a working day) is a business day of the deal (seed 004 L2555: 工作日 = a day banks are
    normally open for corporate business, which they are on such a day)."""
    cut_off_date: dt.date
    closing_date: dt.date | None = None
    assumed_closing_date: dt.date | None = None
    """The trust effective date assumed where the document leaves ``closing_date`` blank (seed
    004 L1737): used by the demo and by ``issue_notes`` without a date, never when the notes'
    issue records the real one; the calendar's ``clause`` says why."""
    calculation_day: Literal["month_end"] | int
    first_calculation_date: dt.date
    collection_period: str
    """Prose of the period rule, e.g. 'calculation date (excl.) to next (incl.)'."""
    payment_day: int = Field(ge=1, le=31)
    payment_convention: Literal["following", "modified_following", "preceding"]
    first_payment_date: dt.date
    frequency_months: int = Field(default=1, ge=1)
    determination_date: Offset
    interest_period_dates: Literal["unadjusted", "adjusted"]
    remittance: tuple[RemittanceRule, ...] = Field(min_length=1)
    report_dates: dict[str, Offset] = Field(default_factory=dict)
    clause: str

    @model_validator(mode="after")
    def _one_closing_date(self) -> CalendarRules:
        if self.closing_date is not None and self.assumed_closing_date is not None:
            raise ValueError("a calendar has closing_date or assumed_closing_date, not both")
        for day in (self.closing_date, self.assumed_closing_date):
            if day is not None and not self.cut_off_date < day < self.first_payment_date:
                raise ValueError(
                    f"the closing date {day} must fall after the cut-off date and before the "
                    "first payment date"
                )
        return self


class RevolvingPeriod(DealModel):
    """The revolving period (持续购买期), read as the formula name ``period.revolving``.

    A payment date is in it when it falls on or before ``last_payment_date`` and no trigger that
    ends it is in effect: those in ``ended_by``, by default every trigger with an
    ``end_revolving`` consequence. The period does not restart, so a trigger that ends it early
    should be sticky (or latched by a sticky one).
    """

    last_payment_date: dt.date
    ended_by: tuple[str, ...] | None = None
    clause: str


class Criterion(DealModel):
    """An eligibility criterion; ``test`` when it is machine-checkable.

    ``level: loan`` tests read ``loan.*``; ``level: pool`` tests are checked on the pool after a
    revolving purchase and read the deal's names plus ``purchase.balance`` (balance bought) and
    ``purchase.price`` (cash paid), e.g. seed 002 L164 (p) "WAC at least 8% after purchase".
    """

    id: str
    text: str
    test: Formula | None = None
    level: Literal["loan", "pool"] = "loan"
    applies_to: tuple[Literal["boarding", "revolving"], ...] = ("boarding",)
    clause: str


DRB_FIELD = "loan.discounted_receivables_balance"
"""The loan field holding a loan's DRB (:mod:`ledger.core.discounting`)."""


class PriceFormula(DealModel):
    formula: Formula
    description: str
    clause: str


class RepurchasePrice(PriceFormula):
    """The price of a loan repurchased for a breach of warranty, computed by the ledger from
    the loan (:mod:`ledger.servicing.repurchase`); a servicer tape's price (its principal +
    interest) is checked against it. ``valuation`` is the date a
    ``loan.discounted_receivables_balance`` is taken at: the last day of the month of the
    repurchase's value date (the Monthly Period it is remitted for), or the value date itself."""

    valuation: Literal["month_end", "value_date"] | None = None

    @model_validator(mode="after")
    def _drb_needs_a_date(self) -> RepurchasePrice:
        if DRB_FIELD in parse(self.formula).names() and self.valuation is None:
            raise ValueError(f"a price on {DRB_FIELD} needs valuation: month_end or value_date")
        return self


class DiscountedBalance(DealModel):
    """How the deal reads its Discounted Receivables Balance (seed 001 L18755-18771), the one
    definition of every DRB figure (:mod:`ledger.core.discounting`): the discount rate (the
    parameter holding it), the period basis, how prepayments and arrears modify the contractual
    instalments, and where the ADRB is rounded. Each choice is written out in the deal file;
    the rule sheet cites the readings."""

    rate: Identifier
    """The parameter holding the Discount Rate (``params.<rate>``)."""
    basis: Literal["month", "30/360"]
    modification: Literal["proportional", "reamortise"]
    rounding: Literal["per_receivable", "aggregate"]
    clause: str

    def convention(self, deal: DealDefinition) -> DrbConvention:
        return DrbConvention(
            deal.parameters[self.rate].value, self.basis, self.modification, self.rounding
        )


class CleanUpCall(DealModel):
    """The originator's clean-up call: available on a payment date when ``condition`` holds
    and, where the deal has one, its ``proviso`` (which may read ``clean_up.*``, the date's
    clean-up test: seed 001 L18472-18490 "provided that all payment obligations under the Notes
    will be thereby fulfilled"). Tested and recorded on every payment date."""

    condition: Formula
    proviso: Formula | None = None
    price: Formula
    description: str
    clause: str


class NameDecl(DealModel):
    """A loan field (``loan.x``) a loan-level formula reads."""

    kind: Literal["number", "bool"] = "number"
    description: str


class MetricDecl(DealModel):
    """A determination the deal uses (``metrics:``): an engine primitive of
    :mod:`ledger.deal.primitives` (no ``formula``), or a formula of the deal file over
    parameters, dates, period-end primitives and earlier formula metrics, optionally averaged
    over the current and up to ``average_of_periods - 1`` earlier collection periods."""

    kind: Literal["number", "bool"] | None = None
    """The primitive's kind (checked against the catalogue); a formula metric's kind (number
    when omitted)."""
    formula: Formula | None = None
    average_of_periods: int | None = Field(default=None, ge=2)
    description: str
    clause: str | None = None

    @model_validator(mode="after")
    def _average_needs_formula(self) -> MetricDecl:
        if self.average_of_periods is not None and self.formula is None:
            raise ValueError("average_of_periods needs a formula (the figure to average)")
        return self


class Definition(DealModel):
    """A named derived formula, read as ``defs.<id>`` (may use only earlier definitions)."""

    formula: Formula
    kind: Kind = "number"
    description: str
    clause: str | None = None


class DealDefinition(DealModel):
    """One securitisation deal (SPEC §3)."""

    deal_id: Identifier
    name: str
    seed: str
    currency: Literal["CNY"] = "CNY"
    schema_version: Literal[1] = 1
    parameters: dict[Identifier, Parameter] = Field(default_factory=dict)
    agencies: dict[Identifier, Agency] = Field(default_factory=dict)
    parties: dict[Identifier, Party]
    vacant_roles: tuple[Identifier, ...] = ()
    """Roles nobody holds at closing (backup servicer 'if any', seed 004 L982)."""
    metrics: dict[str, MetricDecl] = Field(default_factory=dict)
    loan_fields: dict[str, NameDecl] = Field(default_factory=dict)
    definitions: dict[Identifier, Definition] = Field(default_factory=dict)
    notes: dict[Identifier, Note]
    accounts: dict[Identifier, Account]
    caps: dict[Identifier, Cap] = Field(default_factory=dict)
    fees: dict[Identifier, Fee] = Field(default_factory=dict)
    collection_split: tuple[SplitRule, ...]
    triggers: dict[Identifier, Trigger] = Field(default_factory=dict)
    modes: tuple[ModeRule, ...] = ()
    default_mode: str
    waterfalls: dict[Identifier, tuple[Step, ...]]
    calendar: CalendarRules
    revolving_period: RevolvingPeriod | None = None
    eligibility: tuple[Criterion, ...] = ()
    repurchase_price: RepurchasePrice | None = None
    clean_up_call: CleanUpCall | None = None
    discounted_balance: DiscountedBalance | None = None
    """Deals whose principal-like quantities are Discounted Receivables Balances (seed 001)."""

    @model_validator(mode="after")
    def _discount_rate_is_a_parameter(self) -> DealDefinition:
        db = self.discounted_balance
        if db is not None and db.rate not in self.parameters:
            raise ValueError(f"discounted_balance.rate: no parameter {db.rate!r}")
        return self

    def drb_convention(self) -> DrbConvention | None:
        """The deal's DRB convention, or None for a deal that does not discount."""
        db = self.discounted_balance
        return None if db is None else db.convention(self)

    def revolving_end_triggers(self) -> tuple[str, ...]:
        """The triggers that end the revolving period early (none without one)."""
        rp = self.revolving_period
        if rp is None:
            return ()
        if rp.ended_by is not None:
            return rp.ended_by
        return tuple(
            tid
            for tid, trig in self.triggers.items()
            if any(c.kind == "end_revolving" for c in trig.consequences)
        )

    def roles(self) -> dict[str, str | None]:
        """Role → holding party id at closing (``None`` for vacant roles)."""
        out: dict[str, str | None] = {}
        for party_id, party in self.parties.items():
            for role in party.roles:
                out.setdefault(role, party_id)
        for role in self.vacant_roles:
            out.setdefault(role, None)
        return out


def deal_json_schema() -> dict[str, Any]:
    """The JSON Schema of a deal file (validation mode: what a YAML author writes)."""
    return DealDefinition.model_json_schema(by_alias=True)
