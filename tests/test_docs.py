"""The user guide's Python blocks and the core modules' docstring examples run as written."""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
# augmentations.md and analysis.md have their own runners (test_augment_docs.py, test_analysis.py).
GUIDES = ["scoring.md", "statistics.md", "training.md"]


def _blocks():
    for name in GUIDES:
        path = DOCS / name
        if not path.exists():
            continue
        for i, block in enumerate(re.findall(r"```python\n(.*?)```", path.read_text(), re.S)):
            yield pytest.param(block, id=f"{name}[{i}]")


@pytest.mark.parametrize("block", list(_blocks()))
def test_guide_code_blocks_run(block):
    exec(compile(block, "<docs>", "exec"), {})


@pytest.mark.parametrize("name", ["dastat.data", "dastat.stats.tstddev", "dastat.stats.compare", "dastat.models"])
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
