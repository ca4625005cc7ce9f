"""A small, safe expression language for deal formulas (SPEC §3: "never Python eval").

Reserve targets, fee bases, caps, step amounts, trigger metrics and conditions in a deal file are
written in this language and evaluated in ``Decimal`` against a mapping of named metrics.

Grammar (own tokenizer and recursive-descent parser; nothing is handed to Python)::

    expr    := or
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?
    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/") unary)*
    unary   := "-" unary | "+" unary | atom
    atom    := NUMBER ["%"] | RATING | "true" | "false" | NAME
             | ("max" | "min") "(" expr ("," expr)+ ")"
             | "if" "(" expr "," expr "," expr ")"
             | "date" "(" STRING ")"  | ("months" | "days") "(" expr ")"
             | "(" expr ")"

``NAME`` is dotted identifiers (``pool.balance``, ``notes.senior.balance``); a segment starting
with ``_`` is refused. ``NUMBER`` is a plain decimal (``0.012``); a trailing ``%`` divides by 100.
``RATING`` is a quoted rating grade (``'A+'``, ``"AA-sf"``) that evaluates to its rank on the
Chinese long-term scale, so ``ratings.servicer.CCXI < 'A+'`` tests "rated below A+". Anything
else (calls of other names, attribute tricks, subscripts, lambdas, strings that are not grades)
is a syntax error with its position.

Dates: ``date('2025-07-18')`` is a date literal (ISO format); names such as
``period.payment_date`` or ``dates.closing`` are dates. ``months(n)`` and ``days(n)`` (``n`` a
whole number) are spans: ``date ± span`` is a date (a month added to 31 January gives the last day
of February), ``date - date`` the number of days between them, and dates compare with
``< <= > >= == !=``; ``max``/``min`` take all numbers or all dates. Spans exist only inside such
arithmetic: a formula never gives one. Everything is exact (calendar arithmetic, no clocks).
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, DivisionByZero, InvalidOperation, localcontext
from typing import Literal

Value = Decimal | bool | dt.date
Kind = Literal["number", "bool", "date"]
_Kind = Literal["number", "bool", "date", "span"]

RATING_SCALE: tuple[str, ...] = (
    "AAA", "AA+", "AA", "AA-", "A+", "A", "A-", "BBB+", "BBB", "BBB-",
    "BB+", "BB", "BB-", "B+", "B", "B-", "CCC", "CC", "C", "D",
)  # fmt: skip
"""Long-term grades best first (CCXI / CBR / CSCI Pengyuan use the same symbols)."""


class ExprError(ValueError):
    """A formula outside the grammar, with an unknown name, or that cannot be evaluated."""

    def __init__(self, message: str, position: int | None = None) -> None:
        self.reason = message
        self.position = position
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


@dataclass(frozen=True)
class Call(Expr):
    func: Literal["max", "min", "if"]
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

_KEYWORDS = frozenset({"and", "or", "not", "if", "max", "min", "true", "false"})
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
            if tok.text in ("max", "min", "if"):
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
        func: Literal["max", "min", "if"] = tok.text  # type: ignore[assignment]
        if func == "if" and len(args) != 3:
            raise ExprError("if() takes exactly 3 arguments: if(condition, then, else)", tok.pos)
        if func != "if" and len(args) < 2:
            raise ExprError(f"{func}() takes at least 2 arguments", tok.pos)
        return Call(tok.pos, func, tuple(args))


@functools.lru_cache(maxsize=4096)
def parse(text: str) -> Expr:
    """Parse a formula; raises :class:`ExprError` with the position of the first problem."""
    if not isinstance(text, str):
        raise ExprError(f"formula must be text, not {type(text).__name__}")
    return _Parser(text).parse()


# --- static checks ---------------------------------------------------------------------------


def check(expr: Expr, known: Mapping[str, Kind], want: Kind | None = None) -> list[ExprError]:
    """Every unknown name and type mismatch in ``expr`` (empty list when it is sound).

    ``known`` maps each name the context offers to its kind; ``want`` is the kind the context
    needs (a target is a number, a condition a bool).
    """
    problems: list[ExprError] = []
    kind = _infer(expr, known, problems)
    if kind == "span":
        problems.append(ExprError("formula gives a span (months/days) on its own", expr.pos))
    elif want is not None and kind is not None and kind != want:
        problems.append(ExprError(f"formula gives a {kind} where a {want} is needed", expr.pos))
    return problems


def _infer(node: Expr, known: Mapping[str, Kind], problems: list[ExprError]) -> _Kind | None:
    def need(child: Expr, want: _Kind) -> None:
        got = _infer(child, known, problems)
        if got is not None and got != want:
            problems.append(ExprError(f"expected a {want}, got a {got}", child.pos))

    if isinstance(node, Num):
        return "number"
    if isinstance(node, Bool):
        return "bool"
    if isinstance(node, DateLit):
        return "date"
    if isinstance(node, Span):
        need(node.count, "number")
        return "span"
    if isinstance(node, Name):
        if node.name not in known:
            problems.append(ExprError(f"unknown name {node.name!r}", node.pos))
            return None
        return known[node.name]
    if isinstance(node, Unary):
        want: _Kind = "bool" if node.op == "not" else "number"
        need(node.operand, want)
        return want
    if isinstance(node, Binary):
        if node.op in ("and", "or"):
            need(node.left, "bool")
            need(node.right, "bool")
            return "bool"
        left = _infer(node.left, known, problems)
        right = _infer(node.right, known, problems)
        if node.op in ("==", "!="):
            if left is not None and right is not None and (left != right or left == "span"):
                problems.append(ExprError(f"cannot compare a {left} with a {right}", node.pos))
            return "bool"
        if not {left, right} & {"date", "span"}:
            for child, k in ((node.left, left), (node.right, right)):
                if k is not None and k != "number":
                    problems.append(ExprError(f"expected a number, got a {k}", child.pos))
            return _result_kind(node.op, "number")
        if left is None or right is None:
            return _result_kind(node.op, left or right)
        kind = _binary_kind(node.op, left, right)
        if kind is None:
            problems.append(ExprError(_binary_refusal(node.op, left, right), node.pos))
            return _result_kind(node.op, None)
        return kind
    if isinstance(node, Call):
        if node.func == "if":
            need(node.args[0], "bool")
            a = _infer(node.args[1], known, problems)
            b = _infer(node.args[2], known, problems)
            if a is not None and b is not None and a != b:
                problems.append(ExprError("if() branches give different kinds", node.pos))
            return a or b
        kinds = [_infer(arg, known, problems) for arg in node.args]
        first = next((k for k in kinds if k is not None), "number")
        want_all: _Kind = "date" if first == "date" else "number"
        for arg, k in zip(node.args, kinds, strict=True):
            if k is not None and k != want_all:
                problems.append(ExprError(f"expected a {want_all}, got a {k}", arg.pos))
        return want_all
    raise ExprError(f"unknown node {type(node).__name__}", node.pos)  # pragma: no cover


def _binary_kind(op: str, left: _Kind, right: _Kind) -> _Kind | None:
    """The kind of ``left op right``, or ``None`` when the operation is refused."""
    if op in ("==", "!="):
        return "bool" if left == right and left != "span" else None
    if op in ("<", "<=", ">", ">="):
        return "bool" if left == right and left in ("number", "date") else None
    if left == right == "number":
        return "number"
    if op == "+" and {left, right} == {"date", "span"}:
        return "date"
    if op == "-" and (left, right) == ("date", "span"):
        return "date"
    if op == "-" and left == right == "date":
        return "number"
    return None


def _result_kind(op: str, known_side: _Kind | None) -> _Kind | None:
    if op in ("==", "!=", "<", "<=", ">", ">="):
        return "bool"
    if op in ("*", "/"):
        return "number"
    return known_side if known_side in ("number", "date") else None


def _binary_refusal(op: str, left: _Kind, right: _Kind) -> str:
    if op in ("==", "!=", "<", "<=", ">", ">="):
        return f"cannot compare a {left} with a {right}"
    return f"cannot apply {op!r} to a {left} and a {right}"


# --- evaluation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SpanValue:
    months: int
    days: int


_Any = Decimal | bool | dt.date | _SpanValue


def evaluate(expr: Expr | str, env: Mapping[str, Value]) -> Value:
    """Evaluate in exact ``Decimal`` (40 significant digits) against named metric values."""
    node = parse(expr) if isinstance(expr, str) else expr
    with localcontext() as ctx:
        ctx.prec = 40
        ctx.traps[DivisionByZero] = True
        ctx.traps[InvalidOperation] = True
        value = _eval(node, env)
    if isinstance(value, _SpanValue):
        raise ExprError("formula gives a span (months/days) on its own", node.pos)
    return value


def evaluate_number(expr: Expr | str, env: Mapping[str, Value]) -> Decimal:
    """Evaluate a formula that must give a number."""
    value = evaluate(expr, env)
    if not isinstance(value, Decimal):
        node = parse(expr) if isinstance(expr, str) else expr
        raise ExprError(f"formula gives a {_kind_of(value)} where a number is needed", node.pos)
    return value


def evaluate_date(expr: Expr | str, env: Mapping[str, Value]) -> dt.date:
    """Evaluate a formula that must give a date."""
    value = evaluate(expr, env)
    if isinstance(value, bool) or not isinstance(value, dt.date):
        node = parse(expr) if isinstance(expr, str) else expr
        raise ExprError(f"formula gives a {_kind_of(value)} where a date is needed", node.pos)
    return value


def _kind_of(value: _Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Decimal):
        return "number"
    if isinstance(value, _SpanValue):
        return "span"
    return "date"


def evaluate_bool(expr: Expr | str, env: Mapping[str, Value]) -> bool:
    """Evaluate a condition (must give a bool)."""
    value = evaluate(expr, env)
    if not isinstance(value, bool):
        node = parse(expr) if isinstance(expr, str) else expr
        raise ExprError(f"formula gives a {_kind_of(value)} where a bool is needed", node.pos)
    return value


def _num(node: Expr, env: Mapping[str, Value]) -> Decimal:
    v = _eval(node, env)
    if not isinstance(v, Decimal):
        raise ExprError(f"expected a number, got a {_kind_of(v)}", node.pos)
    return v


def _bool(node: Expr, env: Mapping[str, Value]) -> bool:
    v = _eval(node, env)
    if not isinstance(v, bool):
        raise ExprError(f"expected a bool, got a {_kind_of(v)}", node.pos)
    return v


def _whole(node: Expr, env: Mapping[str, Value], unit: str) -> int:
    n = _num(node, env)
    if n != n.to_integral_value():
        raise ExprError(f"{unit}() needs a whole number, got {n}", node.pos)
    return int(n)


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus whole calendar months, clamped to the month's last day (31 Jan + 1 = 28/29
    Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    if not 1 <= year <= 9999:
        raise ExprError(f"date out of range adding {months} months to {day}")
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def _shift(day: dt.date, span: _SpanValue, sign: int, pos: int) -> dt.date:
    try:
        return add_months(day, sign * span.months) + dt.timedelta(days=sign * span.days)
    except OverflowError:
        raise ExprError("date out of range", pos) from None


def _eval(node: Expr, env: Mapping[str, Value]) -> _Any:
    if isinstance(node, Num | Bool | DateLit):
        return node.value
    if isinstance(node, Span):
        n = _whole(node.count, env, node.unit)
        return _SpanValue(n, 0) if node.unit == "months" else _SpanValue(0, n)
    if isinstance(node, Name):
        if node.name not in env:
            raise ExprError(f"unknown name {node.name!r}", node.pos)
        v = env[node.name]
        if not isinstance(v, bool | Decimal | dt.date) or isinstance(v, dt.datetime):
            raise ExprError(f"name {node.name!r} is a {type(v).__name__}, not Decimal/bool/date")
        return v
    if isinstance(node, Unary):
        if node.op == "not":
            return not _bool(node.operand, env)
        value = _num(node.operand, env)
        return -value if node.op == "-" else value
    if isinstance(node, Binary):
        return _eval_binary(node, env)
    if isinstance(node, Call):
        if node.func == "if":
            cond = _bool(node.args[0], env)
            return _eval(node.args[1] if cond else node.args[2], env)
        first = _eval(node.args[0], env)
        if isinstance(first, dt.date) and not isinstance(first, bool):
            days = [first] + [_date(a, env) for a in node.args[1:]]
            return max(days) if node.func == "max" else min(days)
        values = [_num(a, env) for a in node.args]
        return max(values) if node.func == "max" else min(values)
    raise ExprError(f"unknown node {type(node).__name__}", node.pos)  # pragma: no cover


def _date(node: Expr, env: Mapping[str, Value]) -> dt.date:
    v = _eval(node, env)
    if _kind_of(v) != "date":
        raise ExprError(f"expected a date, got a {_kind_of(v)}", node.pos)
    assert isinstance(v, dt.date)
    return v


def _eval_binary(node: Binary, env: Mapping[str, Value]) -> _Any:
    op = node.op
    if op == "and":
        return _bool(node.left, env) and _bool(node.right, env)
    if op == "or":
        return _bool(node.left, env) or _bool(node.right, env)
    left, right = _eval(node.left, env), _eval(node.right, env)
    kl, kr = _kind_of(left), _kind_of(right)
    if op in ("==", "!="):
        if kl != kr or kl == "span":
            raise ExprError(f"cannot compare a {kl} with a {kr}", node.pos)
        return (left == right) if op == "==" else (left != right)
    if "date" in (kl, kr) or "span" in (kl, kr):
        return _eval_dates(node, left, right)
    for child, k in ((node.left, kl), (node.right, kr)):
        if k != "number":
            raise ExprError(f"expected a number, got a {k}", child.pos)
    assert isinstance(left, Decimal) and isinstance(right, Decimal)
    a, b = left, right
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        if b == 0:
            raise ExprError("division by zero", node.pos)
        return a / b
    return _order(op, a, b)


def _order(op: str, a: Decimal | dt.date, b: Decimal | dt.date) -> bool:
    if op == "<":
        return a < b  # type: ignore[operator]
    if op == "<=":
        return a <= b  # type: ignore[operator]
    if op == ">":
        return a > b  # type: ignore[operator]
    return a >= b  # type: ignore[operator]


def _eval_dates(node: Binary, left: _Any, right: _Any) -> _Any:
    op, kl, kr = node.op, _kind_of(left), _kind_of(right)
    if op in ("<", "<=", ">", ">=") and kl == kr == "date":
        assert isinstance(left, dt.date) and isinstance(right, dt.date)
        return _order(op, left, right)
    if op == "+" and kl == "date" and isinstance(right, _SpanValue):
        assert isinstance(left, dt.date)
        return _shift(left, right, 1, node.pos)
    if op == "+" and kr == "date" and isinstance(left, _SpanValue):
        assert isinstance(right, dt.date)
        return _shift(right, left, 1, node.pos)
    if op == "-" and kl == "date" and isinstance(right, _SpanValue):
        assert isinstance(left, dt.date)
        return _shift(left, right, -1, node.pos)
    if op == "-" and kl == kr == "date":
        assert isinstance(left, dt.date) and isinstance(right, dt.date)
        return Decimal((left - right).days)
    if op in ("<", "<=", ">", ">=", "==", "!="):
        raise ExprError(f"cannot compare a {kl} with a {kr}", node.pos)
    raise ExprError(f"cannot apply {op!r} to a {kl} and a {kr}", node.pos)
