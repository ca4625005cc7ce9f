"""The auditor's read documents, one shape for the CLI's ``--format json`` and the HTTP API
(SPEC §5): balances, loans, triggers and history of a deal on both time axes
(:mod:`ledger.audit.timeaxes`). Pure reads; a refusal is a :class:`QueryError` whose message names
what
exists."""

from __future__ import annotations

from typing import Any

from ledger.audit.history import HistoryLine, account_history, loan_history
from ledger.audit.timeaxes import TimePoint, state_at
from projections.store import ProjectedStore

__all__ = [
    "QueryError",
    "UnknownDeal",
    "balances_doc",
    "history_of",
    "loans_doc",
    "require_deal",
    "rows_at",
    "triggers_doc",
]


class QueryError(LookupError):
    """A read that names something the ledger does not hold."""


class UnknownDeal(QueryError):
    pass


def require_deal(store: ProjectedStore, deal: str) -> None:
    """Refuse a deal the store does not hold, naming the deals it does."""
    known = store.deals()
    if deal not in known:
        raise UnknownDeal(f"no deal {deal!r} in the store (deals: {', '.join(known) or 'none'})")


def rows_at(store: ProjectedStore, deal: str, point: TimePoint, name: str) -> dict[str, Any]:
    """A projection's rows (key-sorted plain dicts) of a deal the store holds, at ``point``."""
    require_deal(store, deal)
    state = state_at(store, deal, point, [name])[name]
    return {k: dict(v.row) for k, v in sorted(state.items())}


def balances_doc(store: ProjectedStore, deal: str, point: TimePoint) -> dict[str, Any]:
    """``{"deal_id", "as_of", "known_at", "balances": {account: "<decimal>"}}``."""
    rows = rows_at(store, deal, point, "balances")
    return {
        "deal_id": deal,
        **point.as_dict(),
        "balances": {k: v["balance"] for k, v in rows.items()},
    }


def loans_doc(
    store: ProjectedStore,
    deal: str,
    point: TimePoint,
    loans: list[str] | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """``{"deal_id", "as_of", "known_at", "loans": {loan_id: row}}``: every loan, or those named
    (each must exist), optionally only those in ``status``."""
    rows = rows_at(store, deal, point, "loans")
    missing = [lid for lid in loans or () if lid not in rows]
    if missing:
        raise QueryError(f"deal {deal!r} has no loan {', '.join(missing)} ({point.describe()})")
    chosen = {
        k: v
        for k, v in rows.items()
        if (not loans or k in loans) and (status is None or v.get("status") == status)
    }
    return {"deal_id": deal, **point.as_dict(), "loans": chosen}


def triggers_doc(store: ProjectedStore, deal: str, point: TimePoint) -> dict[str, Any]:
    """``{"deal_id", "as_of", "known_at", "triggers": {id: row}, "declared": {id: row}}``: the
    latest evaluation of each trigger and the standing declarations."""
    rows = rows_at(store, deal, point, "notes")
    return {
        "deal_id": deal,
        **point.as_dict(),
        "triggers": {
            k.removeprefix("trigger:"): v for k, v in rows.items() if k.startswith("trigger:")
        },
        "declared": {
            k.removeprefix("declared:"): v for k, v in rows.items() if k.startswith("declared:")
        },
    }


def history_of(
    store: ProjectedStore,
    deal: str,
    point: TimePoint,
    *,
    loan: str | None = None,
    account: str | None = None,
) -> tuple[dict[str, str], list[HistoryLine]]:
    """Every event and posting behind one loan's or one account's balance (exactly one of
    ``loan`` and ``account``), with the subject as :func:`ledger.audit.history.history_json` names
    it."""
    if (loan is None) == (account is None):
        raise ValueError("give exactly one of loan or account")
    require_deal(store, deal)
    if loan is not None:
        lines = loan_history(store, deal, loan, point)
        subject, what = {"loan_id": loan}, f"loan {loan!r}"
    else:
        assert account is not None
        lines = account_history(store, deal, account, point)
        subject, what = {"account": account}, f"account {account!r}"
    if not lines:
        raise QueryError(f"deal {deal!r}: no event touches {what} ({point.describe()})")
    return subject, lines
