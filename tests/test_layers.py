"""The house's floors (docs/architecture.md): a package imports only from its own floor or below.

Every import is read from the source, including imports inside functions, ``TYPE_CHECKING``
blocks and ``importlib.import_module("...")`` calls, so an edge cannot hide in a lazy import.
Private names (``_name``) are never imported from another module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FLOORS: tuple[tuple[str, ...], ...] = (
    ("ledger.core",),
    ("ledger.deal",),
    ("events", "migrations"),
    ("projections",),
    ("ledger.waterfall",),
    ("ledger.servicing",),
    ("ledger.cycle",),
    ("ledger.audit",),
    ("ledger.reports",),
    ("ledger.simulation",),
    ("ledger.api",),
    ("ledger.cli",),
    ("benchmarks",),
)
"""From the bottom up; each entry names the packages on that floor."""

OURS = ("ledger", "events", "projections", "migrations", "benchmarks")


def floor_of(module: str) -> int:
    for i, packages in enumerate(FLOORS):
        for p in packages:
            if module == p or module.startswith(p + "."):
                return i
    raise LookupError(module)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> list[Path]:
    return sorted(
        p for top in OURS for p in (ROOT / top).rglob("*.py") if "versions" not in p.parts
    )


def imports_of(path: Path) -> Iterator[tuple[int, str, str | None]]:
    """(line, imported module, imported name or None) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name, None
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                yield node.lineno, node.module, a.name
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, node.args[0].value, None


def test_every_module_has_a_floor() -> None:
    unplaced = []
    for path in sources():
        name = module_name(path)
        if name in ("ledger",):
            continue
        try:
            floor_of(name)
        except LookupError:
            unplaced.append(name)
    assert not unplaced, f"modules on no floor (add them to FLOORS): {unplaced}"


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_import_runs_up_a_floor(path: Path) -> None:
    name = module_name(path)
    if name == "ledger":
        return
    mine = floor_of(name)
    upward = []
    for line, module, _ in imports_of(path):
        if module.split(".")[0] not in OURS or module == "ledger":
            continue
        theirs = floor_of(module)
        if theirs > mine:
            upward.append(f"{path.name}:{line} imports {module} (floor {theirs} > {mine})")
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_name_crosses_a_module(path: Path) -> None:
    crossing = [
        f"{path.name}:{line} imports {module}.{imported}"
        for line, module, imported in imports_of(path)
        if module.split(".")[0] in OURS
        and imported is not None
        and imported.startswith("_")
        and not imported.startswith("__")
    ]
    assert not crossing, "\n".join(crossing)


def test_the_checks_see_an_upward_import(tmp_path: Path) -> None:
    """The checks themselves: a core module importing the cycle is caught, lazily or not."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def f():\n"
        "    from ledger.cycle.walk import run_due\n"
        "    import importlib\n"
        "    importlib.import_module('ledger.cli.main')\n"
    )
    found = [m for _, m, _ in imports_of(bad)]
    assert found == ["ledger.cycle.walk", "importlib", "ledger.cli.main"]
    assert floor_of("ledger.cycle.walk") > floor_of("ledger.core.money")
    assert floor_of("ledger.cli.main") > floor_of("ledger.api.app")


def test_no_import_circle() -> None:
    """No module reaches itself through imports (lazy and ``TYPE_CHECKING`` ones included)."""
    names = {module_name(p): p for p in sources()}
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        targets = set()
        for _, module, imported in imports_of(path):
            for candidate in (f"{module}.{imported}", module):
                if candidate in names and candidate != name:
                    targets.add(candidate)
                    break
        graph[name] = targets
    circles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not circles, "\n".join(" -> ".join(c) for c in circles)
