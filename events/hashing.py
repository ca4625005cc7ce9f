"""Canonical form and SHA-256 hash chain of events (SPEC §2.2).

The hash of an event is ``sha256(header_json + "\\n" + data_json)`` where both parts are canonical
JSON (keys sorted, no insignificant white space, UTF-8, no floats) and ``header_json`` holds every
envelope field except the global position, including ``prev_hash``: the hash of the previous event
of the same deal (``GENESIS`` for the first). Changing any field, removing an event or re-ordering
events therefore breaks the chain from that event on. The global position is left out so that an
exported deal imported into another store (with other deals) keeps its hashes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

GENESIS = "0" * 64


def _no_floats(value: Any, path: str = "data") -> None:
    if isinstance(value, float):
        raise TypeError(f"{path}: float {value!r} in event payload; use a decimal string")
    if isinstance(value, dict):
        for k, v in value.items():
            _no_floats(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _no_floats(v, f"{path}[{i}]")


def canonical_json(value: Any) -> str:
    """Canonical JSON text: sorted keys, compact separators, non-ASCII kept, floats refused."""
    _no_floats(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def timestamp_text(ts: datetime) -> str:
    """A recorded-at timestamp in its one canonical text form: UTC, microseconds, ``Z``."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def header_fields(
    *,
    event_id: str,
    deal_id: str,
    deal_seq: int,
    stream_id: str,
    stream_version: int,
    event_type: str,
    schema_version: int,
    effective_date: date,
    recorded_at: datetime,
    actor: str,
    role: str,
    idempotency_key: str,
    correlation_id: str | None,
    causation_id: str | None,
    prev_hash: str,
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "deal_id": deal_id,
        "deal_seq": deal_seq,
        "stream_id": stream_id,
        "stream_version": stream_version,
        "type": event_type,
        "schema_version": schema_version,
        "effective_date": effective_date.isoformat(),
        "recorded_at": timestamp_text(recorded_at),
        "actor": actor,
        "role": role,
        "idempotency_key": idempotency_key,
        "correlation_id": correlation_id,
        "causation_id": causation_id,
        "prev_hash": prev_hash,
    }


def chain_hash(header: Mapping[str, Any], data_json: str) -> str:
    """The event's hash from its header fields and its canonical payload text."""
    digest = hashlib.sha256(canonical_json(dict(header)).encode())
    digest.update(b"\n")
    digest.update(data_json.encode())
    return digest.hexdigest()
