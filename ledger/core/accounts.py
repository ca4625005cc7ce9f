"""Chart of accounts shared by events, projections and the waterfall.

Names are ``<group>:<name>``. Asset accounts (cash at the trust bank, cash held by the servicer, the
pool of receivables) carry debit (positive) balances; income, note and payee accounts carry credit
(negative) balances; the trial balance is zero.
"""

from __future__ import annotations

POOL_PRINCIPAL = "pool:principal"
"""Outstanding principal of performing (and delinquent, not yet defaulted) loans."""
POOL_DEFAULTED = "pool:defaulted"
"""Principal of defaulted loans not yet recovered or written off."""
SELLER_CONSIDERATION = "seller:consideration"
"""What the trust owes the originator for the receivables it bought (boarding, purchases)."""
SERVICER_HELD = "servicer:collections-held"
"""Collections held by the servicer, not yet remitted: the commingling exposure."""
TRUST_COLLECTIONS = "trust:collections"
"""Collections remitted to the trust bank account, before the waterfall splits them."""
INTEREST_INCOME = "income:interest"
FEE_INCOME = "income:fees"
RECOVERY_INCOME = "income:recoveries"
REPURCHASE_INCOME = "income:repurchase"
WRITTEN_OFF = "loss:written-off"

CASH_GROUPS = ("trust", "reserve", "servicer")
"""Groups whose accounts hold cash and may never go negative (SPEC §2.4)."""


def is_cash(account: str) -> bool:
    return account.split(":", 1)[0] in CASH_GROUPS
