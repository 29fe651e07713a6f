"""A benchmark's table in a docs page: the text between its two markers, rewritten, the page's prose kept."""

from __future__ import annotations

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
