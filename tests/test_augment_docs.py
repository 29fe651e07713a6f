"""The augmentation docs and docstring examples run as written."""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "augmentations.md"
MODULES = ["base", "functional", "ops", "spaces", "spec", "registry", "transforms", "mixing", "policies", "pick", "compose",
           "wrap", "library", "adapters_torchvision"]


@pytest.fixture(autouse=True)
def _isolated_registry(restore_registry):
    """Examples register DAs of their own; they do not outlive the test."""


@pytest.mark.parametrize("index", range(len(re.findall(r"```python\n", DOC.read_text()))))
def test_docs_code_blocks_run(index):
    block = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)[index]
    if re.search(r"^(import|from) timm", block, re.M):
        pytest.importorskip("timm", reason="timm is an optional extra")
    exec(compile(block, f"{DOC.name}[{index}]", "exec"), {})


@pytest.mark.parametrize("name", ["dastat.augment"] + [f"dastat.augment.{m}" for m in MODULES])
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
