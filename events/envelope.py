"""Envelopes: what a writer submits (`NewEvent`) and what the store returns (`RecordedEvent`)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

from events.hashing import canonical_json, timestamp_text
from events.model import Event, Payload, load_event, upcast

EVENT_ID_NAMESPACE = uuid.UUID("4b7c3f0e-5d1a-4f57-9a53-2f0c6e1d8a10")


_NAMESPACE_BYTES = EVENT_ID_NAMESPACE.bytes
_VARIANT = {f"{i:x}": f"{(i & 0x3) | 0x8:x}" for i in range(16)}


def event_id_for(deal_id: str, idempotency_key: str) -> str:
    """Deterministic event id: the same deal and idempotency key always name the same event.

    It is ``uuid5(EVENT_ID_NAMESPACE, deal_id + "\\x1f" + idempotency_key)``, built directly from
    the SHA-1 digest (RFC 4122 §4.3) because ``uuid.uuid5`` dominates bulk appends otherwise.
    """
    name = f"{deal_id}\x1f{idempotency_key}".encode()
    x = hashlib.sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).hexdigest()
    # version 5 in the 13th hex digit; RFC 4122 variant (10xx) in the 17th
    return f"{x[:8]}-{x[8:12]}-5{x[13:16]}-{_VARIANT[x[16]]}{x[17:20]}-{x[20:32]}"


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append: envelope plus payload at ``schema_version``.

    Build it with :meth:`of` from an event model; the raw form (``checked=False``) is for imports of
    exported history, whose payloads the store validates (after upcasting) before writing them as
    they were. ``recorded_at`` is set only when restoring exported history.
    """

    deal_id: str
    stream_id: str
    type: str
    schema_version: int
    data: Payload
    effective_date: date
    idempotency_key: str
    actor: str = "system"
    role: str = "system"
    correlation_id: str | None = None
    causation_id: str | None = None
    recorded_at: datetime | None = None
    checked: bool = False
    model: Event | None = field(default=None, compare=False, repr=False)
    """The validated event when built with :meth:`of` (saves parsing it again to project it)."""

    @classmethod
    def of(
        cls,
        event: Event,
        *,
        deal_id: str,
        stream_id: str,
        effective_date: date,
        idempotency_key: str,
        actor: str = "system",
        role: str = "system",
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> NewEvent:
        return cls(
            deal_id=deal_id,
            stream_id=stream_id,
            type=event.type_name,
            schema_version=event.schema_version,
            data=event.payload(),
            effective_date=effective_date,
            idempotency_key=idempotency_key,
            actor=actor,
            role=role,
            correlation_id=correlation_id,
            causation_id=causation_id,
            checked=True,
            model=event,
        )

    @property
    def event_id(self) -> str:
        return event_id_for(self.deal_id, self.idempotency_key)

    def validate(self) -> Event:
        """The payload as its (upcast) model; raises if it is not a valid event."""
        return load_event(self.type, self.schema_version, self.data)


class RecordedEvent(NamedTuple):
    """An event as stored: envelope, raw payload (as written, before upcasting) and hashes.

    A named tuple: immutable, and built several times faster than a frozen dataclass, which
    matters when millions are replayed. ``model_cache`` holds the parsed payload model once
    :attr:`event` has been asked for (or the writer's model, on append).
    """

    position: int
    event_id: str
    deal_id: str
    deal_seq: int
    stream_id: str
    stream_version: int
    type: str
    schema_version: int
    effective_date: date
    recorded_at: datetime
    actor: str
    role: str
    idempotency_key: str
    correlation_id: str | None
    causation_id: str | None
    data: Payload
    prev_hash: str
    hash: str
    model_cache: list[Event]

    @property
    def event(self) -> Event:
        """The payload validated into its (upcast) event model, parsed once."""
        cache = self.model_cache
        if not cache:
            cache.append(load_event(self.type, self.schema_version, self.data))
        return cache[0]

    def same_content(self, new: NewEvent) -> bool:
        """Whether a retry carries the same event as this one (idempotency, SPEC §2.6)."""
        return (
            self.type == new.type
            and self.stream_id == new.stream_id
            and self.effective_date == new.effective_date
            and canonical_json(upcast(self.type, self.schema_version, self.data))
            == canonical_json(upcast(new.type, new.schema_version, new.data))
        )

    def export(self) -> dict[str, Any]:
        """The export line (SPEC §5): enough to restore the event with the same hash."""
        return {
            "deal_id": self.deal_id,
            "type": self.type,
            "schema_version": self.schema_version,
            "effective_date": self.effective_date.isoformat(),
            "idempotency_key": self.idempotency_key,
            "stream_id": self.stream_id,
            "recorded_at": timestamp_text(self.recorded_at),
            "actor": self.actor,
            "role": self.role,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "data": self.data,
            "hash": self.hash,
        }
