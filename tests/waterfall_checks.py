"""Checks shared by the per-seed waterfall tests."""

from __future__ import annotations

from decimal import Decimal

from ledger.core.journal import apply_entries, trial_balance
from ledger.deal.schema import DealDefinition
from ledger.waterfall import WaterfallResult


def cash_conserved(result: WaterfallResult, deal: DealDefinition) -> None:
    """Cash in = paid out + retained, no cash account negative, every posting balanced."""
    cash = [a for a, acc in deal.accounts.items() if acc.kind != "ledger"]
    opening = sum((result.opening_accounts[a] for a in cash), Decimal(0))
    closing = sum((result.closing_accounts[a] for a in cash), Decimal(0))
    assert opening == result.paid_out + closing
    assert all(result.closing_accounts[a] >= 0 for a in cash)
    assert trial_balance(apply_entries({}, result.entries)) == 0
