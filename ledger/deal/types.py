"""The field types every part of a deal definition uses: the frozen base model, formulas (parsed
when the file is validated), rating grades, identifiers and day-count names."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from ledger.core.expr import parse, rating_rank


class DealModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _formula_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    return value


def _formula_parses(value: str) -> str:
    parse(value)  # ExprError is a ValueError: pydantic reports it at the field's path
    return value


Formula = Annotated[str, BeforeValidator(_formula_text), AfterValidator(_formula_parses)]
"""A formula in the expression language (numbers in YAML are accepted as formula text)."""


def _grade(value: str) -> str:
    rating_rank(value)
    return value


Grade = Annotated[str, AfterValidator(_grade)]
"""A long-term rating grade such as ``AAA``, ``A+`` or ``AAAsf``."""

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]
"""Ids of notes, accounts, fees, triggers, parties, roles: usable as formula name segments."""

DayCountName = Literal["act/365f", "act/360", "30/360", "30e/360"]
"""Day counts: ``act/365f`` is actual days / 365 also in leap years (seed 004 L1811-1818)."""
