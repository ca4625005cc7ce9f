"""Who calls the API: bearer tokens from a key file (``TOKEN NAME ROLE [DEALS]`` lines; only their
SHA-256 is held in memory), the caller they name, and the checks the routes depend on.

A caller is an :class:`~events.policy.Identity` (what the ledger records as actor and role) and
the deals it may see: all of them (``*``, the default) or a comma-separated list. A deal outside
that list is, to the caller, a deal that does not exist: 404, never listed. What a role may post
is the library's policy (:mod:`events.policy`); the routes that only post certain event types say
which, and refuse other roles up front with the policy's rule.

The key file is refused when others than its owner may read it (as ssh refuses a private key).
"""

import hashlib
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from events.policy import ROLES, Identity, Role, check_post

__all__ = ["ROLES", "Caller", "KeyFileError", "Role", "parse_keys", "read_keys"]

MIN_TOKEN_LENGTH = 16


@dataclass(frozen=True, slots=True)
class Caller:
    """Who presented a token: recorded as the ``actor`` and ``role`` of what they post, and the
    deals they may see (None: every deal)."""

    name: str
    role: Role
    deals: frozenset[str] | None = None

    @property
    def identity(self) -> Identity:
        return Identity(self.name, self.role)

    def may_read(self, deal: str) -> bool:
        return self.deals is None or deal in self.deals


class KeyFileError(ValueError):
    """A token file that cannot be used; the message names the file, line and reason."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _line(n: int, fields: list[str], source: str, errors: list[str]) -> tuple[str, Caller] | None:
    if len(fields) not in (3, 4):
        errors.append(
            f"{source}: line {n}: expected TOKEN NAME ROLE [DEALS], got {len(fields)} field(s)"
        )
        return None
    token, name, role = fields[:3]
    deals = None if len(fields) == 3 or fields[3] == "*" else frozenset(fields[3].split(","))
    bad = len(errors)
    if len(token) < MIN_TOKEN_LENGTH:
        errors.append(f"{source}: line {n}: token: shorter than {MIN_TOKEN_LENGTH} characters")
    if role not in ROLES:
        errors.append(f"{source}: line {n}: role: {role!r} is not one of {', '.join(ROLES)}")
        return None
    try:
        who = Identity.parse(f"{name}:{role}")
    except ValueError as exc:
        errors.append(f"{source}: line {n}: name: {exc}")
        return None
    if deals is not None and not all(deals):
        errors.append(f"{source}: line {n}: deals: an empty deal id in {fields[3]!r}")
    if len(errors) > bad:
        return None
    return digest(token), Caller(who.name, who.role, deals)


def parse_keys(text: str, source: str = "<keys>") -> dict[str, Caller]:
    """Token file lines ``TOKEN NAME ROLE [DEALS]`` (blank lines and ``#`` comments skipped) as a
    map from each token's SHA-256 to its caller. Every problem is reported at once; a token
    shorter than 16 characters, a repeated token, a name that is not a caller's name and an
    unknown role are refused."""
    out: dict[str, Caller] = {}
    errors: list[str] = []
    for n, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        parsed = _line(n, fields, source, errors)
        if parsed is None:
            continue
        if parsed[0] in out:
            errors.append(f"{source}: line {n}: token: the same token is on an earlier line")
        out[parsed[0]] = parsed[1]
    if errors:
        raise KeyFileError("\n".join(errors))
    if not out:
        raise KeyFileError(f"{source}: no token (lines of TOKEN NAME ROLE)")
    return out


def read_keys(path: Path) -> dict[str, Caller]:
    """:func:`parse_keys` of the file at ``path``, refused when its group or others may read or
    write it (``chmod 600``), when it is not a regular file, or when it is not UTF-8."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise KeyFileError(f"{path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        mode = os.fstat(fh.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise KeyFileError(f"{path}: not a regular file")
        if os.name == "posix" and mode & 0o077:
            raise KeyFileError(
                f"{path}: permissions {stat.S_IMODE(mode):04o} are too open: the tokens are "
                f"readable by others; chmod 600 {path}"
            )
        raw = fh.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KeyFileError(f"{path}: not UTF-8 (byte {exc.start + 1})") from None
    return parse_keys(text, str(path))


def keys_of(request: Request) -> Mapping[str, Caller]:
    """The token digests the app was created with."""
    keys: Mapping[str, Caller] = request.app.state.keys
    return keys


_bearer = HTTPBearer(auto_error=False, description="a token of the key file (`serve --keys`)")


def bearer_caller(request: Request) -> Caller | None:
    """The caller the request's bearer token names, if any (for error handlers)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return keys_of(request).get(digest(token.strip())) if scheme.lower() == "bearer" else None


def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The caller whose bearer token the request carries; 401 without a valid one."""
    found = keys_of(request).get(digest(credentials.credentials)) if credentials else None
    if found is None:
        raise HTTPException(401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})
    return found


def allow(*roles: Role, what: str = "do this") -> Callable[[Caller], Caller]:
    """A dependency that lets through a caller of one of ``roles``; 403 for the others."""

    def check(who: Annotated[Caller, Depends(caller)]) -> Caller:
        if who.role not in roles:
            raise HTTPException(403, f"role {who.role} may not {what} ({' or '.join(roles)} may)")
        return who

    return check


def posting(*types: str) -> Callable[[Caller], Caller]:
    """A dependency for a route that posts events of ``types``: a caller whose role the policy
    does not let post every one of them is refused up front (403 naming the rule; the library
    checks each event again when it is appended)."""

    def check(who: Annotated[Caller, Depends(caller)]) -> Caller:
        for t in types:
            check_post(who.role, t)
        return who

    return check


Reader = Annotated[Caller, Depends(allow("servicer", "trustee", "auditor", what="read"))]
Auditor = Annotated[Caller, Depends(allow("trustee", "auditor", what="verify"))]
Tapes = Annotated[Caller, Depends(posting("LoanBoarded", "PoolBoarded", "CollectionReceived"))]
DealLoader = Annotated[Caller, Depends(posting("DealDefined"))]
NotesIssuer = Annotated[Caller, Depends(posting("NotesIssued"))]
CycleRunner = Annotated[Caller, Depends(posting("WaterfallExecuted", "PeriodSealed"))]
Approver = Annotated[Caller, Depends(posting("CycleApproved"))]
Reconciler = Annotated[Caller, Depends(posting("BankStatementImported", "ReconciliationCompleted"))]
