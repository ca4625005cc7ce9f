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
             | "(" expr ")"

``NAME`` is dotted identifiers (``pool.balance``, ``notes.senior.balance``); a segment starting
with ``_`` is refused. ``NUMBER`` is a plain decimal (``0.012``); a trailing ``%`` divides by 100.
``RATING`` is a quoted rating grade (``'A+'``, ``"AA-sf"``) that evaluates to its rank on the
Chinese long-term scale, so ``ratings.servicer.CCXI < 'A+'`` tests "rated below A+". Anything
else (calls of other names, attribute tricks, subscripts, lambdas, strings that are not grades)
is a syntax error with its position.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, DivisionByZero, InvalidOperation, localcontext
from typing import Literal

Value = Decimal | bool
Kind = Literal["number", "bool"]

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
            if tok.text in _KEYWORDS:
                raise ExprError(f"unexpected keyword {tok.text!r}", tok.pos)
            if self.is_op("("):
                raise ExprError(f"unknown function {tok.text!r}", tok.pos)
            return Name(tok.pos, tok.text)
        found = tok.text or "end of formula"
        raise ExprError(f"unexpected {found!r}", tok.pos)

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
    if want is not None and kind is not None and kind != want:
        problems.append(ExprError(f"formula gives a {kind} where a {want} is needed", expr.pos))
    return problems


def _infer(node: Expr, known: Mapping[str, Kind], problems: list[ExprError]) -> Kind | None:
    def need(child: Expr, want: Kind) -> None:
        got = _infer(child, known, problems)
        if got is not None and got != want:
            problems.append(ExprError(f"expected a {want}, got a {got}", child.pos))

    if isinstance(node, Num):
        return "number"
    if isinstance(node, Bool):
        return "bool"
    if isinstance(node, Name):
        if node.name not in known:
            problems.append(ExprError(f"unknown name {node.name!r}", node.pos))
            return None
        return known[node.name]
    if isinstance(node, Unary):
        want: Kind = "bool" if node.op == "not" else "number"
        need(node.operand, want)
        return want
    if isinstance(node, Binary):
        if node.op in ("and", "or"):
            need(node.left, "bool")
            need(node.right, "bool")
            return "bool"
        if node.op in ("==", "!="):
            left = _infer(node.left, known, problems)
            right = _infer(node.right, known, problems)
            if left is not None and right is not None and left != right:
                problems.append(ExprError(f"cannot compare a {left} with a {right}", node.pos))
            return "bool"
        need(node.left, "number")
        need(node.right, "number")
        return "bool" if node.op in ("<", "<=", ">", ">=") else "number"
    if isinstance(node, Call):
        if node.func == "if":
            need(node.args[0], "bool")
            a = _infer(node.args[1], known, problems)
            b = _infer(node.args[2], known, problems)
            if a is not None and b is not None and a != b:
                problems.append(ExprError("if() branches give different kinds", node.pos))
            return a or b
        for arg in node.args:
            need(arg, "number")
        return "number"
    raise ExprError(f"unknown node {type(node).__name__}", node.pos)  # pragma: no cover


# --- evaluation ------------------------------------------------------------------------------


def evaluate(expr: Expr | str, env: Mapping[str, Value]) -> Value:
    """Evaluate in exact ``Decimal`` (40 significant digits) against named metric values."""
    node = parse(expr) if isinstance(expr, str) else expr
    with localcontext() as ctx:
        ctx.prec = 40
        ctx.traps[DivisionByZero] = True
        ctx.traps[InvalidOperation] = True
        return _eval(node, env)


def evaluate_number(expr: Expr | str, env: Mapping[str, Value]) -> Decimal:
    """Evaluate a formula that must give a number."""
    value = evaluate(expr, env)
    if isinstance(value, bool):
        node = parse(expr) if isinstance(expr, str) else expr
        raise ExprError("formula gives a bool where a number is needed", node.pos)
    return value


def evaluate_bool(expr: Expr | str, env: Mapping[str, Value]) -> bool:
    """Evaluate a condition (must give a bool)."""
    value = evaluate(expr, env)
    if not isinstance(value, bool):
        node = parse(expr) if isinstance(expr, str) else expr
        raise ExprError("formula gives a number where a bool is needed", node.pos)
    return value


def _num(node: Expr, env: Mapping[str, Value]) -> Decimal:
    v = _eval(node, env)
    if isinstance(v, bool):
        raise ExprError("expected a number, got a bool", node.pos)
    return v


def _bool(node: Expr, env: Mapping[str, Value]) -> bool:
    v = _eval(node, env)
    if not isinstance(v, bool):
        raise ExprError("expected a bool, got a number", node.pos)
    return v


def _eval(node: Expr, env: Mapping[str, Value]) -> Value:
    if isinstance(node, Num | Bool):
        return node.value
    if isinstance(node, Name):
        if node.name not in env:
            raise ExprError(f"unknown name {node.name!r}", node.pos)
        v = env[node.name]
        if not isinstance(v, bool | Decimal):
            raise ExprError(f"name {node.name!r} is a {type(v).__name__}, not Decimal/bool")
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
        values = [_num(a, env) for a in node.args]
        return max(values) if node.func == "max" else min(values)
    raise ExprError(f"unknown node {type(node).__name__}", node.pos)  # pragma: no cover


def _eval_binary(node: Binary, env: Mapping[str, Value]) -> Value:
    op = node.op
    if op == "and":
        return _bool(node.left, env) and _bool(node.right, env)
    if op == "or":
        return _bool(node.left, env) or _bool(node.right, env)
    if op in ("==", "!="):
        left, right = _eval(node.left, env), _eval(node.right, env)
        if isinstance(left, bool) != isinstance(right, bool):
            raise ExprError("cannot compare a bool with a number", node.pos)
        return (left == right) if op == "==" else (left != right)
    a, b = _num(node.left, env), _num(node.right, env)
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
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    return a >= b
