"""Request bodies read before the app sees them: a size limit per endpoint and a read timeout.

A pure ASGI middleware. A declared ``Content-Length`` over the route's limit is refused at once
(413) without reading the body; a body sent in chunks is counted as it comes and refused as soon
as it passes the limit; a client that sends nothing for ``idle_timeout`` seconds, or has not sent
the whole body after ``total_timeout``, gets 408. The app then reads the body from memory, so a
slow client never holds a database connection or a worker thread. A request without a body
(no ``Content-Length``, no ``Transfer-Encoding``: every read) passes straight through.
"""

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

KIB, MIB = 1 << 10, 1 << 20


@dataclass(frozen=True)
class BodyLimit:
    method: str
    path: re.Pattern[str]
    max_bytes: int
    what: str


DEFAULT_LIMITS: tuple[BodyLimit, ...] = (
    BodyLimit("POST", re.compile(r"/deals/[^/]+/tapes"), 512 * MIB, "a tape"),
    BodyLimit("POST", re.compile(r"/deals/[^/]+/statements"), 64 * MIB, "a statement"),
    BodyLimit("POST", re.compile(r"/deals"), 4 * MIB, "a deal file"),
)
"""Per endpoint (first match): a 100,000-loan servicer tape is some 15 MiB, a year of a trust
account's camt.053 a few MiB, the largest seed deal file 40 KiB."""
OTHER_LIMIT = 64 * KIB
"""Every other request (JSON bodies of a few hundred bytes, reads with none)."""


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestLimits:
    """See the module. ``limits`` are tried in order; ``other`` bounds everything else."""

    def __init__(
        self,
        app: ASGIApp,
        limits: Sequence[BodyLimit] = DEFAULT_LIMITS,
        other: int = OTHER_LIMIT,
        idle_timeout: float = 30.0,
        total_timeout: float = 600.0,
    ) -> None:
        self.app, self.limits, self.other = app, limits, other
        self.idle_timeout, self.total_timeout = idle_timeout, total_timeout

    def _limit(self, method: str, path: str) -> tuple[int, str]:
        for rule in self.limits:
            if rule.method == method and rule.path.fullmatch(path):
                return rule.max_bytes, rule.what
        return self.other, "the request body"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is None and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body (HTTP/1.1 §6.3): a read, as is
            return
        limit, what = self._limit(scope["method"], scope["path"])
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse(send, 413, f"{what} is limited to {limit} bytes on {scope['path']}")
            return
        try:
            body = await asyncio.wait_for(self._read(receive, limit), self.total_timeout)
        except TimeoutError:
            await _refuse(send, 408, "the request body did not arrive in time")
            return
        except _TooLarge:
            await _refuse(send, 413, f"{what} is limited to {limit} bytes on {scope['path']}")
            return
        except _Disconnected:
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: the disconnect, when it comes

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await asyncio.wait_for(receive(), self.idle_timeout)
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass
