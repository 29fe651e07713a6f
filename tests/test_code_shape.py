"""The package's shape: short functions in short modules (the import layers are tests/test_layers.py's)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "dastat"
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 450


def _long_functions(tree: ast.Module, limit: int) -> list[tuple[str, int]]:
    return [(node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > limit]


def test_no_function_is_longer_than_80_lines():
    offenders = [f"{path.relative_to(PACKAGE)}: {fn} ({n} lines)" for path in sorted(PACKAGE.rglob("*.py"))
                 for fn, n in _long_functions(ast.parse(path.read_text()), MAX_FUNCTION_LINES)]
    assert not offenders, "functions longer than 80 lines: " + ", ".join(offenders)


def test_no_module_is_longer_than_450_lines():
    sizes = {path.relative_to(PACKAGE): len(path.read_text().splitlines()) for path in sorted(PACKAGE.rglob("*.py"))}
    offenders = [f"{path} ({n} lines)" for path, n in sizes.items() if n > MAX_MODULE_LINES]
    assert not offenders, f"modules longer than {MAX_MODULE_LINES} lines: " + ", ".join(offenders)


def test_the_check_catches_what_it_looks_for():
    long_fn = ast.parse("def f():\n" + "    x = 1\n" * 85)
    assert _long_functions(long_fn, MAX_FUNCTION_LINES) == [("f", 86)]
