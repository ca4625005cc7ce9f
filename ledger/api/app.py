"""``trust-ledger serve``: the HTTP API (SPEC §5) for the servicer, the trustee and the auditor.

The same library calls as the console commands, behind bearer tokens. Each token names a person
or system and one role; what a role may do:

======================================  ==========  =========  =========
endpoint                                servicer    trustee    auditor
======================================  ==========  =========  =========
``GET`` deals, balances, loans,         yes         yes        yes
triggers, history, reports, ``/docs``,
``/openapi.json``
``GET /deals/{d}/verify``                           yes        yes
``POST /deals/{d}/tapes``               yes
``POST /deals/{d}/events``              the event type's rule (:mod:`events.policy`)
``POST /deals``, ``.../notes-issued``,              yes
``.../run-due``, ``.../approvals``,
``.../statements``
======================================  ==========  =========  =========

An event posted through the API records the token's name as its ``actor`` and the token's role
as its ``role``, and is judged by the library's policy (:mod:`events.policy`; a refusal is 403
naming the rule): the audit trail says who did it. A token may be limited to some deals (the key
file's fourth field); other deals do not exist for it (404, never listed).

Reads take ``as_of`` (an effective date) and ``known_at`` (a recorded time; a bare date is the
end of that day) as the CLI's ``--as-of`` and ``--known-at`` do, and answer with the CLI's
``--format json`` documents.

Refusals are JSON ``{"detail": ...}``: 401 without a valid token, 403 for a role that may not
(with the policy's ``rule``), 404 for a deal, loan, account or date the ledger does not hold (the
message names those the caller may see), 408 for a body that does not arrive in time, 409 for a
conflict with what is stored (a concurrent append, a reused idempotency key, a cycle out of
order, a sealed period), 413 for a body over the endpoint's limit (:mod:`~ledger.api.limits`),
422 for bad input — a rejected tape or statement also lists ``errors``, each with its file, row,
field and reason, and nothing of it is stored — and 503 when the database cannot be reached.

Tokens come from a file of ``TOKEN NAME ROLE [DEALS]`` lines (:func:`ledger.api.auth.read_keys`,
refused when others may read it); only their SHA-256 is held in memory. The documentation
(``/docs``, ``/openapi.json``) needs a token too and loads nothing from a CDN
(:mod:`~ledger.api.docs`). The routes live in one module per party
(:mod:`~ledger.api.routes_read`, :mod:`~ledger.api.routes_servicer`,
:mod:`~ledger.api.routes_trustee`) and reach the store and the keys through ``app.state``.

(No ``from __future__ import annotations`` in this package: FastAPI reads the endpoints'
annotations at run time.)
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from events.guard import SealedPeriodError
from events.policy import PolicyError
from events.store import ConcurrencyError, IdempotencyConflict, StoreError
from ledger.api import docs, routes_read, routes_servicer, routes_trustee
from ledger.api.auth import ROLES, Caller, KeyFileError, Role, bearer_caller, parse_keys, read_keys
from ledger.api.limits import RequestLimits
from ledger.api.models import unknown_deal
from ledger.audit.queries import QueryError, UnknownDeal
from ledger.audit.statement_model import StatementRejected
from ledger.cycle.schedule import CycleError
from ledger.deal.loader import DealValidationError
from ledger.reports import ReportError
from ledger.servicing.tape_formats import TapeRejected
from projections.store import ProjectedStore

__all__ = ["ROLES", "Caller", "KeyFileError", "Role", "create_app", "parse_keys", "read_keys"]


def _rejected(status: int, exc: Exception, errors: Iterable[Any]) -> JSONResponse:
    listed = [{"file": e.file, "row": e.row, "field": e.field, "reason": e.reason} for e in errors]
    return JSONResponse({"detail": str(exc).split("\n", 1)[0], "errors": listed}, status)


def create_app(
    store: ProjectedStore, keys: Mapping[str, Caller], *, limits: bool = True
) -> FastAPI:
    """The API over ``store``, for the callers of ``keys`` (:func:`read_keys`), with the body
    limits and read timeouts of :class:`~ledger.api.limits.RequestLimits` unless told not to."""
    app = FastAPI(
        title="trust-ledger",
        summary="Event-sourced servicing and trust-accounting ledger (SPEC §5)",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
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

    @app.exception_handler(PolicyError)
    def _policy(_: Request, exc: PolicyError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "rule": exc.rule}, 403)

    @app.exception_handler(UnknownDeal)
    def _unknown(request: Request, exc: UnknownDeal) -> JSONResponse:
        # the library's message lists every deal of the store: only the caller's are named
        who = bearer_caller(request)
        if who is None:
            return JSONResponse({"detail": "no such deal"}, 404)
        deal = request.path_params.get("deal", "")
        return JSONResponse({"detail": unknown_deal(deal, store.deals(), who)}, 404)

    @app.exception_handler(sa.exc.OperationalError)
    def _database(_: Request, exc: sa.exc.OperationalError) -> JSONResponse:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "unreachable"
        return JSONResponse({"detail": f"the database is unavailable: {reason}"}, 503)

    @app.exception_handler(RecursionError)
    def _nested(_: Request, exc: RecursionError) -> JSONResponse:
        return JSONResponse({"detail": "the request is nested too deeply to read"}, 422)

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
        (SealedPeriodError, 409),
        (StoreError, 422),
    ):
        app.add_exception_handler(kind, _status(code))
    for module in (routes_read, routes_servicer, routes_trustee, docs):
        app.include_router(module.router)
    if limits:
        app.add_middleware(RequestLimits)
    return app
