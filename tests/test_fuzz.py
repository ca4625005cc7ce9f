"""Property tests over inputs from outside (issue 14 item 4): the tape parser, the statement
parsers (SPEC §6 CSV and camt.053), the deal loader and the events importer each accept an input
or refuse it with their named error (file, row or line, field, reason); no other exception ever
escapes. Inputs are random bytes and text, and well-formed files with random mutations (a field
replaced, a byte flipped, lines cut, repeated or swapped), which reach far deeper than noise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.jsonl import parse_line
from events.policy import Identity
from ledger.audit.statement_model import StatementRejected
from ledger.audit.statements import parse_statement
from ledger.deal.loader import DealValidationError, load_deal_text
from ledger.servicing.imports import tape_kind
from ledger.servicing.tape_formats import TapeRejected
from ledger.servicing.tape_parse import parse_boarding_tape, parse_servicer_tape
from tests.test_boarding import GOOD_TAPE
from tests.test_servicer_import import HAPPY

DATA = Path(__file__).parent / "data"
CAMT = (DATA / "camt053_v02_collections.xml").read_bytes()
STATEMENT = (
    b"account,value_date,amount,reference,balance_after\n"
    b"trust:collections,2021-07-01,1000.00,R1,1000.00\n"
    b"trust:collections,2021-07-02,-250.50,R2,749.50\n"
)
DEAL_TEXT = (Path(__file__).parents[1] / "ledger" / "deals" / "004_byd_2021_2.yaml").read_text(
    encoding="utf-8"
)
EXPORT_LINE = (
    '{"deal_id":"D","type":"CollectionReceived","effective_date":"2021-07-15",'
    '"idempotency_key":"k1","actor":"s","role":"servicer","data":{"loan_id":"L1",'
    '"value_date":"2021-07-15","principal":"1.00","interest":"0.50"}}'
)
WHO = Identity("fuzzer", "trustee")
NASTY = st.sampled_from(
    ["", "\x00", "\r", "\r\n", '"', ",", "1e308", "-1", "NaN", "9" * 50, "2021-02-30", "é",
     "\ufeff", "\u202e", "\\", "{", "[", "<", "&#0;", "0.001", " ", "true", "null"]
)  # fmt: skip
FUZZ = settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mutated(draw: Any, original: bytes) -> bytes:
    """``original`` with a few random edits: bytes flipped or inserted, a field or a line
    replaced, lines dropped, repeated or swapped."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.integers(0, 4))
        if kind == 0 and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        elif kind == 1:
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(max_size=8))
        elif kind == 2:
            text = bytes(data).split(b",")
            if len(text) > 1:
                i = draw(st.integers(0, len(text) - 1))
                text[i] = draw(NASTY).encode("utf-8", "surrogatepass")
                data = bytearray(b",".join(text))
        else:
            lines = bytes(data).split(b"\n")
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if kind == 3:
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines.insert(i, lines[j]) if draw(st.booleans()) else lines.pop(i)
            data = bytearray(b"\n".join(lines))
    return bytes(data)


def _tape(data: bytes) -> None:
    try:
        kind = tape_kind(data)
        if kind == "boarding":
            parse_boarding_tape(data, "t.csv")
        else:
            parse_servicer_tape(data, "t.csv")
    except TapeRejected as exc:
        assert exc.errors and all(e.file in ("t.csv", "<bytes>") for e in exc.errors)
        assert all(e.reason for e in exc.errors)


@FUZZ
@given(st.one_of(st.binary(max_size=400), mutated(GOOD_TAPE), mutated(HAPPY)))
def test_tape_parser_accepts_or_names_the_error(data: bytes) -> None:
    _tape(data)


def _statement(data: bytes, name: str) -> None:
    try:
        parse_statement(data, name)
    except StatementRejected as exc:
        assert exc.errors and all(e.file == name and e.reason for e in exc.errors)


@FUZZ
@given(st.one_of(st.binary(max_size=400), mutated(STATEMENT)))
def test_statement_csv_parser_accepts_or_names_the_error(data: bytes) -> None:
    _statement(data, "s.csv")


@FUZZ
@given(mutated(CAMT))
def test_camt053_parser_accepts_or_names_the_error(data: bytes) -> None:
    _statement(data, "s.xml")


@FUZZ
@given(st.one_of(st.text(max_size=300), mutated(DEAL_TEXT.encode())))
def test_deal_loader_accepts_or_names_the_error(data: str | bytes) -> None:
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    try:
        load_deal_text(text, "d.yaml")
    except DealValidationError as exc:
        assert exc.problems and str(exc).startswith("d.yaml")


@FUZZ
@given(st.one_of(st.text(max_size=300), mutated(EXPORT_LINE.encode())))
def test_events_importer_accepts_or_names_the_error(data: str | bytes) -> None:
    line = data if isinstance(data, str) else data.decode("utf-8", "replace")
    event, _, problems = parse_line(line, WHO)
    assert (event is None) == bool(problems)
    assert all(field and reason for field, reason in problems)
    if event is not None:
        event.validate()
