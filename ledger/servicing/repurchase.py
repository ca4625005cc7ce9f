"""The repurchase price of a loan, computed by the ledger from the deal's formula (pure).

A deal file's ``repurchase_price.formula`` reads ``loan.*`` fields; for a repurchase the ledger
knows them from the loan and the tape row:

===================================  ============================================================
``loan.outstanding_principal``       the principal repurchased (the row's; the tape checks make
                                     it the loan's outstanding principal)
``loan.written_off_principal``       principal written off on the loan so far (its row)
``loan.accrued_unpaid_interest``     the row's ``interest`` (the servicer's figure; 0 if empty)
``loan.discounted_receivables_...``  the loan's DRB on the principal repurchased (the deal's one
                                     definition, :func:`ledger.core.discounting.drb_on`) at the
                                     end of the month of the value date, or at the value date
                                     (``repurchase_price.valuation``)
===================================  ============================================================

Seed 001 L13432-13446: "at a price equal to their then outstanding Discounted Receivables
Balance" — the tape's principal + interest is no part of it: a tape that states an interest
is stating its price (principal + interest), which must equal the ledger's; without one the
ledger's price is posted. Seeds 002-004 (outstanding + written-off principal + unpaid interest,
e.g. seed 004 L2763) take the interest column as their third term, so principal + interest is
their price as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from ledger.core.amortisation import month_end
from ledger.core.discounting import drb_on
from ledger.core.expr import Value, parse
from ledger.core.money import ZERO
from ledger.deal.pool_rules import repurchase_price
from ledger.deal.schema import DRB_FIELD, DealDefinition

INTEREST_FIELD = "loan.accrued_unpaid_interest"


class RepurchasePriceError(ValueError):
    """The deal's repurchase price cannot be computed, or a given price is not it."""


def price_fields(deal: DealDefinition) -> frozenset[str]:
    """The ``loan.*`` names the deal's repurchase price formula reads (none without one)."""
    if deal.repurchase_price is None:
        return frozenset()
    names = parse(deal.repurchase_price.formula).names()
    return frozenset(n for n in names if n.startswith("loan."))


def deal_repurchase_price(
    deal: DealDefinition,
    row: Mapping[str, Any],
    principal: Decimal,
    interest: Decimal | None,
    value_date: date,
) -> tuple[Decimal, str]:
    """The price of repurchasing ``principal`` of the loan ``row`` (its loan projection row) on
    ``value_date``, and how it was computed (for messages); the deal must have a formula."""
    rule = deal.repurchase_price
    if rule is None:
        raise RepurchasePriceError(f"deal {deal.deal_id} defines no repurchase price")
    fields: dict[str, Value] = {}
    how: list[str] = []
    for name in sorted(price_fields(deal)):
        if name == "loan.outstanding_principal":
            fields["outstanding_principal"] = principal
        elif name == "loan.written_off_principal":
            fields["written_off_principal"] = Decimal(row.get("written_off", "0.00"))
        elif name == INTEREST_FIELD:
            fields["accrued_unpaid_interest"] = interest if interest is not None else ZERO
        elif name == DRB_FIELD:
            conv = deal.drb_convention()
            if conv is None:
                raise RepurchasePriceError(
                    f"deal {deal.deal_id}: the repurchase price reads {DRB_FIELD} but the deal "
                    "has no discounted_balance block"
                )
            on = month_end(value_date) if rule.valuation == "month_end" else value_date
            drb = drb_on(row, principal, on, conv)
            fields["discounted_receivables_balance"] = drb
            how.append(f"DRB {drb} at {on}")
        else:
            raise RepurchasePriceError(
                f"deal {deal.deal_id}: the repurchase price reads {name}, which the ledger does "
                "not know for a repurchase"
            )
    price = repurchase_price(deal, fields)
    return price, "; ".join([*how, rule.clause])


def stated_price_error(
    deal: DealDefinition,
    row: Mapping[str, Any],
    principal: Decimal,
    interest: Decimal | None,
    value_date: date,
    stated: Decimal | None,
) -> tuple[Decimal, str | None]:
    """``(price, problem)``: the deal's price for the repurchase, and why a ``stated`` price (a
    tape's principal + interest, an operator's ``price``) is refused, or None when it is the
    deal's price or none is stated. Where the formula takes the interest as its own term, the
    stated interest is an input, not a statement of the price."""
    price, how = deal_repurchase_price(deal, row, principal, interest, value_date)
    if stated is None or stated == price:
        return price, None
    return price, f"price {stated} is not the deal's repurchase price {price} ({how})"
