"""Exact money: ``Decimal`` quantized to the fen (0.01 CNY), never ``float``.

SPEC §2.3: amounts are Decimal quantized to 0.01; a float input is an error; a pro-rata split
conserves every fen (largest remainder, deterministic tie-break).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
LIMIT = Decimal("1e15")
"""No amount or rate read from outside reaches it (10^15 CNY is some thousand times the largest
securitisation): beyond it a number is refused rather than left to overflow a computation."""


class MoneyError(ValueError):
    """An amount that cannot be money: a float, not a number, or finer than a fen."""


def _reject_float(value: object, what: str) -> None:
    if isinstance(value, float):
        raise MoneyError(f"{what} given as float {value!r}: pass a string or Decimal")
    if isinstance(value, bool):
        raise MoneyError(f"{what} given as bool {value!r}")


def to_decimal(value: object, what: str = "number") -> Decimal:
    """Parse an exact decimal number (str, int or Decimal); floats are refused."""
    _reject_float(value, what)
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise MoneyError(f"{what} {value!r} is not a decimal number") from None
    else:
        raise MoneyError(f"{what} of type {type(value).__name__} is not a decimal number")
    if not result.is_finite():
        raise MoneyError(f"{what} {value!r} is not a finite number")
    if abs(result) >= LIMIT:
        raise MoneyError(f"{what} {value!r} is out of range (it must be below 10^15)")
    return result


def money(value: object, what: str = "amount") -> Decimal:
    """An input amount: exact, at most two decimals (no silent rounding of what we are given)."""
    result = to_decimal(value, what)
    if result != result.quantize(FEN, rounding=ROUND_DOWN):
        raise MoneyError(f"{what} {value!r} has more than 2 decimals")
    return result.quantize(FEN)


def round_fen(value: Decimal) -> Decimal:
    """Round a computed amount (interest, fees, ratios times balances) half-up to the fen."""
    _reject_float(value, "amount")
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def allocate(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Split ``total`` pro rata to ``weights`` conserving every fen.

    Largest-remainder method: each share is first truncated to the fen, then the fens left over go
    one each to the largest remainders; ties go to the earlier position, so the result is
    deterministic. Negative totals are split as their absolute value and negated.
    """
    total = money(total, "total")
    if not weights:
        raise MoneyError("cannot allocate over no weights")
    ws = [to_decimal(w, "weight") for w in weights]
    if any(w < 0 for w in ws):
        raise MoneyError("weights must not be negative")
    weight_sum = sum(ws, Decimal(0))
    if weight_sum == 0:
        raise MoneyError("weights sum to zero")
    sign = -1 if total < 0 else 1
    units = int(abs(total) / FEN)
    exact = [Decimal(units) * w / weight_sum for w in ws]
    floors = [int(e) for e in exact]
    left = units - sum(floors)
    order = sorted(range(len(ws)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return [(Decimal(sign * f) * FEN).quantize(FEN) for f in floors]


def _validate_money(value: Any) -> Decimal:
    return money(value)


def _validate_rate(value: Any) -> Decimal:
    return to_decimal(value, "rate")


Money = Annotated[
    Decimal,
    BeforeValidator(_validate_money),
    PlainSerializer(lambda d: str(d), return_type=str, when_used="json"),
]
"""A pydantic field type for amounts: exact, two decimals, serialized as a string."""

Rate = Annotated[
    Decimal,
    BeforeValidator(_validate_rate),
    PlainSerializer(lambda d: str(d), return_type=str, when_used="json"),
]
"""A pydantic field type for rates and ratios: exact Decimal, floats refused."""
