"""The augmentation guide's code blocks run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "augmentations.md"


@pytest.fixture(autouse=True)
def _isolated_registry(restore_registry):
    """Examples register DAs of their own; they do not outlive the test."""


@pytest.mark.parametrize("index", range(len(re.findall(r"```python\n", DOC.read_text()))))
def test_docs_code_blocks_run(index):
    block = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)[index]
    if re.search(r"^(import|from) timm", block, re.M):
        pytest.importorskip("timm", reason="timm is an optional extra")
    exec(compile(block, f"{DOC.name}[{index}]", "exec"), {})
