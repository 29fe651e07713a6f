"""``repr`` of a ``Ranking`` and a ``TuneResult`` is a short table; in a notebook, an HTML table (``_repr_html_``)."""

from __future__ import annotations

import dataclasses
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from dastat.display import format_p
from dastat.scoring import Ranking, ScoreResult, TuneResult

RANKING = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "protocols_fast_ranking.json"


def _ranking() -> tuple[Ranking, list[dict]]:
    """The stored ranking of the paper's nine DAs (a real `dastat rank --student` run) as a Ranking again."""
    records = json.loads(RANKING.read_text())
    fields = {f.name for f in dataclasses.fields(ScoreResult)} - {"extra"}
    results = [ScoreResult(**{k: v for k, v in r.items() if k in fields},
                           extra={k: v for k, v in r.items() if k not in fields}) for r in records]
    return Ranking(results, total_forward=123_456, seconds=42.0), records


class _Rows(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self._row, self.text = [], None, []

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self._row = []
        elif tag == "td":
            self._row.append("")

    def handle_endtag(self, tag):
        if tag == "tr" and self._row:
            self.rows.append(self._row)

    def handle_data(self, data):
        self.text.append(data)
        if self._row:
            self._row[-1] += data


def test_ranking_repr_is_a_short_table():
    ranking, records = _ranking()
    text = repr(ranking)
    assert len(text) < 1500 and "np.float64" not in text and "ScoreResult(" not in text
    first, header, *rows = text.splitlines()
    assert first.startswith("Ranking of 9 DAs by T. stddev (lower is better, best first)")
    assert "123,456 model forwards" in first
    assert header.split()[:3] == ["#", "DA", "T."]
    assert len(rows) == 9
    for i, (row, rec) in enumerate(zip(rows, records), 1):
        cells = row.split()
        assert cells[:2] == [str(i), rec["da"]]
        assert float(cells[2]) == pytest.approx(rec["t_stddev"], rel=5.001e-4) and len(cells[2]) == 7  # 0.01344
        low, high = (float(c.strip("[],")) for c in cells[3:5])
        assert (low, high) == pytest.approx(rec["t_stddev_ci"], rel=5.001e-4)
        assert float(cells[5]) == pytest.approx(100 * rec["relative_half_width"], abs=0.051)
        flag = rec["distinct_from_next"]
        if flag is None:
            assert len(cells) == 6
        else:
            assert cells[6:] == ["≠" if flag else "≈", f"p={format_p(rec['p_next'])}"]


def test_ranking_html_in_a_notebook():
    ranking, records = _ranking()
    html = ranking._repr_html_()
    assert html.startswith("<p>Use <b>cutmix_pick_t</b>") and "<script" not in html
    parsed = _Rows()
    parsed.feed(html)
    assert [row[1] for row in parsed.rows] == [r["da"] for r in records]
    assert [row[0] for row in parsed.rows] == [str(i) for i in range(1, 10)]
    # T. stddev over its interval, as the page's tables show it.
    assert parsed.rows[0][2] == "0.01344[0.01303, 0.01385]"


def test_tune_result_repr_and_html():
    records = [
        {"candidate": "cutmix(alpha=1)", "t_stddev": 0.014512, "t_stddev_ci": [0.01431, 0.01472], "status": "best",
         "eliminated_after": None, "n_forward": 40960},
        {"candidate": "cutmix(alpha=0.5)", "t_stddev": 0.01462, "t_stddev_ci": [0.01440, 0.01484],
         "status": "tied", "eliminated_after": None, "n_forward": 40960},
        {"candidate": "cutmix(alpha=0.1)", "t_stddev": 0.0161, "t_stddev_ci": [0.0158, 0.0164],
         "status": "eliminated", "eliminated_after": 1024, "n_forward": 3072},
    ]
    result = TuneResult(records, total_forward=84_992, full_scoring_forward=200_000,
                        settings={"stopped": "tied", "candidates": 3})
    first, header, *rows = repr(result).splitlines()
    assert first == ("Race of 3 candidates: best cutmix(alpha=1); stopped: tied; 84,992 model forwards "
                     "(scoring every candidate to the budget: 200,000)")
    assert [r.split()[0] for r in rows] == [r["candidate"] for r in records]
    assert rows[0].split()[1:] == ["0.01451", "[0.01431,", "0.01472]", "best", "–", "40,960"]
    assert rows[2].split()[4:] == ["eliminated", "1,024", "3,072"]
    parsed = _Rows()
    parsed.feed(result._repr_html_())
    assert [row[0] for row in parsed.rows] == [r["candidate"] for r in records]
    assert parsed.rows[2][2:] == ["eliminated", "1,024", "3,072"]
    assert re.search(r"Best: cutmix\(alpha=1\); stopped: tied", "".join(parsed.text))


def test_readme_python_snippet_prints_its_ranking(capsys):
    """The README's Python block, run as a script (with a smaller budget), prints the ranking and the test."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    [block] = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert "max_images=4096" in block
    exec(compile(block.replace("max_images=4096", "max_images=512"), "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Ranking of 3 DAs by T. stddev (lower is better, best first)")
    assert sorted(line.split()[1] for line in out[2:5]) == ["cutmix", "identity", "mixup"]
    assert re.fullmatch(r"mixup - cutmix: \S+ T\. stddev, p = \S+", out[5])
