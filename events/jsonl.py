"""Event import and export as JSON lines (SPEC §5).

One event per line: ``{"deal_id", "type", "effective_date", "idempotency_key", "data"}`` and,
optionally, the envelope fields an export carries (``stream_id``, ``schema_version``,
``recorded_at``, ``actor``, ``role``, ``correlation_id``, ``causation_id``, ``hash``). An export
imported into an empty store reproduces every hash, so exporting again gives identical bytes.

Who: a line without ``actor`` and ``role`` is posted by the importer (an
:class:`~events.policy.Identity`); a line recorded by someone else is history being restored, which
only a trustee may do. Either way the store judges each event's role by the policy.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from events.envelope import NewEvent, RecordedEvent
from events.hashing import canonical_json
from events.model import UnknownEventType, event_class, load_event
from events.policy import Identity
from ledger.core.text import TextError, check_payload_text

REQUIRED = ("deal_id", "type", "effective_date", "idempotency_key", "data")
OPTIONAL = (
    "stream_id",
    "schema_version",
    "recorded_at",
    "actor",
    "role",
    "correlation_id",
    "causation_id",
    "hash",
)


@dataclass(frozen=True, slots=True)
class LineError:
    file: str
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.reason}"


class ImportRejected(Exception):
    """The file has errors; nothing of it was stored."""

    def __init__(self, errors: list[LineError]) -> None:
        self.errors = errors
        shown = "\n".join(str(e) for e in errors[:50])
        more = f"\n... and {len(errors) - 50} more" if len(errors) > 50 else ""
        super().__init__(f"{len(errors)} error(s), nothing imported:\n{shown}{more}")


@dataclass(frozen=True, slots=True)
class ImportLine:
    event: NewEvent
    expected_hash: str | None
    line: int


def _text(obj: dict[str, Any], name: str, problems: list[tuple[str, str]]) -> str | None:
    v = obj.get(name)
    if v is None:
        return None
    if not isinstance(v, str) or not v:
        problems.append((name, "must be a non-empty string"))
        return None
    return v


def parse_line(
    raw: str, who: Identity
) -> tuple[NewEvent | None, str | None, list[tuple[str, str]]]:
    """Parse one line into an event posted (or restored) by ``who``; returns (event, expected
    hash, [(field, reason)])."""
    problems: list[tuple[str, str]] = []
    try:
        obj = json.loads(raw, parse_float=lambda s: (_ for _ in ()).throw(ValueError(s)))
    except ValueError as exc:
        return None, None, [("(line)", f"not valid JSON or contains a float number: {exc}")]
    except RecursionError:
        return None, None, [("(line)", "nested too deeply to read")]
    if not isinstance(obj, dict):
        return None, None, [("(line)", "must be a JSON object")]
    try:
        check_payload_text(obj, "")
    except TextError as exc:
        field, _, reason = str(exc).partition(": ")
        return None, None, [(field.lstrip(".") or "(line)", reason)]
    for name in REQUIRED:
        if name not in obj:
            problems.append((name, "missing"))
    unknown = sorted(set(obj) - set(REQUIRED) - set(OPTIONAL))
    for name in unknown:
        problems.append((name, "unknown field"))
    if problems:
        return None, None, problems
    strings = {n: _text(obj, n, problems) for n in ("deal_id", "type", "idempotency_key")}
    optional = {
        n: _text(obj, n, problems)
        for n in ("stream_id", "actor", "role", "correlation_id", "causation_id", "hash")
    }
    try:
        effective = date.fromisoformat(obj["effective_date"])
    except (TypeError, ValueError):
        problems.append(("effective_date", f"{obj['effective_date']!r} is not an ISO date"))
        effective = None
    recorded_at = None
    if obj.get("recorded_at") is not None:
        try:
            recorded_at = datetime.fromisoformat(str(obj["recorded_at"]).replace("Z", "+00:00"))
        except ValueError:
            problems.append(("recorded_at", f"{obj['recorded_at']!r} is not an ISO timestamp"))
    if not isinstance(obj["data"], dict):
        problems.append(("data", "must be a JSON object"))
    version = obj.get("schema_version")
    type_name = strings["type"]
    if type_name is not None:
        try:
            cls = event_class(type_name)
        except UnknownEventType as exc:
            problems.append(("type", str(exc)))
        else:
            if version is None:
                version = cls.schema_version
            elif not isinstance(version, int) or version < 1:
                problems.append(("schema_version", f"{version!r} is not a positive integer"))
            if not problems:
                try:
                    model = load_event(type_name, version, obj["data"])
                except ValidationError as exc:
                    for err in exc.errors():
                        loc = ".".join(str(p) for p in err["loc"])
                        problems.append((f"data.{loc}" if loc else "data", err["msg"]))
                except ValueError as exc:
                    problems.append(("data", str(exc)))
                else:
                    if optional["stream_id"] is None:
                        optional["stream_id"] = model.default_stream()
    actor, role = optional["actor"], optional["role"]
    if (actor is None) != (role is None):
        problems.append(("actor" if actor is None else "role", "actor and role go together"))
    elif actor is not None and (actor, role) != (who.name, who.role) and who.role != "trustee":
        problems.append(
            ("actor", f"recorded by {actor} ({role}): only a trustee restores others' events")
        )
    if problems:
        return None, None, problems
    assert effective is not None and type_name is not None and isinstance(version, int)
    event = NewEvent(
        deal_id=strings["deal_id"] or "",
        stream_id=optional["stream_id"] or "deal",
        type=type_name,
        schema_version=version,
        data=obj["data"],
        effective_date=effective,
        idempotency_key=strings["idempotency_key"] or "",
        actor=actor or who.name,
        role=role or who.role,
        correlation_id=optional["correlation_id"],
        causation_id=optional["causation_id"],
        recorded_at=recorded_at,
        checked=True,
    )
    return event, optional["hash"], []


def read_jsonl(path: Path, who: Identity) -> list[ImportLine]:
    """Parse a whole file imported by ``who``; every bad line is reported (file, line, field,
    reason) at once."""
    errors: list[LineError] = []
    out: list[ImportLine] = []
    seen: dict[tuple[str, str], int] = {}
    with path.open("rb") as fh:
        for n, raw_bytes in enumerate(fh, start=1):
            try:
                raw = raw_bytes.decode("utf-8")
            except UnicodeDecodeError as exc:
                errors.append(
                    LineError(str(path), n, "(line)", f"not UTF-8 (byte {exc.start + 1})")
                )
                continue
            if not raw.strip():
                continue
            event, expected_hash, problems = parse_line(raw, who)
            errors.extend(LineError(str(path), n, f, r) for f, r in problems)
            if event is not None:
                key = (event.deal_id, event.idempotency_key)
                if key in seen:
                    errors.append(
                        LineError(
                            str(path),
                            n,
                            "idempotency_key",
                            f"{event.idempotency_key!r} repeats line {seen[key]}",
                        )
                    )
                seen[key] = n
                out.append(ImportLine(event, expected_hash, n))
    if errors:
        raise ImportRejected(errors)
    return out


def export_lines(events: Iterable[RecordedEvent]) -> Iterator[str]:
    for e in events:
        yield canonical_json(e.export()) + "\n"


def write_export(events: Iterable[RecordedEvent], out: IO[str]) -> int:
    n = 0
    for line in export_lines(events):
        out.write(line)
        n += 1
    return n
