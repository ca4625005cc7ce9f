"""Static checks of a parsed formula: every name known, every operator applied to the kinds it
takes."""

from __future__ import annotations

from collections.abc import Mapping

from ledger.core.expr.syntax import (
    ROUNDING_FUNCTIONS,
    Binary,
    Bool,
    Call,
    DateLit,
    Expr,
    ExprError,
    InferredKind,
    Kind,
    Name,
    Num,
    Span,
    Unary,
)

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


def _infer(node: Expr, known: Mapping[str, Kind], problems: list[ExprError]) -> InferredKind | None:
    def need(child: Expr, want: InferredKind) -> None:
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
        want: InferredKind = "bool" if node.op == "not" else "number"
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
        if node.func in ROUNDING_FUNCTIONS:
            need(node.args[0], "number")
            return "number"
        kinds = [_infer(arg, known, problems) for arg in node.args]
        first = next((k for k in kinds if k is not None), "number")
        want_all: InferredKind = "date" if first == "date" else "number"
        for arg, k in zip(node.args, kinds, strict=True):
            if k is not None and k != want_all:
                problems.append(ExprError(f"expected a {want_all}, got a {k}", arg.pos))
        return want_all
    raise ExprError(f"unknown node {type(node).__name__}", node.pos)  # pragma: no cover


def _binary_kind(op: str, left: InferredKind, right: InferredKind) -> InferredKind | None:
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


def _result_kind(op: str, known_side: InferredKind | None) -> InferredKind | None:
    if op in ("==", "!=", "<", "<=", ">", ">="):
        return "bool"
    if op in ("*", "/"):
        return "number"
    return known_side if known_side in ("number", "date") else None


def _binary_refusal(op: str, left: InferredKind, right: InferredKind) -> str:
    if op in ("==", "!=", "<", "<=", ">", ">="):
        return f"cannot compare a {left} with a {right}"
    return f"cannot apply {op!r} to a {left} and a {right}"
