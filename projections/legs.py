"""Postings of the hot event types read from the stored payload, without a pydantic model.

The balances projection folds every event's postings (SPEC §2.4). Validating a model per event to
ask it for :meth:`events.model.Event.legs` dominates a replay of millions of loan events, so
:func:`payload_legs` computes the same legs from the payload for the loan-level and remittance
types. It is exact only for a payload as a model dumps it (money as decimal strings with two
decimals, flags as JSON booleans): anything else (an imported raw payload ``"100"``, a flag
``"true"``) returns ``None`` and the caller asks the model, which quantizes and coerces as the
event type defines. A test pins ``payload_legs == model.legs()`` for every type handled here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from ledger.core import accounts
from ledger.core.money import ZERO

Legs = list[tuple[str, Decimal]]


class _Odd(Exception):
    """A payload not in the form a model dumps: leave it to the model."""


def money_text(value: Any) -> Decimal:
    """A money string as a model dumps it (``-?digits.dd``) as Decimal; raises :class:`_Odd`
    for any other form (the model's own parse then decides)."""
    if type(value) is not str or len(value) < 4 or value[-3] != ".":
        raise _Odd
    return Decimal(value)


def _opt(data: Mapping[str, Any], name: str) -> Decimal:
    v = data.get(name)
    return ZERO if v is None else money_text(v)


def _flag(data: Mapping[str, Any], name: str) -> bool:
    v = data.get(name, False)
    if type(v) is not bool:
        raise _Odd
    return v


def _none(data: Mapping[str, Any]) -> Legs:
    return []


def _boarded(data: Mapping[str, Any]) -> Legs:
    p = money_text(data["outstanding_principal"])
    if not p:
        return []
    return [(accounts.POOL_PRINCIPAL, p), (accounts.SELLER_CONSIDERATION, -p)]


def _collection(data: Mapping[str, Any]) -> Legs:
    p, i, f = _opt(data, "principal"), _opt(data, "interest"), _opt(data, "fees")
    total = p + i + f
    if total == 0:
        return []
    legs = [(accounts.SERVICER_HELD, total)]
    if p:
        legs.append((accounts.POOL_PRINCIPAL, -p))
    if i:
        legs.append((accounts.INTEREST_INCOME, -i))
    if f:
        legs.append((accounts.FEE_INCOME, -f))
    return legs


def _defaulted(data: Mapping[str, Any]) -> Legs:
    p = money_text(data["principal"])
    if not p:
        return []
    return [(accounts.POOL_DEFAULTED, p), (accounts.POOL_PRINCIPAL, -p)]


def _recovery(data: Mapping[str, Any]) -> Legs:
    """Version 2 (events/servicing.py ``RecoveryReceived``): the amount is principal + interest
    + fees; given alone it is all principal."""
    p, i, f = _opt(data, "principal"), _opt(data, "interest"), _opt(data, "fees")
    amount = _opt(data, "amount")
    parts = p + i + f
    if not parts and amount:
        p = amount
    elif not amount:
        amount = parts
    elif amount != parts:
        raise _Odd
    if amount <= 0 or p < 0 or i < 0 or f < 0:
        raise _Odd
    legs = [(accounts.SERVICER_HELD, amount)]
    if p:
        pool = accounts.WRITTEN_OFF if _flag(data, "written_off") else accounts.POOL_DEFAULTED
        legs.append((pool, -p))
    income = i + f
    if income:
        legs.append((accounts.RECOVERY_INCOME, -income))
    return legs


def _written_off(data: Mapping[str, Any]) -> Legs:
    a = money_text(data["amount"])
    if not a:
        return []
    return [(accounts.WRITTEN_OFF, a), (accounts.POOL_DEFAULTED, -a)]


def _repurchased(data: Mapping[str, Any]) -> Legs:
    price, principal = money_text(data["price"]), money_text(data["principal"])
    pool = accounts.POOL_DEFAULTED if _flag(data, "from_defaulted") else accounts.POOL_PRINCIPAL
    legs: Legs = []
    if price:
        legs.append((accounts.SERVICER_HELD, price))
    if principal:
        legs.append((pool, -principal))
    difference = price - principal
    if difference:
        legs.append((accounts.REPURCHASE_INCOME, -difference))
    return legs


def _remitted(data: Mapping[str, Any]) -> Legs:
    a = money_text(data["amount"])
    if not a:
        return []
    return [(accounts.TRUST_COLLECTIONS, a), (accounts.SERVICER_HELD, -a)]


PAYLOAD_LEGS: dict[str, Callable[[Mapping[str, Any]], Legs]] = {
    "LoanBoarded": _boarded,
    "PoolBoarded": _none,
    "CollectionReceived": _collection,
    "LoanDelinquencyReported": _none,
    "LoanDefaulted": _defaulted,
    "RecoveryReceived": _recovery,
    "LoanWrittenOff": _written_off,
    "LoanRepurchased": _repurchased,
    "CollectionsRemitted": _remitted,
}
"""Types whose legs :func:`payload_legs` reads from the payload (at the type's current schema
version)."""


def payload_legs(kind: str, data: Mapping[str, Any]) -> Legs | None:
    """The event's legs from its (current-version) payload, or None when only the model can say
    (a type not handled here, a payload not in dumped form)."""
    fn = PAYLOAD_LEGS.get(kind)
    if fn is None:
        return None
    try:
        return fn(data)
    except (_Odd, KeyError):
        return None
