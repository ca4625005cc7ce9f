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

Tokens come from a file of ``TOKEN NAME ROLE`` lines (:func:`parse_keys`); only their SHA-256 is
held in memory.

(No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations, which
name dependencies defined inside :func:`create_app`.)
"""

import hashlib
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from events.store import ConcurrencyError, EventStore, IdempotencyConflict, StoreError
from ledger.cycle import approve_cycle, cycle_result_json, issue_notes, run_due
from ledger.cycle_state import CycleError
from ledger.deal.loader import DealValidationError
from ledger.history import history_json
from ledger.queries import (
    QueryError,
    balances_doc,
    history_of,
    loans_doc,
    require_deal,
    triggers_doc,
)
from ledger.reports import Format, Kind, ReportError, build_report, render
from ledger.servicing import (
    import_tape,
    list_deals,
    post_operator_event,
    posted_json,
    record_deal,
)
from ledger.statement_import import import_statements, parse_account_map, reconcile_json
from ledger.statements import StatementRejected
from ledger.tapes import TapeRejected
from ledger.timeaxes import TimePoint, parse_known_at
from ledger.verify import verify as verify_store

__all__ = ["ROLES", "Caller", "KeyFileError", "Role", "create_app", "parse_keys"]

Role = Literal["servicer", "trustee", "auditor"]
ROLES: tuple[Role, ...] = get_args(Role)
MIN_TOKEN_LENGTH = 16

MEDIA_TYPES: dict[Format, str] = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True, slots=True)
class Caller:
    """Who presented a token: recorded as the ``actor`` and ``role`` of what they post."""

    name: str
    role: Role


class KeyFileError(ValueError):
    """A token file that cannot be used; the message names the file, line and reason."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_keys(text: str, source: str = "<keys>") -> dict[str, Caller]:
    """Token file lines ``TOKEN NAME ROLE`` (blank lines and ``#`` comments skipped) as a map from
    each token's SHA-256 to its caller. Every problem is reported at once; a token shorter than
    16 characters, a repeated token and an unknown role are refused."""
    out: dict[str, Caller] = {}
    errors: list[str] = []
    for n, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) != 3:
            errors.append(
                f"{source}: line {n}: expected TOKEN NAME ROLE, got {len(fields)} field(s)"
            )
            continue
        token, name, role = fields
        if len(token) < MIN_TOKEN_LENGTH:
            errors.append(f"{source}: line {n}: token: shorter than {MIN_TOKEN_LENGTH} characters")
        if role not in ROLES:
            errors.append(f"{source}: line {n}: role: {role!r} is not one of {', '.join(ROLES)}")
            continue
        if _digest(token) in out:
            errors.append(f"{source}: line {n}: token: the same token is on an earlier line")
        out[_digest(token)] = Caller(name, role)
    if errors:
        raise KeyFileError("\n".join(errors))
    if not out:
        raise KeyFileError(f"{source}: no token (lines of TOKEN NAME ROLE)")
    return out


class EventIn(BaseModel):
    """One event posted by an operator, as ``trust-ledger post`` takes it (amounts as strings:
    a JSON number that is not a whole number is refused, SPEC §2.3)."""

    model_config = ConfigDict(extra="forbid")

    type: str
    data: dict[str, Any]
    idempotency_key: str | None = None
    effective_date: date | None = None


class RunDueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    until: date
    dry_run: bool = False


class NotesIssuedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    closing_date: date | None = None
    """Default: the deal file's closing date."""


class ApprovalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment_date: date


def _point(as_of: date | None, known_at: str | None) -> TimePoint:
    try:
        return TimePoint(as_of=as_of, known_at=parse_known_at(known_at) if known_at else None)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


def _rejected(status: int, exc: Exception, errors: Iterable[Any]) -> JSONResponse:
    listed = [{"file": e.file, "row": e.row, "field": e.field, "reason": e.reason} for e in errors]
    return JSONResponse({"detail": str(exc).split("\n", 1)[0], "errors": listed}, status)


def create_app(store: EventStore, keys: Mapping[str, Caller]) -> FastAPI:
    """The API over ``store``, for the callers of ``keys`` (:func:`parse_keys`)."""
    app = FastAPI(
        title="trust-ledger",
        summary="Event-sourced servicing and trust-accounting ledger (SPEC §5)",
        version="1",
    )

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

    def caller(authorization: Annotated[str | None, Header()] = None) -> Caller:
        scheme, _, token = (authorization or "").partition(" ")
        found = keys.get(_digest(token.strip())) if scheme.lower() == "bearer" else None
        if found is None:
            raise HTTPException(
                401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"}
            )
        return found

    def allow(*roles: Role) -> Callable[[Caller], Caller]:
        def check(who: Annotated[Caller, Depends(caller)]) -> Caller:
            if who.role not in roles:
                raise HTTPException(
                    403, f"role {who.role} may not do this ({', '.join(roles)} may)"
                )
            return who

        return check

    Reader = Annotated[Caller, Depends(allow("servicer", "trustee", "auditor"))]
    Auditor = Annotated[Caller, Depends(allow("trustee", "auditor"))]
    Servicer = Annotated[Caller, Depends(allow("servicer"))]
    Poster = Annotated[Caller, Depends(allow("servicer", "trustee"))]
    Trustee = Annotated[Caller, Depends(allow("trustee"))]
    AsOf = Annotated[date | None, Query(description="effective date: events on or before it")]
    KnownAt = Annotated[
        str | None, Query(description="recorded time (ISO; a date = end of that day, UTC)")
    ]

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/whoami")
    def whoami(who: Reader) -> dict[str, str]:
        return {"name": who.name, "role": who.role}

    @app.get("/deals")
    def deals(_: Reader) -> list[dict[str, str | None]]:
        return list_deals(store)

    @app.post("/deals")
    async def load(
        request: Request,
        who: Trustee,
        file: Annotated[str, Query(description="the deal file's name")] = "deal.yaml",
    ) -> dict[str, Any]:
        """A deal definition (YAML, ``deal schema``) as the request body: validated, every
        problem named by YAML path and line, and recorded as the deal in force (``DealDefined``,
        idempotent by content hash)."""
        try:
            text = (await request.body()).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise HTTPException(422, f"{file}: not UTF-8 ({exc.reason})") from None

        def work() -> dict[str, Any]:
            recorded = record_deal(store, text, Path(file).name, actor=who.name, role=who.role)
            return {**posted_json(recorded), "content_hash": recorded.data["content_hash"]}

        return await run_in_threadpool(work)

    @app.get("/deals/{deal}/balances")
    def balances(
        deal: str, _: Reader, as_of: AsOf = None, known_at: KnownAt = None
    ) -> dict[str, Any]:
        return balances_doc(store, deal, _point(as_of, known_at))

    @app.get("/deals/{deal}/loans")
    def loans(
        deal: str,
        _: Reader,
        loan: Annotated[list[str] | None, Query()] = None,
        status: str | None = None,
        as_of: AsOf = None,
        known_at: KnownAt = None,
    ) -> dict[str, Any]:
        return loans_doc(store, deal, _point(as_of, known_at), loan, status)

    @app.get("/deals/{deal}/triggers")
    def triggers(
        deal: str, _: Reader, as_of: AsOf = None, known_at: KnownAt = None
    ) -> dict[str, Any]:
        return triggers_doc(store, deal, _point(as_of, known_at))

    @app.get("/deals/{deal}/history")
    def history(
        deal: str,
        _: Reader,
        loan: str | None = None,
        account: str | None = None,
        as_of: AsOf = None,
        known_at: KnownAt = None,
    ) -> dict[str, Any]:
        if (loan is None) == (account is None):
            raise HTTPException(422, "give exactly one of loan or account")
        point = _point(as_of, known_at)
        subject, lines = history_of(store, deal, point, loan=loan, account=account)
        return history_json(deal, subject, point, lines)

    @app.get("/deals/{deal}/reports/{kind}")
    def report(
        deal: str,
        kind: Kind,
        _: Reader,
        date_: Annotated[
            date | None,
            Query(alias="date", description="payment date (trustee) or period end (servicer)"),
        ] = None,
        as_of: Annotated[date | None, Query(description="the latest report on or before")] = None,
        known_at: KnownAt = None,
        format: Format = "json",
    ) -> Response:
        if (date_ is None) == (as_of is None):
            raise HTTPException(422, "give exactly one of date or as_of")
        when = _point(None, known_at).known_at
        require_deal(store, deal)
        built = build_report(store, kind, deal, date_, as_of=as_of, known_at=when)
        return Response(render(built, format), media_type=MEDIA_TYPES[format])

    @app.get("/deals/{deal}/verify")
    def verify(deal: str, _: Auditor) -> dict[str, Any]:
        require_deal(store, deal)
        r = verify_store(store, deal)[0]
        return {
            "deal_id": r.deal_id,
            "ok": r.ok,
            "events": r.events,
            "head_hash": r.head_hash,
            "first_problem": r.first_problem(),
            "chain": [p.describe() for p in r.chain[:100]],
            "projections": [d.describe() for d in r.projections[:100]],
        }

    @app.post("/deals/{deal}/tapes")
    async def tape(
        deal: str,
        request: Request,
        who: Servicer,
        file: Annotated[str, Query(description="the file's name, for the record")] = "tape.csv",
        period_start: Annotated[
            date | None, Query(description="open collection period (default: the calendar's)")
        ] = None,
        period_end: date | None = None,
    ) -> dict[str, Any]:
        """A boarding or servicer tape (SPEC §6) as the request body: all or nothing,
        idempotent by the file's SHA-256."""
        if (period_start is None) != (period_end is None):
            raise HTTPException(422, "period_start and period_end go together")
        period = (period_start, period_end) if period_start and period_end else None
        body = await request.body()

        def work() -> dict[str, Any]:
            require_deal(store, deal)
            r = import_tape(
                store, deal, body, file=file, period=period, actor=who.name, role=who.role
            )
            return {
                "kind": r.kind,
                "deal_id": r.deal_id,
                "file": r.file,
                "sha256": r.sha256,
                "duplicate": r.duplicate,
                "events": len(r.events),
                "first_seq": r.events[0].deal_seq if r.events else None,
                "last_seq": r.events[-1].deal_seq if r.events else None,
                "period": [d.isoformat() for d in r.period] if r.period else None,
                "unchecked": list(r.unchecked),
            }

        return await run_in_threadpool(work)

    @app.post("/deals/{deal}/events")
    def post_event(deal: str, body: EventIn, who: Poster) -> dict[str, Any]:
        """One event, validated like a tape row (``type`` ``reversal`` nets one out)."""
        require_deal(store, deal)
        recorded = post_operator_event(
            store, body.type, deal, body.data, who.name, who.role,
            idempotency_key=body.idempotency_key, effective_date=body.effective_date,
        )  # fmt: skip
        return posted_json(recorded)

    @app.post("/deals/{deal}/run-due")
    def run_due_(deal: str, body: RunDueIn, _: Trustee) -> list[dict[str, Any]]:
        """Every due payment-date cycle up to ``until``, each one atomic; reruns post nothing.
        Stops at a cycle that awaits the trustee's approval (its status says so)."""
        require_deal(store, deal)
        return [cycle_result_json(r) for r in run_due(store, deal, body.until, body.dry_run)]

    @app.post("/deals/{deal}/notes-issued")
    def notes_issued(deal: str, body: NotesIssuedIn, who: Trustee) -> dict[str, Any]:
        """The notes of the deal in force recorded as issued (idempotent)."""
        require_deal(store, deal)
        return posted_json(issue_notes(store, deal, body.closing_date, actor=who.name))

    @app.post("/deals/{deal}/approvals")
    def approve(deal: str, body: ApprovalIn, who: Trustee) -> dict[str, Any]:
        """The trustee's approval of a payment date's cycle (``run-due`` then posts it)."""
        require_deal(store, deal)
        return posted_json(approve_cycle(store, deal, body.payment_date, who.name))

    @app.post("/deals/{deal}/statements")
    async def statement(
        deal: str,
        request: Request,
        who: Trustee,
        file: Annotated[str, Query(description="the statement file's name")] = "statement.csv",
        account: Annotated[
            list[str] | None, Query(description="BANK=LEDGER: map a bank account id")
        ] = None,
    ) -> dict[str, Any]:
        """A custodian statement (SPEC §6 CSV or camt.053) as the request body: imported and
        reconciled against the ledger's cash postings."""
        try:
            mapping = parse_account_map(account or [])
        except ValueError as exc:
            raise HTTPException(422, f"account {exc}") from None
        name = Path(file).name or "statement.csv"
        body = await request.body()

        def work() -> dict[str, Any]:
            require_deal(store, deal)
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / name
                path.write_bytes(body)
                results = import_statements(
                    store, deal, [path], account_map=mapping, actor=who.name, role=who.role
                )
            return reconcile_json(deal, results)

        return await run_in_threadpool(work)

    return app
