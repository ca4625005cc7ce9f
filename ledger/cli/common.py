"""What every ``trust-ledger`` command shares: the ``--db``/``--deal``/``--as`` options, opening
the store (migrating it on first use) and failing with a clear message and an exit code (SPEC §5).

**Who acts.** A command that posts acts as ``--as NAME:ROLE`` (given to the command or to
``trust-ledger`` itself), else ``$TRUST_LEDGER_AS``, else ``as = "NAME:ROLE"`` in the config file
``$XDG_CONFIG_HOME/trust-ledger/config.toml`` (``~/.config/...``); with none of them it refuses.
The name is recorded as the actor of what it posts and the role is judged by the library's
policy (:mod:`events.policy`), as for the HTTP API."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from events import db
from events.policy import ROLES, Identity
from ledger.audit import queries
from projections.store import ProjectedStore

__all__ = [
    "AS_ENV",
    "AsOption",
    "DbOption",
    "DealOption",
    "State",
    "acting",
    "fail",
    "open_store",
    "require_deal",
]

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL; default $TRUST_LEDGER_DB or sqlite ./trust-events.db"),
]
DealOption = Annotated[str, typer.Option("--deal", help="Deal id")]
AS_ENV = "TRUST_LEDGER_AS"
AsOption = Annotated[
    str | None,
    typer.Option(
        "--as",
        metavar="NAME:ROLE",
        help=f"Who acts ({', '.join(ROLES)}): recorded on what is posted; default ${AS_ENV} "
        "or `as` in ~/.config/trust-ledger/config.toml",
    ),
]


class State:
    """The main command's options, for its subcommands (``--db``, ``--as`` given before the
    command)."""

    url: str | None = None
    acting: str | None = None


def config_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "trust-ledger" / "config.toml"


def acting(given: str | None) -> Identity:
    """Who the command acts as (see the module); exit 2 when nobody is named or the name is not
    NAME:ROLE."""
    text, source = given or State.acting, "--as"
    if text is None and os.environ.get(AS_ENV):
        text, source = os.environ[AS_ENV], f"${AS_ENV}"
    if text is None:
        path = config_file()
        try:
            with path.open("rb") as fh:
                configured = tomllib.load(fh).get("as")
        except FileNotFoundError:
            configured = None
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise fail(f"{path}: {exc}", 2) from None
        if configured is not None:
            text, source = str(configured), str(path)
    if text is None:
        raise fail(
            f"who acts? give --as NAME:ROLE (role {', '.join(ROLES)}), set ${AS_ENV}, or put "
            f'as = "NAME:ROLE" in {config_file()}',
            2,
        )
    try:
        return Identity.parse(text)
    except ValueError as exc:
        raise fail(f"{source}: {exc}", 2) from None


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
