"""The package's layers, true at every import: each module imports only from its own layer or lower ones,
and no modules import each other in a circle, counting imports inside functions.

An import inside a function runs late, but it still makes the importing module depend on the
imported one; a lower layer reaching up that way is the circle this test exists to prevent.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "dastat"

#: The declared order, lowest first; a module may import its own layer and those before it.
LAYERS = (
    ("errors", "seeding", "distributed", "stats", "progress"),
    ("io", "models", "augment", "provenance", "display"),
    ("data",),
    ("teacher",),
    ("setting",),
    ("scoring", "kd", "evaluation"),
    ("report", "html_report", "plot", "analysis", "tables", "validate", "budget"),
    ("cli", "__main__", ""),  # "": the package itself, whose lazy exports reach every layer
)


def modules() -> dict[str, tuple[ast.Module, bool]]:
    """Every module of the package by dotted name, with its syntax tree and whether it is a package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = (ast.parse(path.read_text(), filename=str(path)), path.name == "__init__.py")
    return out


def imported(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    """The package's modules one import statement loads: ``from a import b`` names ``a.b`` when that is a
    module, else ``a`` itself; relative imports are resolved against ``module``."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    if node.level:
        base = module.split(".")
        base = base[: len(base) - node.level + (1 if is_package else 0)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    found = {f"{target}.{alias.name}" if f"{target}.{alias.name}" in known else target for alias in node.names}
    return found & known


def import_graph() -> dict[str, set[str]]:
    """Every import of every module, those inside functions (and ``TYPE_CHECKING`` blocks) included."""
    mods = modules()
    known = set(mods)
    graph: dict[str, set[str]] = {}
    for name, (tree, is_package) in mods.items():
        graph[name] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph[name] |= imported(name, is_package, node, known) - {name}
    return graph


def layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    return next(i for i, names in enumerate(LAYERS) if top in names)


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of imports, as the list of modules round it, or None."""
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


def test_every_module_has_a_layer():
    unplaced = [m for m in modules() if not any((m.split(".")[1] if "." in m else "") in names for names in LAYERS)]
    assert not unplaced, f"add these modules to a layer in LAYERS: {unplaced}"


def test_no_module_imports_a_higher_layer_even_inside_a_function():
    graph = import_graph()
    upward = sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets if layer(b) > layer(a))
    assert not upward, "imports from a lower layer into a higher one: " + "; ".join(upward)


def test_no_modules_import_each_other_in_a_circle_even_inside_functions():
    found = cycle(import_graph())
    assert found is None, "modules import each other in a circle: " + " -> ".join(found)


def test_the_registry_imports_no_augmentation():
    """Built-in DAs register themselves when dastat.augment imports them (as timm's models do); the
    registry loads only the adapters that tv:/timm: names need."""
    allowed = {"dastat.errors"} | {f"dastat.augment.{m}" for m in ("base", "compose", "entries", "spec", "wrap",
                                                                     "adapters_torchvision", "adapters_timm")}
    assert import_graph()["dastat.augment.registry"] <= allowed


def test_the_checks_catch_what_they_look_for():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None
    known = {"dastat.stats", "dastat.stats.columns", "dastat.scoring.engine"}
    node = ast.parse("from ..stats import columns").body[0]
    assert imported("dastat.scoring.engine", False, node, known) == {"dastat.stats.columns"}
    inner = ast.parse("def f():\n    from ..stats import COLUMNS\n").body[0].body[0]
    assert imported("dastat.scoring.engine", False, inner, known) == {"dastat.stats"}
    assert layer("dastat.data.types") > layer("dastat.augment.base") and layer("dastat") == len(LAYERS) - 1
