"""The spec language that names a data augmentation.

A spec is ``name``, ``name(key=value, ...)`` with Python literals as values, and ``+``
composes steps left to right. Bare words are read as strings, so choices need no
quotes (``autoaugment(policy=imagenet)``), and a value may itself be a spec
(``pick(base=cutmix(alpha=0.5), pool=4)``).

>>> parse("crop_flip+cutmix(alpha=0.5)")
[('crop_flip', {}), ('cutmix', {'alpha': 0.5})]
>>> parse("pick(base=mixup, pool=2)")
[('pick', {'base': 'mixup', 'pool': 2})]
>>> format_step("cutmix", {"alpha": 0.5, "per_sample": True})
'cutmix(alpha=0.5,per_sample=True)'

A *grid* writes alternatives of a value with ``|``; :func:`expand_grid` gives every
combination, within a spec and across the steps of a ``+`` composition:

>>> expand_grid("cutmix(alpha=0.2|1)")
['cutmix(alpha=0.2)', 'cutmix(alpha=1)']
>>> expand_grid("crop_flip+randaugment(num_ops=1|2, magnitude=9)")
['crop_flip+randaugment(num_ops=1,magnitude=9)', 'crop_flip+randaugment(num_ops=2,magnitude=9)']

Specs and grids have limits, checked before anything is parsed or expanded, so a
mistyped or generated spec is one sentence instead of a ``RecursionError`` or a run
that never ends: :data:`MAX_SPEC_LENGTH` characters, :data:`MAX_STEPS` composed steps,
:data:`MAX_NESTING` specs nested in values (``pick(base=pick(...))``), and
:data:`MAX_CANDIDATES` combinations in a grid.
"""

from __future__ import annotations

import ast
import itertools
import math
import re
from typing import Any

from ..errors import UserError

Step = tuple[str, dict[str, Any]]

# Library transforms are named with a prefix (``tv:RandAugment(num_ops=2)``,
# ``timm:rand-m9-mstd0.5``) that Python's grammar cannot hold: before parsing, each such
# name becomes an identifier that spells it in hex, and is spelt back when read.
_LIBRARY_NAME = re.compile(r"(?<![\w.:'\"])((?:tv|timm):[A-Za-z0-9_.\-]*[A-Za-z0-9_])")
_ENCODED = re.compile(r"__lib_([0-9a-f]+)__")


def _encode(text: str) -> str:
    return _LIBRARY_NAME.sub(lambda m: f"__lib_{m.group(1).encode().hex()}__", text)


def _decode(text: str) -> str:
    return _ENCODED.sub(lambda m: bytes.fromhex(m.group(1)).decode(), text)

_FORM = "expected NAME, NAME(key=value, ...) or SPEC+SPEC"
#: The longest spec or grid read, in characters.
MAX_SPEC_LENGTH = 2000
#: The most steps a ``+`` composition may chain (counting nested ones).
MAX_STEPS = 32
#: The deepest nesting of a spec inside a value (``pick(base=cutmix)`` is 1, ``pick(base=pick(base=cutmix))`` 2).
MAX_NESTING = 3
#: The most candidates a grid (or a tune) may expand to.
MAX_CANDIDATES = 64


def _fail(spec: str, why: str) -> UserError:
    return UserError(f"cannot read the augmentation spec {spec!r}: {why} ({_FORM})")


def _value(node: ast.AST, spec: str) -> Any:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, (ast.Call, ast.BinOp)):
        # A nested spec (``base=cutmix(alpha=0.5)``): keep it as text, built later.
        _steps(node, spec)
        return _decode(ast.unparse(node).replace(" ", ""))
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise _fail(spec, f"{_decode(ast.unparse(node))!r} is not a Python literal") from None


def _steps(node: ast.AST, spec: str) -> list[Step]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _steps(node.left, spec) + _steps(node.right, spec)
    if isinstance(node, ast.Name):
        return [(_decode(node.id), {})]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name = _decode(node.func.id)
        if node.args:
            raise _fail(spec, f"{name} takes keyword arguments only")
        kwargs: dict[str, Any] = {}
        for kw in node.keywords:
            if kw.arg is None:
                raise _fail(spec, "** is not allowed")
            if kw.arg in kwargs:
                raise _fail(spec, f"{name} is given {kw.arg} twice; keep one")
            kwargs[kw.arg] = _value(kw.value, spec)
        return [(name, kwargs)]
    raise _fail(spec, f"{_decode(ast.unparse(node))!r} is not an augmentation")


def _check_size(text: str, what: str) -> None:
    """Refuse a spec or grid over the length or step limits before it is parsed (one sentence)."""
    shown = text if len(text) <= 60 else text[:57] + "..."
    if len(text) > MAX_SPEC_LENGTH:
        raise UserError(f"the {what} {shown!r} is {len(text):,} characters long, over the limit of "
                        f"{MAX_SPEC_LENGTH:,}")
    if text.count("+") >= MAX_STEPS:
        raise UserError(f"the {what} {shown!r} composes {text.count('+') + 1} steps, over the limit of {MAX_STEPS}")


def _nesting(node: ast.AST) -> int:
    """How deeply specs nest inside keyword values below ``node``."""
    if isinstance(node, ast.BinOp):
        return max(_nesting(node.left), _nesting(node.right))
    if isinstance(node, ast.Call):
        inner = [kw.value for kw in node.keywords if isinstance(kw.value, (ast.Call, ast.BinOp, ast.Name))]
        return max((1 + _nesting(v) for v in inner), default=0)
    return 0


def _read(text: str, what: str, fail) -> ast.AST:
    """The expression tree of a spec or grid, within the limits."""
    _check_size(text, what)
    try:
        tree = ast.parse(_encode(text.strip()), mode="eval")
    except (SyntaxError, RecursionError, MemoryError):  # MemoryError: the parser's own nesting limit
        raise fail from None
    depth = _nesting(tree.body)
    if depth > MAX_NESTING:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise UserError(f"the {what} {shown!r} nests specs {depth} deep, over the limit of {MAX_NESTING}")
    return tree


def parse(spec: str) -> list[Step]:
    """Split a spec into its steps: a list of ``(name, kwargs)``, applied left to right."""
    if not isinstance(spec, str) or not spec.strip():
        raise _fail(str(spec), "it is empty")
    return _steps(_read(spec, "augmentation spec", _fail(spec, "it is not well formed")).body, spec)


def format_value(value: Any) -> str:
    """A value as the spec language writes it: words and specs bare, other values as literals."""
    if isinstance(value, str):
        try:
            parse(value)
            return value.replace(" ", "")
        except UserError:
            return repr(value)
    return repr(value)


def format_step(name: str, kwargs: dict[str, Any]) -> str:
    """The canonical text of one step."""
    if not kwargs:
        return name
    return f"{name}(" + ",".join(f"{k}={format_value(v)}" for k, v in kwargs.items()) + ")"


def _grid_fail(grid: str, why: str) -> UserError:
    shown = grid if len(grid) <= 80 else grid[:77] + "..."
    return UserError(f"cannot read the grid {shown!r}: {why}")


def _bar_values(value: ast.AST) -> list[ast.AST]:
    """The values of ``a|b|c``, left to right (it parses as ``(a|b)|c``); a value without bars is its own one."""
    values, stack = [], [value]
    while stack:
        v = stack.pop()
        if isinstance(v, ast.BinOp) and isinstance(v.op, ast.BitOr):
            stack += [v.right, v.left]
        else:
            values.append(v)
    return values


def _alternatives(node: ast.AST, grid: str) -> list[ast.AST]:
    """Every variant of a step (or ``+`` composition) whose keyword values may hold ``a|b`` alternatives."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [ast.BinOp(a, ast.Add(), b) for a, b in itertools.product(_alternatives(node.left, grid),
                                                                         _alternatives(node.right, grid))]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        raise _grid_fail(grid, "'|' separates values of one parameter, e.g. cutmix(alpha=0.2|1); "
                               "give each DA its own --da")
    if not isinstance(node, ast.Call):
        return [node]
    choices = [[ast.keyword(kw.arg, variant) for v in _bar_values(kw.value) for variant in _alternatives(v, grid)]
               for kw in node.keywords]
    return [ast.Call(node.func, [], list(kws)) for kws in itertools.product(*choices)]


def _count(node: ast.AST) -> int:
    """How many variants :func:`_alternatives` would make, computed without making them."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _count(node.left) * _count(node.right)
    if not isinstance(node, ast.Call):
        return 1
    return math.prod(sum(_count(v) for v in _bar_values(kw.value)) for kw in node.keywords)


def expand_grid(grid: str) -> list[str]:
    """The canonical specs of every combination of a grid's ``|`` alternatives, in order (see the module doc)."""
    if not isinstance(grid, str) or re.search(r"(^|[=(,|])\s*\||\|\s*($|[,)|])", grid):
        raise _grid_fail(str(grid), "an alternative is empty; write a value between every two bars, "
                                    "e.g. cutmix(alpha=0.2|1)")
    _check_size(grid, "grid")
    try:
        tree = ast.parse(_encode(grid.strip()), mode="eval")
    except SyntaxError:
        parse(grid)  # one sentence on what is malformed
        raise _fail(grid, "it is not well formed") from None
    count = _count(tree.body)
    if count > MAX_CANDIDATES:
        raise _grid_fail(grid, f"it expands to {count:,} candidates, over the limit of {MAX_CANDIDATES}; "
                               "tune fewer values at a time")
    specs, seen = [], []
    for variant in _alternatives(tree.body, grid):
        steps = parse(_decode(ast.unparse(variant)))
        if steps in seen:
            raise _grid_fail(grid, f"it names {'+'.join(format_step(*s) for s in steps)} twice; keep one")
        seen.append(steps)
        specs.append("+".join(format_step(name, kwargs) for name, kwargs in steps))
    return specs
