"""Evaluation of a parsed formula in exact ``Decimal`` and calendar arithmetic."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    localcontext,
)

from ledger.core.expr.syntax import (
    Binary,
    Bool,
    Call,
    DateLit,
    Expr,
    ExprError,
    Name,
    Num,
    Span,
    Unary,
    Value,
    parse,
)

# --- evaluation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SpanValue:
    months: int
    days: int


_Any = Decimal | bool | dt.date | _SpanValue
_FEN = Decimal("0.01")
_ROUNDING = {"ceil_fen": ROUND_CEILING, "floor_fen": ROUND_FLOOR}
"""``ceil_fen(x)``: the smallest fen amount at or above ``x`` (a "no less than" floor holds);
``floor_fen(x)``: the largest at or below it (a "no more than" cap holds)."""

_VARIES: ContextVar[Callable[[str], bool] | None] = ContextVar("_VARIES", default=None)


def evaluate(
    expr: Expr | str, env: Mapping[str, Value], *, explore: Callable[[str], bool] | None = None
) -> Value:
    """Evaluate in exact ``Decimal`` (40 significant digits) against named metric values.

    ``explore`` (a probe of every path, :mod:`ledger.deal.probe`) says which names vary from
    date to date: where an ``if`` condition or the left side of ``and``/``or`` reads one, both
    branches are evaluated (and may fail), not only the one this state takes.
    """
    node = parse(expr) if isinstance(expr, str) else expr
    token = _VARIES.set(explore)
    try:
        with localcontext() as ctx:
            ctx.prec = 40
            ctx.traps[DivisionByZero] = True
            ctx.traps[InvalidOperation] = True
            value = _eval(node, env)
    finally:
        _VARIES.reset(token)
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
            if _varies(node.args[0]):
                then, other = _eval(node.args[1], env), _eval(node.args[2], env)
                return then if cond else other
            return _eval(node.args[1] if cond else node.args[2], env)
        if node.func in _ROUNDING:
            return _num(node.args[0], env).quantize(_FEN, rounding=_ROUNDING[node.func])
        first = _eval(node.args[0], env)
        if isinstance(first, dt.date) and not isinstance(first, bool):
            days = [first] + [_date(a, env) for a in node.args[1:]]
            return max(days) if node.func == "max" else min(days)
        values = [_num(a, env) for a in node.args]
        return max(values) if node.func == "max" else min(values)
    raise ExprError(f"unknown node {type(node).__name__}", node.pos)  # pragma: no cover


def _varies(node: Expr) -> bool:
    varies = _VARIES.get()
    return varies is not None and any(varies(name) for name in node.names())


def _date(node: Expr, env: Mapping[str, Value]) -> dt.date:
    v = _eval(node, env)
    if _kind_of(v) != "date":
        raise ExprError(f"expected a date, got a {_kind_of(v)}", node.pos)
    assert isinstance(v, dt.date)
    return v


def _eval_binary(node: Binary, env: Mapping[str, Value]) -> _Any:
    op = node.op
    if op in ("and", "or"):
        first = _bool(node.left, env)
        if _varies(node.left) or first == (op == "and"):
            second = _bool(node.right, env)
            return (first and second) if op == "and" else (first or second)
        return first
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
