"""Canonical form and SHA-256 hash chain of events (SPEC §2.2).

The hash of an event is ``sha256(header_json + "\\n" + data_json)``: both parts canonical JSON
(keys sorted, no insignificant white space, UTF-8, no floats). ``header_json`` is the array of the
envelope fields named by :data:`HEADER_FIELDS`, in that order: every field but the global position,
ending with ``prev_hash``, the hash of the previous event of the same deal (``GENESIS`` for the
first). Changing any field, removing an event or re-ordering events therefore breaks the chain
from that event on. The global position is left out so that an exported deal imported into
another store (with other deals) keeps its hashes.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Any

import orjson

GENESIS = "0" * 64


def check_no_floats(value: Any, path: str = "data") -> None:
    """Refuse floats anywhere in a payload that did not come from an event model."""
    if isinstance(value, float):
        raise TypeError(f"{path}: a float ({value!r}) in an event payload; use a decimal string")
    if isinstance(value, dict):
        for k, v in value.items():
            check_no_floats(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_no_floats(v, f"{path}[{i}]")


def canonical_bytes(value: Any) -> bytes:
    """Canonical JSON as UTF-8: sorted keys, compact separators, non-ASCII unescaped.

    Byte for byte what ``json.dumps(value, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False).encode()`` gives (a test pins this), produced by orjson for speed.
    Payloads never hold floats: models serialise money as decimal strings, and raw payloads are
    checked by :func:`check_no_floats` before they are written.
    """
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def canonical_json(value: Any) -> str:
    """:func:`canonical_bytes` as text."""
    return canonical_bytes(value).decode()


def timestamp_text(ts: datetime) -> str:
    """A recorded-at timestamp in its one canonical text form: UTC, microseconds, ``Z``."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


HEADER_FIELDS = (
    "event_id",
    "deal_id",
    "deal_seq",
    "stream_id",
    "stream_version",
    "type",
    "schema_version",
    "effective_date",
    "recorded_at",
    "actor",
    "role",
    "idempotency_key",
    "correlation_id",
    "causation_id",
    "prev_hash",
)
"""The envelope fields a hash covers, in the order of the header array."""


def header_values(
    event_id: str,
    deal_id: str,
    deal_seq: int,
    stream_id: str,
    stream_version: int,
    event_type: str,
    schema_version: int,
    effective_date: date,
    recorded_at: str,
    actor: str,
    role: str,
    idempotency_key: str,
    correlation_id: str | None,
    causation_id: str | None,
    prev_hash: str,
) -> tuple[Any, ...]:
    """The header array: :data:`HEADER_FIELDS` in order, the date ISO and ``recorded_at`` as
    :func:`timestamp_text`. Positional, because it runs once per event appended or verified."""
    return (
        event_id,
        deal_id,
        deal_seq,
        stream_id,
        stream_version,
        event_type,
        schema_version,
        effective_date.isoformat(),
        recorded_at,
        actor,
        role,
        idempotency_key,
        correlation_id,
        causation_id,
        prev_hash,
    )


def chain_hash(header: tuple[Any, ...], data_json: bytes) -> str:
    """The event's hash from its header array and its canonical payload bytes."""
    return hashlib.sha256(canonical_bytes(header) + b"\n" + data_json).hexdigest()
