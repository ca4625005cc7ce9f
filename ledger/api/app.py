"""``trust-ledger serve``: the HTTP API (SPEC §5) for the servicer, the trustee and the auditor.

The same library calls as the console commands, behind bearer tokens. Each token names a person
or system and one role; what a role may do:

======================================  ==========  =========  =========
endpoint                                servicer    trustee    auditor
======================================  ==========  =========  =========
``GET`` deals, balances, loans,         yes         yes        yes
triggers, history, reports
``GET /deals/{d}/verify``                           yes        yes
``POST /deals/{d}/tapes``               yes
``POST /deals/{d}/events``              yes         yes
``POST /deals``, ``.../notes-issued``,              yes
``.../run-due``, ``.../approvals``,
``.../statements``
======================================  ==========  =========  =========

An event posted through the API records the token's name as its ``actor`` and the token's role
as its ``role`` (the notes' issue is recorded in the role ``issuer``): the audit trail says who did
it. Reads take ``as_of`` (an effective date) and
``known_at`` (a recorded time; a bare date is the end of that day) as the CLI's ``--as-of`` and
``--known-at`` do, and answer with the CLI's ``--format json`` documents.

Refusals are JSON ``{"detail": ...}``: 401 without a valid token, 403 for a role that may not,
404 for a deal, loan, account or date the ledger does not hold (the message names those it
does), 409 for a conflict with what is stored (a concurrent append, a reused idempotency key, a
cycle out of order), 422 for bad input — a rejected tape or statement also lists ``errors``, each
with its file, row, field and reason, and nothing of it is stored.

Tokens come from a file of ``TOKEN NAME ROLE`` lines (:func:`ledger.api.auth.parse_keys`); only
their SHA-256 is held in memory. The routes live in one module per party
(:mod:`~ledger.api.routes_read`, :mod:`~ledger.api.routes_servicer`,
:mod:`~ledger.api.routes_trustee`) and reach the store and the keys through ``app.state``.

(No ``from __future__ import annotations`` in this package: FastAPI reads the endpoints'
annotations at run time.)
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from events.store import ConcurrencyError, IdempotencyConflict, StoreError
from ledger.api import routes_read, routes_servicer, routes_trustee
from ledger.api.auth import ROLES, Caller, KeyFileError, Role, parse_keys
from ledger.audit.queries import QueryError
from ledger.audit.statement_model import StatementRejected
from ledger.cycle.schedule import CycleError
from ledger.deal.loader import DealValidationError
from ledger.reports import ReportError
from ledger.servicing.tape_formats import TapeRejected
from projections.store import ProjectedStore

__all__ = ["ROLES", "Caller", "KeyFileError", "Role", "create_app", "parse_keys"]


def _rejected(status: int, exc: Exception, errors: Iterable[Any]) -> JSONResponse:
    listed = [{"file": e.file, "row": e.row, "field": e.field, "reason": e.reason} for e in errors]
    return JSONResponse({"detail": str(exc).split("\n", 1)[0], "errors": listed}, status)


def create_app(store: ProjectedStore, keys: Mapping[str, Caller]) -> FastAPI:
    """The API over ``store``, for the callers of ``keys`` (:func:`parse_keys`)."""
    app = FastAPI(
        title="trust-ledger",
        summary="Event-sourced servicing and trust-accounting ledger (SPEC §5)",
        version="1",
    )
    app.state.store = store
    app.state.keys = keys

    @app.exception_handler(TapeRejected)
    def _tape(_: Request, exc: TapeRejected) -> JSONResponse:
        return _rejected(422, exc, exc.errors)

    @app.exception_handler(DealValidationError)
    def _deal(_: Request, exc: DealValidationError) -> JSONResponse:
        problems = [{"path": p.path, "line": p.line, "reason": p.message} for p in exc.problems]
        return JSONResponse({"detail": str(exc).split("\n", 1)[0], "problems": problems}, 422)

    @app.exception_handler(StatementRejected)
    def _statement(_: Request, exc: StatementRejected) -> JSONResponse:
        return _rejected(422, exc, exc.errors)

    def _status(code: int) -> Callable[[Request, Exception], JSONResponse]:
        def handle(_: Request, exc: Exception) -> JSONResponse:
            return JSONResponse({"detail": str(exc)}, code)

        return handle

    for kind, code in (
        (QueryError, 404),
        (ReportError, 404),
        (ConcurrencyError, 409),
        (IdempotencyConflict, 409),
        (CycleError, 409),
        (StoreError, 422),
    ):
        app.add_exception_handler(kind, _status(code))
    for module in (routes_read, routes_servicer, routes_trustee):
        app.include_router(module.router)
    return app
