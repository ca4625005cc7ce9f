"""Writing tapes as CSV in the pinned column order (the simulator's and the demo's tapes)."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from ledger.servicing.tape_formats import (
    BOARDING_COLUMNS,
    SERVICER_COLUMNS,
    BoardingRow,
    ServicerRow,
)

# --- writing --------------------------------------------------------------------------------------


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _extra_columns(rows: Iterable[BoardingRow | ServicerRow], pinned: tuple[str, ...]) -> list[str]:
    names: dict[str, None] = {}
    for row in rows:
        for name in row.extra:
            if name not in pinned:
                names.setdefault(name)
    return list(names)


def _format(
    rows: Sequence[BoardingRow] | Sequence[ServicerRow], pinned: tuple[str, ...]
) -> Iterator[str]:
    extra = _extra_columns(rows, pinned)
    buffer = io.StringIO()
    # RFC 4180 line ends: with "\r\n" as terminator the writer also quotes fields holding a bare
    # "\r", which a "\n" terminator would leave unquoted (and the reader would split the record)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*pinned, *extra])
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        d = row.__dict__
        writer.writerow([_text(d[c]) for c in pinned] + [row.extra.get(name, "") for name in extra])
        yield buffer.getvalue()


def format_boarding_csv(rows: Sequence[BoardingRow]) -> str:
    """The boarding tape as CSV text: the SPEC §6 columns in order, then any extra columns."""
    return "".join(_format(rows, BOARDING_COLUMNS))


def format_servicer_csv(rows: Sequence[ServicerRow]) -> str:
    """The servicer tape as CSV text: the SPEC §6 columns in order, then any extra columns."""
    return "".join(_format(rows, SERVICER_COLUMNS))


def _write(chunks: Iterable[str], path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("w", encoding="utf-8", newline="") as out:
        for chunk in chunks:
            out.write(chunk)
            digest.update(chunk.encode("utf-8"))
    return digest.hexdigest()


def write_boarding_csv(rows: Sequence[BoardingRow], path: str | Path) -> str:
    """Write a boarding tape (UTF-8, RFC 4180 ``\\r\\n`` line ends); returns its SHA-256."""
    return _write(_format(rows, BOARDING_COLUMNS), path)


def write_servicer_csv(rows: Sequence[ServicerRow], path: str | Path) -> str:
    """Write a servicer tape (UTF-8, RFC 4180 ``\\r\\n`` line ends); returns its SHA-256."""
    return _write(_format(rows, SERVICER_COLUMNS), path)
