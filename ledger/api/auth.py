"""Who calls the API: bearer tokens from a key file (``TOKEN NAME ROLE`` lines; only their SHA-256
is held in memory), the caller they name, and the role checks the routes depend on."""

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Literal, get_args

from fastapi import Depends, Header, HTTPException, Request

Role = Literal["servicer", "trustee", "auditor"]
ROLES: tuple[Role, ...] = get_args(Role)
MIN_TOKEN_LENGTH = 16


@dataclass(frozen=True, slots=True)
class Caller:
    """Who presented a token: recorded as the ``actor`` and ``role`` of what they post."""

    name: str
    role: Role


class KeyFileError(ValueError):
    """A token file that cannot be used; the message names the file, line and reason."""


def digest(token: str) -> str:
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
        if digest(token) in out:
            errors.append(f"{source}: line {n}: token: the same token is on an earlier line")
        out[digest(token)] = Caller(name, role)
    if errors:
        raise KeyFileError("\n".join(errors))
    if not out:
        raise KeyFileError(f"{source}: no token (lines of TOKEN NAME ROLE)")
    return out


def keys_of(request: Request) -> Mapping[str, Caller]:
    """The token digests the app was created with."""
    keys: Mapping[str, Caller] = request.app.state.keys
    return keys


def caller(request: Request, authorization: Annotated[str | None, Header()] = None) -> Caller:
    """The caller whose bearer token the request carries; 401 without a valid one."""
    scheme, _, token = (authorization or "").partition(" ")
    found = keys_of(request).get(digest(token.strip())) if scheme.lower() == "bearer" else None
    if found is None:
        raise HTTPException(401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})
    return found


def allow(*roles: Role) -> Callable[[Caller], Caller]:
    """A dependency that lets through a caller of one of ``roles``; 403 for the others."""

    def check(who: Annotated[Caller, Depends(caller)]) -> Caller:
        if who.role not in roles:
            raise HTTPException(403, f"role {who.role} may not do this ({', '.join(roles)} may)")
        return who

    return check


Reader = Annotated[Caller, Depends(allow("servicer", "trustee", "auditor"))]
Auditor = Annotated[Caller, Depends(allow("trustee", "auditor"))]
Servicer = Annotated[Caller, Depends(allow("servicer"))]
Poster = Annotated[Caller, Depends(allow("servicer", "trustee"))]
Trustee = Annotated[Caller, Depends(allow("trustee"))]
