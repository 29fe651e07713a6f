"""A fresh clone needs nothing beside it: no file of the package or the tests reads outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The names are assembled here so that this file does not hold the very spellings it looks for.
SIBLING, VARIABLE, NOTES = "sha" + "red", "DASTAT_" + "REFERENCE", "PAPER" + ".md"
# A path that climbs out of the repository into a sibling folder, or a variable that points at one.
OUTSIDE = re.compile(rf"\.\./{SIBLING}|\.parents?(\[\d\])?\s*/\s*['\"]{SIBLING}|{VARIABLE}|{re.escape(NOTES)}")


def _sources():
    for folder in ("dastat", "tests"):
        for path in sorted((REPO / folder).rglob("*")):
            if path.suffix in {".py", ".md", ".json", ".cfg", ".txt"} and "data" not in path.relative_to(REPO).parts[1:2]:
                yield path


def test_no_file_refers_outside_the_repository():
    offenders = [f"{p.relative_to(REPO)}:{i}" for p in _sources()
                 for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1) if OUTSIDE.search(line)]
    assert not offenders, "these lines read outside the repository: " + ", ".join(offenders)


def test_pattern_catches_the_usual_spellings():
    for line in [f'REPO.parent / "{SIBLING}" / "reference"', f'Path("../{SIBLING}/reference")',
                 f'os.environ["{VARIABLE}"]', f"see {NOTES} section 2", f'Path(__file__).parents[2] / "{SIBLING}"']:
        assert OUTSIDE.search(line), line
    assert not OUTSIDE.search('Path(__file__).parent / "data"')
