"""Chart of accounts shared by events, projections and the waterfall.

Names are ``<group>:<name>``. Asset accounts (cash at the trust bank, cash held by the servicer, the
pool of receivables) carry debit (positive) balances; income, note and payee accounts carry credit
(negative) balances; the trial balance is zero.
"""

from __future__ import annotations

POOL_PRINCIPAL = "pool:principal"
SERVICER_HELD = "servicer:collections-held"
INTEREST_INCOME = "income:interest"
FEE_INCOME = "income:fees"

CASH_GROUPS = ("trust", "reserve", "servicer")
"""Groups whose accounts hold cash and may never go negative (SPEC §2.4)."""


def is_cash(account: str) -> bool:
    return account.split(":", 1)[0] in CASH_GROUPS
