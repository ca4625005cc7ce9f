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
             | ("ceil_fen" | "floor_fen") "(" expr ")"
             | "date" "(" STRING ")"  | ("months" | "days") "(" expr ")"
             | "(" expr ")"

``NAME`` is dotted identifiers (``pool.balance``, ``notes.senior.balance``); a segment starting
with ``_`` is refused. ``NUMBER`` is a plain decimal (``0.012``); a trailing ``%`` divides by 100.
``RATING`` is a quoted rating grade (``'A+'``, ``"AA-sf"``) that evaluates to its rank on the
Chinese long-term scale, so ``ratings.servicer.CCXI < 'A+'`` tests "rated below A+". Anything
else (calls of other names, attribute tricks, subscripts, lambdas, strings that are not grades)
is a syntax error with its position.

Rounding: ``ceil_fen(x)`` is ``x`` rounded up to the fen (the smallest amount of whole fen at or
above ``x``), ``floor_fen(x)`` rounded down. A formula whose result a step rounds anyway (half-up
to the fen, :func:`ledger.core.money.round_fen`) uses them where the deal says which way: "no less
than 5%" is a floor that must hold, so ``ceil_fen(a * 0.05 / 0.95)``, never a half-up amount a
fraction of a fen below it (seed 001 L3723-3737). Divide last: ``a * 0.05 / 0.95`` is exact for
every ``a`` that is a multiple of 19 fen, ``a * (0.05 / 0.95)`` is not.

Dates: ``date('2025-07-18')`` is a date literal (ISO format); names such as
``period.payment_date`` or ``dates.closing`` are dates. ``months(n)`` and ``days(n)`` (``n`` a
whole number) are spans: ``date ± span`` is a date (a month added to 31 January gives the last day
of February), ``date - date`` the number of days between them, and dates compare with
``< <= > >= == !=``; ``max``/``min`` take all numbers or all dates. Spans exist only inside such
arithmetic: a formula never gives one. Everything is exact (calendar arithmetic, no clocks).
"""

from ledger.core.expr.checks import check
from ledger.core.expr.evaluate import (
    add_months,
    evaluate,
    evaluate_bool,
    evaluate_date,
    evaluate_number,
)
from ledger.core.expr.syntax import (
    RATING_SCALE,
    Binary,
    Bool,
    Call,
    DateLit,
    Expr,
    ExprError,
    Kind,
    Name,
    Num,
    Span,
    Unary,
    Value,
    parse,
    rating_rank,
)

__all__ = [
    "RATING_SCALE",
    "Binary",
    "Bool",
    "Call",
    "DateLit",
    "Expr",
    "ExprError",
    "Kind",
    "Name",
    "Num",
    "Span",
    "Unary",
    "Value",
    "add_months",
    "check",
    "evaluate",
    "evaluate_bool",
    "evaluate_date",
    "evaluate_number",
    "parse",
    "rating_rank",
]
