"""The package's shape: short functions, and modules that import each other without cycles."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "dastat"
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = ast.parse(path.read_text(), filename=str(path))
    return out


def _long_functions(tree: ast.Module, limit: int) -> list[tuple[str, int]]:
    return [(node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > limit]


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """The absolute dastat modules a ``from … import …`` names (relative imports resolved)."""
    if node.level:
        base = module.split(".")
        base = base[: len(base) - node.level + (1 if is_package else 0)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    # ``from . import x`` may import the submodule x.
    return [target] + [f"{target}.{alias.name}" for alias in node.names]


def _import_graph(modules: dict[str, ast.Module]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, tree in modules.items():
        is_package = (PACKAGE.parent / Path(*name.split(".")) / "__init__.py").exists()
        # Module-level imports only: an import inside a function runs late and cannot make a load-time cycle.
        for node in tree.body:
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                targets = _resolve(name, is_package, node)
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_function_is_longer_than_80_lines():
    offenders = [f"{name}.{fn} ({n} lines)" for name, tree in _modules().items()
                 for fn, n in _long_functions(tree, MAX_FUNCTION_LINES)]
    assert not offenders, "functions longer than 80 lines: " + ", ".join(offenders)


def test_no_import_cycles_between_modules():
    graph = _import_graph(_modules())
    # A package importing its own submodules (re-exports in __init__) is a tree edge, not a cycle.
    for name in graph:
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}
    cycle = _cycle(graph)
    assert cycle is None, "modules import each other in a circle: " + " -> ".join(cycle)


def test_the_checks_catch_what_they_look_for():
    long_fn = ast.parse("def f():\n" + "    x = 1\n" * 85)
    assert _long_functions(long_fn, MAX_FUNCTION_LINES) == [("f", 86)]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
    node = ast.parse("from ..stats import direction").body[0]
    assert _resolve("dastat.scoring.engine", False, node)[0] == "dastat.stats"
