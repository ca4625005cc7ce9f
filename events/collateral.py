"""Driver China Thirteen's Monthly Collateral (SPEC §4 ``MonthlyCollateralPosted``; seed 001
L2546–L2653, definitions L19453–L19496, ``../shared/domain/seed001_structure.md`` §3.4).

While the Servicer is below the Servicer Required Rating (CCXI A / CBR A−) it advances, for each
Monthly Period, **Part 1** (expected Collections of days 1–14, posted on the 15th of the preceding
period) and **Part 2** (Collections of day 15 to month end, posted on the 1st of the period) into
the Distribution Account, where they sit outside the Available Distribution Amount. On the 6th
business day before the Payment Date the period's Collections owed are **netted** against the
collateral (the netted part becomes Collections in the trust account); an excess is **released**
to the Servicer outside the Order of Priority (also when the rating is restored); a shortfall is
paid in as an ordinary ``CollectionsRemitted``.

One event type covers the four movements (``kind``), each for one Monthly Period:

========== ===================================================================================
part1      servicer → trust: ``trust:monthly-collateral`` +, ``payable:monthly-collateral`` −
part2      same as part1
netted     collateral applied to the Collections owed: ``trust:collections`` +,
           ``trust:monthly-collateral`` −, ``payable:monthly-collateral`` +,
           ``servicer:collections-held`` −
released   collateral returned: ``payable:monthly-collateral`` +, ``trust:monthly-collateral`` −
========== ===================================================================================
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator, model_validator

from events.model import Event, event_type
from ledger.core import accounts
from ledger.core.journal import JournalEntry, entry_of
from ledger.core.money import Money

MONTHLY_COLLATERAL = "trust:monthly-collateral"
"""Monthly Collateral standing to the credit of the Distribution Account (outside the ADA)."""
COLLATERAL_PAYABLE = "payable:monthly-collateral"
"""What the trust owes the Servicer back for the Monthly Collateral it posted."""

CollateralKind = Literal["part1", "part2", "netted", "released"]


@event_type("MonthlyCollateralPosted")
class MonthlyCollateralPosted(Event):
    """A Monthly Collateral movement for one Monthly Period (``YYYY-MM``)."""

    monthly_period: str
    kind: CollateralKind
    value_date: date
    amount: Money
    reference: str | None = None
    clause: str = Field(default="seed 001 L2546-2653")

    @field_validator("monthly_period")
    @classmethod
    def _period(cls, v: str) -> str:
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", v):
            raise ValueError(f"monthly_period {v!r} is not YYYY-MM")
        return v

    @model_validator(mode="after")
    def _positive(self) -> MonthlyCollateralPosted:
        if self.amount <= 0:
            raise ValueError("amount must be positive")
        return self

    def legs(self) -> list[tuple[str, Decimal]]:
        a = self.amount
        if self.kind in ("part1", "part2"):
            return [(MONTHLY_COLLATERAL, a), (COLLATERAL_PAYABLE, -a)]
        if self.kind == "netted":
            return [
                (accounts.TRUST_COLLECTIONS, a),
                (MONTHLY_COLLATERAL, -a),
                (COLLATERAL_PAYABLE, a),
                (accounts.SERVICER_HELD, -a),
            ]
        return [(COLLATERAL_PAYABLE, a), (MONTHLY_COLLATERAL, -a)]

    def entries(self) -> tuple[JournalEntry, ...]:
        return (
            entry_of(self.legs(), memo=f"monthly collateral {self.kind} {self.monthly_period}"),
        )


__all__ = ["COLLATERAL_PAYABLE", "MONTHLY_COLLATERAL", "MonthlyCollateralPosted"]
