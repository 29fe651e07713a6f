"""A benchmark's table in a docs page: the text between its two markers, rewritten, the page's prose kept."""

from __future__ import annotations

import json
from pathlib import Path

from dastat.io import atomic_write_text


def write_section(path: str | Path, begin: str, end: str, body: str) -> None:
    """Put ``body`` between the markers ``begin`` and ``end`` of ``path`` (appended, with them, when absent)."""
    path = Path(path)
    text = path.read_text() if path.exists() else ""
    block = f"{begin}\n{body}\n{end}"
    if begin in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    atomic_write_text(path, text)


def publish(json_path: str | Path, summary: dict, text: str, docs: str | Path | None, begin: str, end: str) -> None:
    """Save a benchmark's ``summary`` as JSON, print its rendered ``text``, and put it in ``docs`` when given."""
    Path(json_path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(json_path, json.dumps(summary, indent=1) + "\n")
    print(text)
    if docs:
        write_section(docs, begin, end, text)
