"""Event types: frozen pydantic models in a registry, with schema versions and upcasters.

SPEC §4: each type is a pydantic model with a schema version; old versions are upcast on read.
An event type declares ``type_name`` and ``schema_version``; an upcaster turns the stored payload of
version ``n`` into the payload of version ``n + 1``. Stored payloads are never rewritten: upcasting
happens on every read, so the hash chain always covers what was written.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from ledger.core.journal import JournalEntry

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


class UnknownEventType(LookupError):
    """A stored or submitted event names a type that is not registered."""


class Event(BaseModel):
    """Base of every event payload. Subclasses are registered with :func:`event_type`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type_name: ClassVar[str] = ""
    schema_version: ClassVar[int] = 1

    def entries(self) -> tuple[JournalEntry, ...]:
        """The balanced journal entries this event posts (none for non-cash events)."""
        return ()

    def legs(self) -> list[tuple[str, Decimal]]:
        """Every posting of :meth:`entries` as (account, amount): what the balance projection
        folds. Hot event types override it to skip building the entry models."""
        return [(p.account, p.amount) for e in self.entries() for p in e.postings]

    def default_stream(self) -> str:
        """The stream an event of this kind belongs to when the writer names none."""
        return "deal"

    def payload(self) -> Payload:
        """The JSON payload as stored (money as decimal strings, dates ISO)."""
        return self.model_dump(mode="json")


E = TypeVar("E", bound=type[Event])

_TYPES: dict[str, type[Event]] = {}
_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def event_type(name: str, version: int = 1) -> Callable[[E], E]:
    """Class decorator registering an event type under ``name`` at schema ``version``."""

    def register(cls: E) -> E:
        if name in _TYPES and _TYPES[name] is not cls:
            raise ValueError(f"event type {name!r} registered twice")
        cls.type_name = name
        cls.schema_version = version
        _TYPES[name] = cls
        return cls

    return register


def upcaster(name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function turning a ``name`` payload of ``from_version`` into the next version."""

    def register(fn: Upcaster) -> Upcaster:
        _UPCASTERS[(name, from_version)] = fn
        return fn

    return register


def event_class(name: str) -> type[Event]:
    try:
        return _TYPES[name]
    except KeyError:
        raise UnknownEventType(f"unknown event type {name!r}") from None


def registered_types() -> dict[str, type[Event]]:
    return dict(sorted(_TYPES.items()))


def upcast(name: str, version: int, data: Payload) -> Payload:
    """The payload brought from ``version`` up to the type's current schema version."""
    current = event_class(name).schema_version
    if version > current:
        raise ValueError(f"{name} schema version {version} is newer than this code ({current})")
    while version < current:
        try:
            fn = _UPCASTERS[(name, version)]
        except KeyError:
            raise ValueError(f"no upcaster for {name} from schema version {version}") from None
        data = fn(data)
        version += 1
    return data


def load_event(name: str, version: int, data: Payload) -> Event:
    """Validate a stored payload (upcast first) into its event model."""
    return event_class(name).model_validate(upcast(name, version, data))


def json_schemas() -> dict[str, Any]:
    """JSON Schema of every registered event type, keyed by type name."""
    out: dict[str, Any] = {}
    for name, cls in registered_types().items():
        schema = cls.model_json_schema(mode="validation")
        schema["x-schema-version"] = cls.schema_version
        out[name] = schema
    return out
