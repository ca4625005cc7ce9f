"""Import a tape of either kind (SPEC §5 ``tape import``): the kind is told from the header line,
then :func:`~ledger.servicing.boarding.board_pool` or
:func:`~ledger.servicing.servicer_import.import_servicer_tape` does the work.

The I/O edge of the servicing work (SPEC §4-§6): each import reads what it needs from the store,
runs the pure checks of the tape modules and :mod:`ledger.deal.pool_rules` and appends one atomic
batch. Nothing is stored when anything is wrong; a rejection lists every problem as (file, row,
field, reason) (:class:`~ledger.servicing.tape_formats.TapeRejected`)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from ledger.servicing.boarding import board_pool
from ledger.servicing.results import ImportResult, Step, TapeKind, no_step
from ledger.servicing.servicer_import import import_servicer_tape
from ledger.servicing.tape_formats import (
    BOARDING_COLUMNS,
    SERVICER_COLUMNS,
    TapeError,
    TapeRejected,
    sniff_tape_kind,
)
from projections.store import ProjectedStore

# ---------------------------------------------------------------------------------- tapes


def tape_kind(source: str | Path | bytes) -> TapeKind:
    """Boarding or servicer tape, from the header line
    (:func:`ledger.servicing.tape_formats.sniff_tape_kind`)."""
    if isinstance(source, bytes):
        head = source[:65536]
    else:
        with Path(source).open("rb") as fh:
            head = fh.read(65536)
    line = head.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    name = "<bytes>" if isinstance(source, bytes) else str(source)
    bare_cr = line.rstrip("\r").find("\r")
    if bare_cr >= 0:
        raise TapeRejected(
            [
                TapeError(
                    name, 1, "", f"the header line holds a bare carriage return (character "
                    f"{bare_cr + 1}): lines end with LF or CRLF",
                )
            ]
        )  # fmt: skip
    kind = sniff_tape_kind(line)
    if kind is None:
        raise TapeRejected(
            [
                TapeError(
                    name,
                    1,
                    "",
                    "header is neither a boarding tape ("
                    + ", ".join(BOARDING_COLUMNS)
                    + ") nor a servicer tape ("
                    + ", ".join(SERVICER_COLUMNS)
                    + ")",
                )
            ]
        )
    return kind


def import_tape(
    store: ProjectedStore,
    deal_id: str,
    source: str | Path | bytes,
    *,
    file: str | None = None,
    period: tuple[date, date] | None = None,
    actor: str = "servicer",
    role: str = "servicer",
    step: Step = no_step,
) -> ImportResult:
    """Import a boarding or a servicer tape, whichever the header says; ``step`` is called with
    each of :data:`IMPORT_STAGES` as it is done."""
    if tape_kind(source) == "boarding":
        return board_pool(store, deal_id, source, file=file, actor=actor, role=role, step=step)
    return import_servicer_tape(
        store, deal_id, source, file=file, period=period, actor=actor, role=role, step=step
    )
