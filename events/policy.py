"""Who may post which event type, and who may reverse it (SPEC §2.9): one table for the whole
ledger, enforced for every append (:class:`events.guard.LedgerGuard`), so the HTTP API, the CLI,
the scheduler and the importer answer alike.

A caller is an :class:`Identity`: a name and one of three roles. The name is what the ledger
records as the ``actor`` of what it posts, and as the name in a payload that names a person
(``approved_by``, ``declared_by``): never a value from the request body.

* **servicer** — servicing events: boarding, collections, delinquencies, defaults, recoveries,
  write-offs, repurchases, remittances, monthly collateral, offers of additional receivables;
  and their reversals.
* **trustee** — the deal definition, the notes' issue, the cycle acts (approval, declared
  events, the clean-up election), the payment-date cycle itself, adjustments, bank statements
  and reconciliation, period seals; and the reversals of those.
* **auditor** — reads and verifies; posts nothing.

A refusal is a :class:`PolicyError` naming the rule (the API answers 403).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

Role = Literal["servicer", "trustee", "auditor"]
ROLES: tuple[Role, ...] = get_args(Role)

SERVICER: frozenset[Role] = frozenset({"servicer"})
TRUSTEE: frozenset[Role] = frozenset({"trustee"})
NOBODY: frozenset[Role] = frozenset()

_NAME = re.compile(r"[^\s\x00-\x1f\x7f-\x9f:]{1,100}")
"""A caller's name: 1-100 characters, no white space, control character or colon."""


class PolicyError(PermissionError):
    """A caller whose role may not post (or reverse) an event of that type. ``rule`` is the
    policy's line for the type, for the message and the API's 403."""

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


@dataclass(frozen=True, slots=True)
class Rule:
    """The roles that may post an event type and the roles that may reverse one."""

    post: frozenset[Role]
    reverse: frozenset[Role]

    def describe(self, type_name: str) -> str:
        def who(roles: frozenset[Role]) -> str:
            return " or ".join(sorted(roles)) or "nobody"

        return f"{type_name}: posted by {who(self.post)}, reversed by {who(self.reverse)}"


def _rules(roles: frozenset[Role], reversible: bool, *names: str) -> dict[str, Rule]:
    return {n: Rule(roles, roles if reversible else NOBODY) for n in names}


POLICY: Mapping[str, Rule] = {
    **_rules(
        SERVICER, True,
        "LoanBoarded", "PoolBoarded", "CollectionReceived", "LoanDelinquencyReported",
        "LoanDefaulted", "RecoveryReceived", "LoanWrittenOff", "LoanRepurchased",
        "CollectionsRemitted", "MonthlyCollateralPosted", "AdditionalReceivablesOffered",
        "AdditionalReceivablesPurchased",
    ),
    **_rules(
        TRUSTEE, True,
        "NotesIssued", "ReserveFunded", "EventDeclared", "CleanUpCallElected", "CycleApproved",
        "AdjustmentPosted", "BankStatementImported", "ReconciliationCompleted",
        # the payment-date cycle, posted by the trustee's run (run-due, the scheduler)
        "CollectionPeriodClosed", "TriggerEvaluated", "InterestAccrued", "FeeAccrued",
        "WaterfallExecuted", "DistributionPaid", "CleanUpCallExercised", "MetricsDetermined",
        "CleanUpCallTested",
        # the trust's expenses and taxes as invoiced or assessed to it
        "ExpenseIncurred",
    ),
    # facts of the market and of the parties that either side learns and reports: a rating
    # agency's action (SPEC §1: the servicer's operations post rating changes; the trustee is
    # told them too) and the figures the ledger cannot compute from its own events
    **_rules(SERVICER | TRUSTEE, True, "RatingChanged", "FigureReported"),
    # a deal definition is corrected by loading the corrected file, a seal by sealing again
    **_rules(TRUSTEE, False, "DealDefined", "PeriodSealed"),
    # who may post a reversal depends on what it reverses (the reversed type's ``reverse``)
    "EventReversed": Rule(SERVICER | TRUSTEE, NOBODY),
}  # fmt: skip
"""Event type → who may post it and who may reverse it. Every registered type has a line
(``tests/test_policy.py`` checks it), so a new type is refused until it is given one."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who acts: recorded as ``actor`` (the name) and ``role`` of every event they post."""

    name: str
    role: Role

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(
                f"name {self.name!r}: 1 to 100 characters without spaces, colons or control "
                "characters"
            )
        if self.role not in ROLES:
            raise ValueError(f"role {self.role!r} is not one of {', '.join(ROLES)}")

    @classmethod
    def parse(cls, text: str) -> Identity:
        """``NAME:ROLE`` (``--as``, ``$TRUST_LEDGER_AS``)."""
        name, sep, role = text.strip().rpartition(":")
        if not sep:
            raise ValueError(f"{text!r} is not NAME:ROLE (role: {', '.join(ROLES)})")
        for r in ROLES:
            if r == role:
                return cls(name, r)
        raise ValueError(f"{text!r}: role {role!r} is not one of {', '.join(ROLES)}")

    def __str__(self) -> str:
        return f"{self.name}:{self.role}"


def rule_of(type_name: str) -> Rule:
    """The policy's line for ``type_name``; a type without one may be posted by nobody."""
    return POLICY.get(type_name, Rule(NOBODY, NOBODY))


def check_post(role: str, type_name: str) -> None:
    """Refuse (:class:`PolicyError`) a ``role`` that may not post ``type_name``."""
    rule = rule_of(type_name)
    if role not in rule.post:
        raise PolicyError(
            f"role {role} may not post {type_name} (rule {rule.describe(type_name)})",
            rule.describe(type_name),
        )


def check_reverse(role: str, reversed_type: str) -> None:
    """Refuse (:class:`PolicyError`) a ``role`` that may not reverse a ``reversed_type``."""
    rule = rule_of(reversed_type)
    if role not in rule.reverse:
        raise PolicyError(
            f"role {role} may not reverse {reversed_type} (rule {rule.describe(reversed_type)})",
            rule.describe(reversed_type),
        )


def check_event(actor: str, role: str, type_name: str, data: Mapping[str, Any]) -> None:
    """An event about to be appended: its actor is a valid name, its role may post its type and,
    for a reversal, may reverse the type it reverses."""
    if not _NAME.fullmatch(actor):
        raise PolicyError(
            f"actor {actor!r} is not a caller's name (1 to 100 characters without spaces, "
            "colons or control characters)",
            "every event names who posted it",
        )
    check_post(role, type_name)
    if type_name == "EventReversed":
        check_reverse(role, str(data.get("reversed_type")))


def check_events(events: Iterable[tuple[str, str, str, Mapping[str, Any]]]) -> None:
    """:func:`check_event` on each ``(actor, role, type, data)``; the first refusal is raised."""
    for actor, role, type_name, data in events:
        check_event(actor, role, type_name, data)
