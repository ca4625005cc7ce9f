"""Cross-reference checks of a parsed deal, each problem with its YAML path.

Pydantic checks shapes; this module checks meaning: every account, note, fee, cap, trigger, role,
mode and step a part of the file refers to exists and has the right kind, step ids are unique,
and every formula reads only known names and gives the kind its place needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ledger.core.expr import ExprError, Kind, check, parse
from ledger.deal.names import (
    CLEAN_UP_NAMES,
    PURCHASE_NAMES,
    RESERVED_PREFIXES,
    deal_names,
    loan_names,
    metric_formula_names,
)
from ledger.deal.primitives import CATALOGUE, family_of
from ledger.deal.remittance import calendar_rule
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


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a deal file: where (YAML path) and why."""

    path: str
    message: str
    line: int | None = None
    """1-based line of the YAML node the path points to, when the file text is known."""

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def describe(self) -> str:
        """``path: message (line N)`` for people editing the file."""
        return f"{self} (line {self.line})" if self.line is not None else str(self)


def format_path(loc: Iterable[str | int]) -> str:
    """``('waterfalls', 'amortising', 4, 'to')`` → ``waterfalls.amortising[4].to``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class _Checker:
    def __init__(self, deal: DealDefinition) -> None:
        self.deal = deal
        self.problems: list[Problem] = []
        self.names = deal_names(deal)
        self.trigger_names = deal_names(deal, plan=True)
        self.roles = set(deal.roles())
        self.formulas: list[tuple[str, str, Kind, Mapping[str, Kind]]] = []
        """Every formula checked: (YAML path, text, kind wanted, names it may read)."""

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def formula(
        self, path: str, text: str | None, want: Kind, names: Mapping[str, Kind] | None = None
    ) -> None:
        if text is None:
            return
        known = self.names if names is None else names
        try:
            expr = parse(text)
        except ExprError as exc:  # already reported by pydantic; kept for direct callers
            self.add(path, str(exc))
            return
        errors = check(expr, known, want)
        for err in errors:
            self.add(path, _with_hint(str(err)))
        if not errors:
            self.formulas.append((path, text, want, known))

    def account(self, path: str, aid: str, kinds: tuple[str, ...] = ("cash", "reserve")) -> None:
        account = self.deal.accounts.get(aid)
        if account is None:
            self.add(path, f"unknown account {aid!r}")
        elif account.kind not in kinds:
            self.add(path, f"account {aid!r} is a {account.kind}, expected {' or '.join(kinds)}")

    def note(self, path: str, nid: str) -> None:
        if nid not in self.deal.notes:
            self.add(path, f"unknown note {nid!r}")

    def role(self, path: str, role: str) -> None:
        if role not in self.roles:
            self.add(path, f"unknown role {role!r} (no party holds it, not vacant)")

    def mode(self, path: str, mode: str) -> None:
        if mode not in self.deal.waterfalls:
            self.add(path, f"unknown waterfall mode {mode!r}")

    def run(self) -> list[Problem]:
        d = self.deal
        self.check_names_and_parties()
        self.check_accounts_notes_fees()
        for i, rule in enumerate(d.collection_split):
            self.account(f"collection_split[{i}].to", rule.to)
        self.check_triggers_and_modes()
        for mode, steps in d.waterfalls.items():
            self.check_waterfall(mode, steps)
        self.check_calendar_and_pool()
        return self.problems

    def check_names_and_parties(self) -> None:
        d = self.deal
        for metric in d.metrics:
            self.check_metric(metric)
        for pid, party in d.parties.items():
            for agency in party.ratings:
                if agency not in d.agencies:
                    self.add(f"parties.{pid}.ratings.{agency}", f"unknown agency {agency!r}")
        for did, definition in d.definitions.items():
            names = deal_names(d, targets=False, defs_upto=did)
            self.formula(f"definitions.{did}.formula", definition.formula, definition.kind, names)

    def check_metric(self, metric: str) -> None:
        """A declared metric is an engine primitive or a formula of the file (issue 13)."""
        decl = self.deal.metrics[metric]
        p = f"metrics.{metric}"
        family = family_of(metric)
        if decl.formula is None:
            if family is None:
                self.add(p, "not an engine primitive (docs/primitives.md) and no formula")
                return
            if decl.kind is not None and decl.kind != family.kind:
                self.add(f"{p}.kind", f"the primitive {metric} is a {family.kind}")
            missing = [
                r if r == "discounted_balance" else f"parameter {r}"
                for r in family.requires
                if (self.deal.discounted_balance is None if r == "discounted_balance"
                    else r not in self.deal.parameters)
            ]  # fmt: skip
            if missing:
                self.add(p, f"the primitive {metric} needs {' and '.join(missing)}")
            return
        if (
            family is not None
            or metric.startswith(RESERVED_PREFIXES)
            or not all(seg and not seg.startswith("_") for seg in metric.split("."))
        ):
            self.add(p, "metric name is reserved or malformed (a formula cannot reuse a name "
                     "of docs/primitives.md)")  # fmt: skip
            return
        names = metric_formula_names(self.deal, metric)
        self.formula(f"{p}.formula", decl.formula, decl.kind or "number", names)

    def check_accounts_notes_fees(self) -> None:
        d = self.deal
        no_targets = deal_names(d, targets=False)
        params_only: dict[str, Kind] = {f"params.{p}": "number" for p in d.parameters}
        for aid, account in d.accounts.items():
            if account.parent is not None:
                self.account(f"accounts.{aid}.parent", account.parent, ("cash", "reserve"))
            self.formula(f"accounts.{aid}.target", account.target, "number", no_targets)
            self.formula(
                f"accounts.{aid}.funded_at_issue", account.funded_at_issue, "number", params_only
            )
        for nid, note in d.notes.items():
            self.formula(f"notes.{nid}.coupon.rate", note.coupon.rate, "number")
        for cid, cap in d.caps.items():
            self.formula(f"caps.{cid}.amount", cap.amount, "number")
            no_start = cap.period_start is None and d.calendar.closing_date is None
            if cap.period == "year" and no_start:
                self.add(
                    f"caps.{cid}.period_start",
                    "a yearly cap needs period_start (the calendar has no closing_date)",
                )
        for fid, fee in d.fees.items():
            self.role(f"fees.{fid}.payee", fee.payee)
            if fee.cap is not None and fee.cap not in d.caps:
                self.add(f"fees.{fid}.cap", f"unknown cap {fee.cap!r}")
            if fee.paid_into is not None:
                self.account(f"fees.{fid}.paid_into", fee.paid_into)
            for field in ("rate", "base", "amount"):
                self.formula(f"fees.{fid}.{field}", getattr(fee, field), "number")

    def check_triggers_and_modes(self) -> None:
        d = self.deal
        for tid, trig in d.triggers.items():
            p = f"triggers.{tid}"
            names = self.trigger_names
            self.formula(f"{p}.metric", trig.metric, "number", names)
            self.formula(f"{p}.threshold", trig.threshold, "number", names)
            for i, step in enumerate(trig.threshold_schedule or ()):
                self.formula(
                    f"{p}.threshold_schedule[{i}].threshold", step.threshold, "number", names
                )
            self.formula(f"{p}.condition", trig.condition, "bool", names)
            self.formula(f"{p}.cure", trig.cure, "bool", names)
            for i, cons in enumerate(trig.consequences):
                if cons.mode is not None:
                    self.mode(f"{p}.consequences[{i}].mode", cons.mode)
                elif cons.kind == "waterfall_mode":
                    self.add(
                        f"{p}.consequences[{i}].mode", "a waterfall_mode consequence names a mode"
                    )
                if cons.account is not None:
                    self.account(f"{p}.consequences[{i}].account", cons.account)
        if d.revolving_period is not None:
            for i, tid in enumerate(d.revolving_period.ended_by or ()):
                if tid not in d.triggers:
                    self.add(f"revolving_period.ended_by[{i}]", f"unknown trigger {tid!r}")
        self.mode("default_mode", d.default_mode)
        for i, rule in enumerate(d.modes):
            self.mode(f"modes[{i}].mode", rule.mode)
            self.formula(f"modes[{i}].when", rule.when, "bool")

    def check_waterfall(self, mode: str, steps: tuple[Step, ...]) -> None:
        seen: dict[str, int] = {}
        for i, step in enumerate(steps):
            p = f"waterfalls.{mode}[{i}]"
            if step.id in seen:
                self.add(f"{p}.id", f"duplicate step id {step.id!r} (also [{seen[step.id]}])")
            seen.setdefault(step.id, i)
        for i, step in enumerate(steps):
            self.check_step(f"waterfalls.{mode}[{i}]", step, seen)

    def check_step(self, p: str, step: Step, ids: Mapping[str, int]) -> None:
        self.formula(f"{p}.when", step.when, "bool")
        self.formula(f"{p}.limit", step.limit, "number")
        for j, booking in enumerate(step.record_in):
            self.account(f"{p}.record_in[{j}].ledger", booking.ledger, ("ledger",))
        if isinstance(step, BookLedgerStep):
            self.account(f"{p}.ledger", step.ledger, ("ledger",))
            self.formula(f"{p}.amount", step.amount, "number")
            return
        self.account(f"{p}.from", step.source)
        if isinstance(step, TransferStep | CoverShortfallStep):
            self.account(f"{p}.to", step.to)
            if step.to == step.source:
                self.add(f"{p}.to", "a transfer needs two different accounts")
        if isinstance(step, TransferStep):
            self.formula(f"{p}.amount", step.amount, "number")
        elif isinstance(step, CoverShortfallStep):
            for j, sid in enumerate(step.covers):
                if sid not in ids:
                    self.add(f"{p}.covers[{j}]", f"unknown step {sid!r} in this waterfall")
        elif isinstance(step, PayFeesStep):
            for j, fid in enumerate(step.fees):
                if fid not in self.deal.fees:
                    self.add(f"{p}.fees[{j}]", f"unknown fee {fid!r}")
                elif step.portion == "above_cap" and self.deal.fees[fid].cap is None:
                    self.add(f"{p}.fees[{j}]", f"fee {fid!r} has no cap, so no above-cap part")
        elif isinstance(step, PayInterestStep):
            for j, nid in enumerate(step.notes):
                self.note(f"{p}.notes[{j}]", nid)
                note = self.deal.notes.get(nid)
                if note is not None and note.coupon.kind == "none":
                    self.add(f"{p}.notes[{j}]", f"note {nid!r} has no coupon")
        elif isinstance(step, PayPrincipalStep):
            for j, nid in enumerate(step.notes):
                self.note(f"{p}.notes[{j}]", nid)
            self.formula(f"{p}.target_balance", step.target_balance, "number")
            self.formula(f"{p}.amount", step.amount, "number")
        elif isinstance(step, TopUpStep):
            for j, aid in enumerate(step.accounts):
                self.account(f"{p}.accounts[{j}]", aid)
                account = self.deal.accounts.get(aid)
                if account is not None and account.target is None:
                    self.add(f"{p}.accounts[{j}]", f"account {aid!r} has no target")
        elif isinstance(step, PayReturnStep):
            self.note(f"{p}.note", step.note)
            note = self.deal.notes.get(step.note)
            if step.capped and note is not None and note.period_return_cap is None:
                self.add(f"{p}.capped", f"note {step.note!r} has no period_return_cap")
        elif isinstance(step, PayStep):
            self.role(f"{p}.payee", step.payee)
            self.formula(f"{p}.amount", step.amount, "number")
        elif isinstance(step, PurchaseStep):
            self.role(f"{p}.seller", step.seller)
            self.formula(f"{p}.offered", step.offered, "number")
            self.formula(f"{p}.price", step.price, "number")
            if step.balance_basis == "discounted" and self.deal.discounted_balance is None:
                self.add(f"{p}.balance_basis", "a discounted basis needs a discounted_balance")
            for j, booking in enumerate(step.record_balance_in):
                self.account(f"{p}.record_balance_in[{j}].ledger", booking.ledger, ("ledger",))

    def check_calendar_and_pool(self) -> None:
        d = self.deal
        for i, rule in enumerate(d.calendar.remittance):
            self.formula(f"calendar.remittance[{i}].when", rule.when, "bool")
            try:
                calendar_rule(rule)
            except ValueError as exc:
                self.add(f"calendar.remittance[{i}].offset", str(exc).splitlines()[0])
        loan = loan_names(d)
        pool = {**self.names, **PURCHASE_NAMES}
        for i, crit in enumerate(d.eligibility):
            if crit.level == "pool":
                self.formula(f"eligibility[{i}].test", crit.test, "bool", pool)
                if "revolving" not in crit.applies_to:
                    self.add(
                        f"eligibility[{i}].applies_to",
                        "a pool-level criterion is checked after a revolving purchase: "
                        "applies_to must include revolving",
                    )
            else:
                self.formula(f"eligibility[{i}].test", crit.test, "bool", loan)
        if d.repurchase_price is not None:
            self.formula("repurchase_price.formula", d.repurchase_price.formula, "number", loan)
        if d.clean_up_call is not None:
            self.formula("clean_up_call.condition", d.clean_up_call.condition, "bool")
            self.formula("clean_up_call.price", d.clean_up_call.price, "number")
            proviso = {**self.names, **CLEAN_UP_NAMES}
            self.formula("clean_up_call.proviso", d.clean_up_call.proviso, "bool", proviso)


def _with_hint(message: str) -> str:
    """An unknown name that is an engine determination: say how to use it."""
    if message.startswith("unknown name "):
        name = message.split("'")[1] if "'" in message else ""
        family = family_of(name)
        if family is not None and family.timing == "plan":
            return f"{message} (an engine primitive for trigger formulas only, under metrics:)"
        if family is not None:
            return f"{message} (an engine primitive: declare it under metrics:)"
        if name.startswith(tuple(p.name.split("<")[0] for p in CATALOGUE if not p.determination)):
            return f"{message} (not offered by this deal: see docs/primitives.md)"
        return f"{message} (neither an engine primitive, docs/primitives.md, nor defined here)"
    return message


def checked_formulas(deal: DealDefinition) -> list[tuple[str, str, Kind, Mapping[str, Kind]]]:
    """Every formula of a sound deal with its YAML path, the kind it gives and the names it may
    read (the input of :mod:`ledger.deal.probe`)."""
    checker = _Checker(deal)
    checker.run()
    return checker.formulas


def cross_check(deal: DealDefinition) -> list[Problem]:
    """Every cross-reference and formula problem in ``deal`` (empty when it is sound)."""
    return _Checker(deal).run()
