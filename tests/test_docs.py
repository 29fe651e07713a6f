"""The user guide's Python blocks run as written (docstring examples are collected by pytest: setup.cfg)."""

from __future__ import annotations

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


def test_the_architecture_page_names_every_module():
    text = (DOCS / "architecture.md").read_text()
    package = DOCS.parent / "dastat"
    missing = [str(p.relative_to(package)) for p in sorted(package.rglob("*.py"))
               if p.name not in text and f"`{p.stem}`" not in text]
    assert not missing, f"docs/architecture.md does not name: {missing}"
