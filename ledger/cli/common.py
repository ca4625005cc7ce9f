"""What every ``trust-ledger`` command shares: the ``--db``/``--deal`` options, opening the store
(migrating it on first use) and failing with a clear message and an exit code (SPEC §5)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from events import db
from ledger.audit import queries
from projections.store import ProjectedStore

__all__ = ["DbOption", "DealOption", "State", "fail", "open_store", "require_deal"]

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL; default $TRUST_LEDGER_DB or sqlite ./trust-events.db"),
]
DealOption = Annotated[str, typer.Option("--deal", help="Deal id")]


class State:
    """The main command's options, for its subcommands (``--db`` given before the command)."""

    url: str | None = None


@contextmanager
def open_store(url: str | None = None, *, upgrade: bool = True) -> Iterator[ProjectedStore]:
    """The store at ``url`` (else the main ``--db``, ``$TRUST_LEDGER_DB``, ``./trust-events.db``),
    migrated to the current schema unless told otherwise; the engine is disposed after."""
    engine = db.make_engine(url or State.url)
    try:
        if upgrade and not db.is_current(engine):
            db.upgrade(engine)
        yield ProjectedStore(engine)
    finally:
        engine.dispose()


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on stderr; raise the returned exit (1: refused, 2: bad usage)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def require_deal(store: ProjectedStore, deal: str) -> None:
    """Refuse (exit 1) a deal the store does not hold, naming the deals it does."""
    try:
        queries.require_deal(store, deal)
    except queries.UnknownDeal as exc:
        raise fail(str(exc)) from None
