"""The formula language's syntax: values, the AST, the tokenizer and the recursive-descent
parser."""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

Value = Decimal | bool | dt.date
Kind = Literal["number", "bool", "date"]
InferredKind = Literal["number", "bool", "date", "span"]

RATING_SCALE: tuple[str, ...] = (
    "AAA", "AA+", "AA", "AA-", "A+", "A", "A-", "BBB+", "BBB", "BBB-",
    "BB+", "BB", "BB-", "B+", "B", "B-", "CCC", "CC", "C", "D",
)  # fmt: skip
"""Long-term grades best first (CCXI / CBR / CSCI Pengyuan use the same symbols)."""


class ExprError(ValueError):
    """A formula outside the grammar, with an unknown name, or that cannot be evaluated."""

    def __init__(self, message: str, position: int | None = None, path: str | None = None) -> None:
        self.reason = message
        self.position = position
        self.path = path
        """YAML path of the deal formula that failed (the innermost one), where known."""
        where = f" at column {position + 1}" if position is not None else ""
        super().__init__(f"{message}{where}")


def rating_rank(grade: str | None) -> Decimal:
    """Rank of a grade, higher is better; ``None`` (unrated) ranks below every grade."""
    if grade is None:
        return Decimal(0)
    g = grade.strip()
    if g.lower().endswith("sf"):
        g = g[:-2]
    if g not in RATING_SCALE:
        raise ExprError(f"unknown rating grade {grade!r}")
    return Decimal(len(RATING_SCALE) - RATING_SCALE.index(g))


# --- AST -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expr:
    """Base of every node; ``pos`` is the 0-based offset in the source text."""

    pos: int

    def names(self) -> frozenset[str]:
        """Every metric name the expression reads."""
        return frozenset()


@dataclass(frozen=True)
class Num(Expr):
    value: Decimal


@dataclass(frozen=True)
class Bool(Expr):
    value: bool


@dataclass(frozen=True)
class DateLit(Expr):
    value: dt.date


@dataclass(frozen=True)
class Span(Expr):
    """``months(n)`` or ``days(n)``."""

    unit: Literal["months", "days"]
    count: Expr

    def names(self) -> frozenset[str]:
        return self.count.names()


@dataclass(frozen=True)
class Name(Expr):
    name: str

    def names(self) -> frozenset[str]:
        return frozenset({self.name})


@dataclass(frozen=True)
class Unary(Expr):
    op: Literal["-", "+", "not"]
    operand: Expr

    def names(self) -> frozenset[str]:
        return self.operand.names()


@dataclass(frozen=True)
class Binary(Expr):
    op: Literal["+", "-", "*", "/", "<", "<=", ">", ">=", "==", "!=", "and", "or"]
    left: Expr
    right: Expr

    def names(self) -> frozenset[str]:
        return self.left.names() | self.right.names()


FuncName = Literal["max", "min", "if", "ceil_fen", "floor_fen"]
FUNCTIONS: tuple[str, ...] = ("max", "min", "if", "ceil_fen", "floor_fen")
ROUNDING_FUNCTIONS: tuple[str, ...] = ("ceil_fen", "floor_fen")
"""One-argument functions rounding a number to the fen: ``ceil_fen`` towards the larger amount
(a floor such as "no less than 5%" then holds), ``floor_fen`` towards the smaller one (a cap
such as "no more than" then holds)."""


@dataclass(frozen=True)
class Call(Expr):
    func: FuncName
    args: tuple[Expr, ...]

    def names(self) -> frozenset[str]:
        out: frozenset[str] = frozenset()
        for a in self.args:
            out |= a.names()
        return out


# --- tokenizer -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tok:
    kind: Literal["num", "name", "rating", "op", "end"]
    text: str
    pos: int


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
  | (?P<rating>'[^'\n]*'|"[^"\n]*")
  | (?P<op><=|>=|==|!=|[-+*/<>(),%])
    """,
    re.VERBOSE,
)

_KEYWORDS = frozenset({"and", "or", "not", "true", "false", *FUNCTIONS})
_MAX_LENGTH = 2000


def _tokenize(text: str) -> list[_Tok]:
    if len(text) > _MAX_LENGTH:
        raise ExprError(f"formula longer than {_MAX_LENGTH} characters", 0)
    out: list[_Tok] = []
    i = 0
    while i < len(text):
        m = _TOKEN.match(text, i)
        if m is None:
            raise ExprError(f"unexpected character {text[i]!r}", i)
        kind = m.lastgroup
        tok = m.group()
        if kind == "name":
            for seg_start, seg in _segments(tok, i):
                if seg.startswith("_"):
                    raise ExprError(f"name segment {seg!r} may not start with '_'", seg_start)
                if seg[0].isdigit() and seg_start == i:
                    raise ExprError(f"bad name {tok!r}", i)
            out.append(_Tok("name", tok, i))
        elif kind == "num":
            end = m.end()
            if end < len(text) and (text[end].isalpha() or text[end] in "_."):
                raise ExprError(f"bad number {text[i : end + 1]!r}", i)
            out.append(_Tok("num", tok, i))
        elif kind == "rating":
            out.append(_Tok("rating", tok[1:-1], i))
        elif kind == "op":
            out.append(_Tok("op", tok, i))
        i = m.end()
    out.append(_Tok("end", "", len(text)))
    return out


def _segments(name: str, start: int) -> list[tuple[int, str]]:
    out = []
    offset = start
    for seg in name.split("."):
        out.append((offset, seg))
        offset += len(seg) + 1
    return out


# --- parser ----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> _Tok:
        tok = self.take()
        if tok.kind != "op" or tok.text != text:
            found = tok.text or "end of formula"
            raise ExprError(f"expected {text!r}, found {found!r}", tok.pos)
        return tok

    def is_op(self, *texts: str) -> bool:
        tok = self.peek()
        return tok.kind == "op" and tok.text in texts

    def is_word(self, *words: str) -> bool:
        tok = self.peek()
        return tok.kind == "name" and tok.text in words

    def parse(self) -> Expr:
        if self.peek().kind == "end":
            raise ExprError("empty formula", 0)
        node = self.or_()
        tok = self.peek()
        if tok.kind != "end":
            raise ExprError(f"unexpected {tok.text!r}", tok.pos)
        return node

    def or_(self) -> Expr:
        node = self.and_()
        while self.is_word("or"):
            tok = self.take()
            node = Binary(tok.pos, "or", node, self.and_())
        return node

    def and_(self) -> Expr:
        node = self.not_()
        while self.is_word("and"):
            tok = self.take()
            node = Binary(tok.pos, "and", node, self.not_())
        return node

    def not_(self) -> Expr:
        if self.is_word("not"):
            tok = self.take()
            return Unary(tok.pos, "not", self.not_())
        return self.compare()

    def compare(self) -> Expr:
        node = self.sum_()
        if self.is_op("<", "<=", ">", ">=", "==", "!="):
            tok = self.take()
            op: Literal["<", "<=", ">", ">=", "==", "!="] = tok.text  # type: ignore[assignment]
            node = Binary(tok.pos, op, node, self.sum_())
            if self.is_op("<", "<=", ">", ">=", "==", "!="):
                raise ExprError("chained comparisons are not allowed", self.peek().pos)
        return node

    def sum_(self) -> Expr:
        node = self.product()
        while self.is_op("+", "-"):
            tok = self.take()
            op: Literal["+", "-"] = tok.text  # type: ignore[assignment]
            node = Binary(tok.pos, op, node, self.product())
        return node

    def product(self) -> Expr:
        node = self.unary()
        while self.is_op("*", "/"):
            tok = self.take()
            op: Literal["*", "/"] = tok.text  # type: ignore[assignment]
            node = Binary(tok.pos, op, node, self.unary())
        return node

    def unary(self) -> Expr:
        if self.is_op("-", "+"):
            tok = self.take()
            op: Literal["-", "+"] = tok.text  # type: ignore[assignment]
            return Unary(tok.pos, op, self.unary())
        return self.atom()

    def atom(self) -> Expr:
        tok = self.take()
        if tok.kind == "num":
            value = Decimal(tok.text)
            if self.is_op("%"):
                self.take()
                value = value / 100
            return Num(tok.pos, value)
        if tok.kind == "rating":
            try:
                return Num(tok.pos, rating_rank(tok.text))
            except ExprError:
                raise ExprError(f"string {tok.text!r} is not a rating grade", tok.pos) from None
        if tok.kind == "op" and tok.text == "(":
            node = self.or_()
            self.expect(")")
            return node
        if tok.kind == "name":
            if tok.text in ("true", "false"):
                return Bool(tok.pos, tok.text == "true")
            if tok.text in FUNCTIONS:
                return self.call(tok)
            if tok.text == "date" and self.is_op("("):
                return self.date_literal(tok)
            if tok.text in ("months", "days") and self.is_op("("):
                self.take()
                count = self.or_()
                self.expect(")")
                unit: Literal["months", "days"] = tok.text  # type: ignore[assignment]
                return Span(tok.pos, unit, count)
            if tok.text in _KEYWORDS:
                raise ExprError(f"unexpected keyword {tok.text!r}", tok.pos)
            if self.is_op("("):
                raise ExprError(f"unknown function {tok.text!r}", tok.pos)
            return Name(tok.pos, tok.text)
        found = tok.text or "end of formula"
        raise ExprError(f"unexpected {found!r}", tok.pos)

    def date_literal(self, tok: _Tok) -> Expr:
        self.expect("(")
        arg = self.take()
        if arg.kind != "rating":
            raise ExprError("date() takes a quoted ISO date such as date('2025-07-18')", arg.pos)
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", arg.text):
                raise ValueError
            value = dt.date.fromisoformat(arg.text)
        except ValueError:
            raise ExprError(f"{arg.text!r} is not a date (YYYY-MM-DD)", arg.pos) from None
        self.expect(")")
        return DateLit(tok.pos, value)

    def call(self, tok: _Tok) -> Expr:
        self.expect("(")
        args = [self.or_()]
        while self.is_op(","):
            self.take()
            args.append(self.or_())
        self.expect(")")
        func: FuncName = tok.text  # type: ignore[assignment]
        if func == "if" and len(args) != 3:
            raise ExprError("if() takes exactly 3 arguments: if(condition, then, else)", tok.pos)
        if func in ROUNDING_FUNCTIONS and len(args) != 1:
            raise ExprError(f"{func}() takes exactly 1 argument", tok.pos)
        if func in ("max", "min") and len(args) < 2:
            raise ExprError(f"{func}() takes at least 2 arguments", tok.pos)
        return Call(tok.pos, func, tuple(args))


@functools.lru_cache(maxsize=4096)
def parse(text: str) -> Expr:
    """Parse a formula; raises :class:`ExprError` with the position of the first problem."""
    if not isinstance(text, str):
        raise ExprError(f"formula must be text, not {type(text).__name__}")
    return _Parser(text).parse()
