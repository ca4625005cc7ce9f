"""Reading a deal file: YAML → :class:`DealDefinition`, with every problem and its YAML path.

The only I/O in the deal package besides the CLI. YAML numbers are read as exact ``Decimal``
(never ``float``), duplicate keys are errors, and a file that fails lists all its problems, e.g.
``waterfalls.amortising[4].to: unknown account 'reserve_liq'``.
"""

from __future__ import annotations

import hashlib
import re
import weakref
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ledger.core.text import find_control
from ledger.deal.checks import Problem, cross_check, format_path
from ledger.deal.probe import probe
from ledger.deal.schema import DealDefinition
from ledger.deal.steps import STEP_KINDS


class DealValidationError(ValueError):
    """A deal file with problems; ``problems`` holds each one (YAML path and reason)."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p.describe()}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


class _DealYamlLoader(yaml.SafeLoader):
    """Safe YAML with exact decimals and no duplicate keys."""


def _decimal(loader: _DealYamlLoader, node: yaml.ScalarNode) -> Decimal:
    text = str(loader.construct_scalar(node)).replace("_", "")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise yaml.constructor.ConstructorError(
            None, None, f"{text!r} is not a decimal number", node.start_mark
        ) from None


def _mapping(loader: _DealYamlLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_DealYamlLoader.add_constructor("tag:yaml.org,2002:float", _decimal)
_DealYamlLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _pydantic_problems(exc: ValidationError) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc: list[str | int] = []
        for i, part in enumerate(err["loc"]):
            # a discriminated step's tag ('transfer', ...) is not part of the YAML path
            if isinstance(part, str) and part in STEP_KINDS and i and isinstance(loc[-1], int):
                continue
            loc.append(part)
        message = err["msg"].removeprefix("Value error, ")
        problems.append(Problem(format_path(loc), message))
    return problems


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def line_of(root: yaml.Node | None, path: str) -> int | None:
    """The line of the deepest YAML node on ``path`` (``a.b[2].c``), or ``None``. A key may
    itself contain dots (``metrics.pool.balance.formula``: the key ``pool.balance``)."""
    node = root
    line = None
    parts = [(m.group(1), m.group(2)) for m in _PATH_PART.finditer(path)]
    i = 0
    while i < len(parts):
        key, index = parts[i]
        if isinstance(node, yaml.MappingNode) and key is not None:
            keys = {str(getattr(k, "value", "")): (k, v) for k, v in node.value}
            for j in range(len(parts), i, -1):  # the longest dotted key first
                segment = parts[i:j]
                if all(k is not None for k, _ in segment):
                    dotted = ".".join(str(k) for k, _ in segment)
                    if dotted in keys:
                        break
            else:
                break
            key_node, node = keys[dotted]
            line = key_node.start_mark.line + 1
            i = j
        elif isinstance(node, yaml.SequenceNode) and index is not None:
            if int(index) >= len(node.value):
                break
            node = node.value[int(index)]
            line = node.start_mark.line + 1
            i += 1
        else:
            break
    return line


def _with_lines(exc: DealValidationError, text: str) -> DealValidationError:
    try:
        root = yaml.compose(text, Loader=_DealYamlLoader)
    except yaml.YAMLError:  # pragma: no cover - the text already loaded once
        return exc
    problems = [
        Problem(p.path, p.message, line_of(root, p.path) if p.path else p.line)
        for p in exc.problems
    ]
    return DealValidationError(exc.source, problems)


def parse_deal(data: object, source: str = "<deal>") -> DealDefinition:
    """Validate already-loaded YAML data (shape, then cross-references and formulas)."""
    if not isinstance(data, dict):
        raise DealValidationError(source, [Problem("", "a deal file is a mapping at the top")])
    try:
        deal = DealDefinition.model_validate(data)
    except ValidationError as exc:
        raise DealValidationError(source, _pydantic_problems(exc)) from None
    problems = cross_check(deal) or probe(deal)
    if problems:
        raise DealValidationError(source, problems)
    return deal


_ORIGINS: dict[int, tuple[weakref.ref[DealDefinition], str, str]] = {}


def _remember(deal: DealDefinition, source: str, text: str) -> DealDefinition:
    key = id(deal)
    _ORIGINS[key] = (weakref.ref(deal, lambda _: _ORIGINS.pop(key, None)), source, text)
    return deal


def locate(deal: DealDefinition, path: str | None) -> str:
    """Where a formula of ``deal`` is: ``<file>, line N (<path>)`` for a deal loaded from text
    (its file, or the ``DealDefined`` it was recorded with), else the deal id and the path."""
    origin = _ORIGINS.get(id(deal))
    if origin is None or origin[0]() is not deal:
        return f"deal {deal.deal_id}" + (f" ({path})" if path else "")
    _, source, text = origin
    line = line_of(yaml.compose(text, Loader=_DealYamlLoader), path) if path else None
    where = f"{source}, line {line}" if line is not None else source
    return where + (f" ({path})" if path else "")


def load_deal_text(text: str, source: str = "<deal>") -> DealDefinition:
    """Parse and validate the YAML text of a deal file."""
    control = find_control(text, multiline=True)
    if control is not None:
        line = text.count("\n", 0, control.start()) + 1
        problem = f"line {line}: control character U+{ord(control.group()):04X}"
        raise DealValidationError(source, [Problem("", problem)])
    try:
        data = yaml.load(text, Loader=_DealYamlLoader)
    except RecursionError:
        raise DealValidationError(source, [Problem("", "nested too deeply to read")]) from None
    except (ValueError, TypeError, OverflowError) as exc:  # a scalar YAML resolves but cannot build
        raise DealValidationError(source, [Problem("", f"YAML value error: {exc}")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise DealValidationError(source, [Problem("", f"{where}YAML error: {problem}")]) from None
    try:
        return _remember(parse_deal(data, source), source, text)
    except RecursionError:
        raise DealValidationError(source, [Problem("", "nested too deeply to read")]) from None
    except DealValidationError as exc:
        raise _with_lines(exc, text) from None


def read_deal_file(path: str | Path) -> str:
    """A deal file's text; :class:`DealValidationError` when it cannot be read or is not UTF-8."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DealValidationError(str(p), [Problem("", f"cannot read file: {exc}")]) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = f"not UTF-8 text (byte {exc.start + 1} is 0x{raw[exc.start]:02x})"
        raise DealValidationError(str(p), [Problem("", problem)]) from None


def validate_deal_file(path: str | Path) -> DealDefinition:
    """Read and validate a deal file; raises :class:`DealValidationError` listing every problem."""
    return load_deal_text(read_deal_file(path), str(path))


def content_hash(text: str) -> str:
    """SHA-256 of a deal file's text, as recorded with the ``DealDefined`` event (SPEC §2.5)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
