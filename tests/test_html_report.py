"""``--report FILE.html``: one self-contained page; its figures decode and its tables hold the JSON's numbers."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import pytest  # noqa: E402

from dastat.cli import main  # noqa: E402
from dastat.provenance import provenance  # noqa: E402
from dastat.stats.columns import COLUMNS  # noqa: E402

VALIDATE_DIR = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "validate_fmnist"


class _Page(HTMLParser):
    """The page's images, tables (header keys from ``data-col`` and rows of cells, each cell its text split
    by the classes of its spans: ``v`` value, ``ci`` interval, ``sd``, ``p``), headings, paragraphs and text."""

    def __init__(self):
        super().__init__()
        self.images, self.tables, self.headings, self.text, self.tags = [], [], [], [], set()
        self.paragraphs = []
        self._cell = self._row = self._heading = self._para = None
        self._span = "v"

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        elif tag == "table":
            self.tables.append({"class": attrs.get("class"), "header": [], "rows": []})
        elif tag == "tr":
            self._row = []
        elif tag == "th":
            self.tables[-1]["header"].append(attrs.get("data-col") or "#")
        elif tag == "td":
            self._cell, self._span = {}, "v"
        elif tag == "span" and self._cell is not None:
            self._span = attrs.get("class", "v")
        elif tag in ("h1", "h2", "h3"):
            self._heading = []
        elif tag == "p":
            self._para = []

    def handle_endtag(self, tag):
        if tag == "td":
            self._row.append(self._cell)
            self._cell = None
        elif tag == "span":
            self._span = "v"
        elif tag == "tr" and self._row:
            self.tables[-1]["rows"].append(self._row)
        elif tag in ("h1", "h2", "h3"):
            self.headings.append("".join(self._heading))
            self._heading = None
        elif tag == "p" and self._para is not None:
            self.paragraphs.append("".join(self._para))
            self._para = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell[self._span] = self._cell.get(self._span, "") + data
        for part in (self._heading, self._para):
            if part is not None:
                part.append(data)


def _parse(path) -> _Page:
    page = _Page()
    page.source = Path(path).read_text(encoding="utf-8")
    page.feed(page.source)
    return page


def _decode_images(page: _Page) -> list:
    """Every embedded figure as an image array (PNG) or an element tree (SVG); no external source."""
    out = []
    for src in page.images:
        assert src.startswith("data:image/"), "figures must be embedded, not linked"
        kind, data = src[len("data:image/"):].split(";base64,")
        raw = base64.b64decode(data)
        if kind == "png":
            img = mpimg.imread(io.BytesIO(raw), format="png")
            assert img.shape[0] >= 150 and img.shape[1] >= 300, img.shape
            assert img[..., :3].std() > 0.05  # not a blank canvas
            out.append(img)
        else:
            assert kind == "svg+xml"
            out.append(ET.fromstring(raw))
    return out


def _same(cell: str, value) -> bool:
    """Whether a cell's text shows ``value`` to the report's 4 significant digits (intervals, yes/no, – for missing)."""
    if value is None:
        return cell == "–"
    if isinstance(value, bool):
        return cell == ("yes" if value else "no")
    if isinstance(value, list):
        parts = cell.strip("[]").split(", ")
        return len(parts) == len(value) and all(_same(p, v) for p, v in zip(parts, value))
    if isinstance(value, (int, float)):
        # Rounding to 4 significant digits moves a value by at most half a unit in its 4th digit.
        return float(cell.replace(",", "")) == pytest.approx(value, rel=5.001e-4, abs=1e-300)
    return cell == str(value)


def _digits(cell: str) -> int:
    """Significant digits a number's text shows: 0.01600 has 4, 2.300e-05 has 4."""
    mantissa = cell.lstrip("-").split("e")[0].replace(".", "").lstrip("0")
    return len(mantissa)


def _check_rows(table: dict, records: list[dict], label: str = "da") -> int:
    """Each row of ``table`` holds its record's values (a value over its interval or ± sd, and the test
    against the next DA over its p-value), in the table's column order; returns the cells checked."""
    from dastat.display import format_p

    header = table["header"]
    assert [row[header.index(label)]["v"] for row in table["rows"]] == [r[label] for r in records]
    checked = 0
    for row, rec in zip(table["rows"], records):
        for key, cell in zip(header, row):
            if key == "distinct_from_next":
                flag = rec.get(key)
                assert cell["v"] == ("–" if flag is None else "≠" if flag else "≈")
                assert cell["p"] == ("–" if rec.get("p_next") is None else format_p(rec["p_next"]))
            elif key in rec and key != label:
                assert _same(cell["v"], rec[key]), (rec[label], key, cell, rec[key])
                if isinstance(rec[key], float) and rec[key] != 0:
                    assert _digits(cell["v"]) == 4, cell
                if rec.get(f"{key}_ci") is not None:
                    assert _same(cell["ci"], rec[f"{key}_ci"]), (rec[label], key, cell)
                elif rec.get(f"{key}_std") is not None:
                    assert _same(cell["sd"].lstrip("± "), rec[f"{key}_std"])
            else:
                continue
            checked += 1
    return checked


def _table(page: _Page, cls: str) -> dict:
    [table] = [t for t in page.tables if t["class"] == cls]
    return table


def _headers_readable(page: _Page, records: list[dict]) -> None:
    """Only columns some record has a value for, each under a readable name (no snake_case)."""
    for table in page.tables:
        if table["class"] not in ("stats", "companions"):
            continue
        for key in table["header"][2:]:
            assert any(r.get(key) is not None for r in records), f"empty column {key}"
    heads = re.findall(r"<th[^>]*>(.*?)</th>", _html(page))
    assert heads and not [h for h in heads if re.search(r"[a-z]_[a-z]", re.sub(r"<[^>]+>", "", h))]


def _html(page: _Page) -> str:
    return page.source


def test_rank_html_report_matches_json(tmp_path, capsys):
    report = tmp_path / "rank.html"
    argv = ["rank", "--da", "identity", "--da", "flip", "--da", "cutmix", "--max-images", "256", "--no-progress",
            "--json", "--report", str(report)]
    assert main(argv) == 0
    records = json.loads(capsys.readouterr().out)["results"]
    page = _parse(report)
    assert "script" not in page.tags and "http" not in report.read_text().replace("http-equiv", "")
    [forest] = _decode_images(page)
    stats, others = _table(page, "stats"), _table(page, "companions")
    assert [row[0]["v"] for row in stats["rows"]] == ["1", "2", "3"]
    assert {"t_stddev", "distinct_from_next"} <= set(stats["header"])
    assert _check_rows(stats, records) + _check_rows(others, records) >= 3 * 10
    assert "ce_cov" not in stats["header"] + others["header"]  # no student: its columns would be empty
    _headers_readable(page, records)
    # The page opens with what to use: the best DA and, from the paired test, whether the next is tied.
    verdict = page.paragraphs[0]
    assert verdict.startswith(f"Use {records[0]['da']}")
    if records[0]["distinct_from_next"]:
        assert f"tells it from the next DA, {records[1]['da']}" in verdict
    else:
        assert f"or equally {records[1]['da']}" in verdict
    text = " ".join(page.text)
    assert COLUMNS["t_stddev"].description in text and COLUMNS["teacher_entropy"].description in text
    # Markdown stays the default for any other suffix.
    md = tmp_path / "rank.md"
    assert main(argv[:-1] + [str(md)]) == 0
    assert not md.read_text().lstrip().startswith("<") and "T. stddev" in md.read_text()


def _validate_copy(tmp_path) -> tuple[Path, dict]:
    folder = tmp_path / "validate_fmnist"
    shutil.copytree(VALIDATE_DIR, folder)
    results = json.loads((folder / "results.json").read_text())
    results["provenance"] = provenance(seed=0, batch_size=64, protocol={"name": "fast"}, teacher="bundled",
                                       data="fashion-mnist", student="resnet8")
    (folder / "results.json").write_text(json.dumps(results))
    return folder, results


def test_validation_html_report_matches_results(tmp_path):
    from dastat.display import format_p
    from dastat.html_report import validation_report

    folder, results = _validate_copy(tmp_path)
    report = validation_report(tmp_path / "validate.html", folder)
    page = _parse(report)
    assert len(_decode_images(page)) == 3  # the ranking, and T. stddev against test loss and against top-1
    rows = sorted(results["rows"], key=lambda r: r["t_stddev"])  # the table is ranked, best first
    stats = _table(page, "stats")
    assert {"test_loss", "test_acc", "n_seeds"} <= set(stats["header"])
    assert _check_rows(stats, rows) + _check_rows(_table(page, "companions"), rows) >= 9 * 12
    _headers_readable(page, rows)
    corr = _table(page, "correlations")
    assert [row[0]["v"] for row in corr["rows"]] == list(results["correlations"])
    for row, c in zip(corr["rows"], results["correlations"].values()):
        cells = dict(zip(corr["header"], row))
        for key in ("pearson", "spearman", "kendall"):
            assert _same(cells[key]["v"], c[key]) and cells[key]["p"] == f"p = {format_p(c[f'{key}_p'])}"
            assert _same(cells[key]["ci"], c[f"{key}_ci"])
    prov = {row[0]["v"]: row[1]["v"] for row in _table(page, "provenance")["rows"]}
    assert prov["seed"] == "0" and prov["command"] == results["provenance"]["command"]
    assert any("Provenance" in h for h in page.headings)


def test_correlate_html_report(tmp_path, reference_dir, capsys):
    from dastat.display import format_p

    report = tmp_path / "paper.html"
    csv = str(reference_dir / "paper_tstddev_vs_stestloss.csv")
    argv = ["correlate", csv, "--x", "T_stddev", "--y", "S_test_loss", "--group", "pair_dataset", "--label", "DA",
            "--resamples", "0", "--json"]
    assert main(argv + ["--report", str(report)]) == 0
    expected = json.loads(capsys.readouterr().out)["results"]
    page = _parse(report)
    [panels] = _decode_images(page)  # one figure, one panel per setting
    corr = _table(page, "correlations")
    assert [row[0]["v"] for row in corr["rows"]] == [c["group"] for c in expected]
    for row, c in zip(corr["rows"], expected):
        cells = dict(zip(corr["header"], row))
        assert _same(cells["n"]["v"], c["n"]) and _same(cells["pearson"]["v"], c["pearson"])
        assert cells["kendall"]["p"] == f"p = {format_p(c['kendall_p'])}"
    assert main(argv + ["--report", str(tmp_path / "paper.pdf")]) == 2
    assert "--report must end in .html" in capsys.readouterr().err


def _ranked(flags_and_p, values=None) -> list[dict]:
    values = values or [0.010 + 0.001 * i for i in range(len(flags_and_p))]
    return [{"da": f"d{i}", "t_stddev": v, "t_stddev_ci": [v - 0.0002, v + 0.0002], "distinct_from_next": flag,
             "p_next": p} for i, ((flag, p), v) in enumerate(zip(flags_and_p, values))]


def test_recommendation_names_the_best_its_ties_and_the_first_separating_test():
    from dastat.display import recommendation

    plain = lambda html: re.sub(r"<[^>]+>", "", html)  # noqa: E731
    told = plain(recommendation(_ranked([(True, 0.001), (False, 0.4), (None, None)])))
    assert told == ("Use d0: it has the lowest T. stddev, 0.01000 (95% CI 0.009800 to 0.01020), and a paired test "
                    "tells it from the next DA, d1 (Holm-corrected p = 0.0010).")
    tied = plain(recommendation(_ranked([(False, 0.4), (False, 0.2), (True, 0.003), (False, 0.5), (None, None)])))
    assert tied.startswith("Use d0, or equally d1 or d2: d0 has the lowest T. stddev")
    assert tied.endswith("but paired tests do not tell them apart (p = 0.400, 0.200); they are ahead of the "
                         "other 2 DAs (p = 0.0030).")
    every = plain(recommendation(_ranked([(False, 0.4), (None, None)])))
    assert every.endswith("(p = 0.400); no DA in this ranking is told from the best.")
    # Without a paired test (a validation table), overlapping intervals are named as such.
    loose = _ranked([(None, None)] * 3, values=[0.0100, 0.0103, 0.0110])
    for r in loose:
        r.pop("distinct_from_next"), r.pop("p_next")
    assert "the intervals of d1 overlap it" in plain(recommendation(loose))
    # Higher is better for a student's top-1; a statistic with no better direction recommends nothing.
    acc = [{"da": "a", "test_acc": 91.0}, {"da": "b", "test_acc": 90.0}]
    assert plain(recommendation(acc, by="test_acc")).startswith("a has the highest student test top-1, 91.00")
    assert "recommends none" in recommendation([{"da": "a", "kl_view": 1.0}], by="kl_view")


def test_fmt_keeps_four_significant_digits():
    from dastat.display import fmt

    assert [fmt(v) for v in (0.01506, 0.016, 1.0, 123456.0, -5.352e-05, 7)] == \
        ["0.01506", "0.01600", "1.000", "1.235e+05", "-5.352e-05", "7"]


def test_validate_report_must_be_html(tmp_path, capsys):
    assert main(["validate", "--out", str(tmp_path / "v"), "--report", str(tmp_path / "v.md")]) == 2
    assert "--report must end in .html" in capsys.readouterr().err
    assert not (tmp_path / "v").exists()  # refused before anything ran


def test_paired_tests_of_another_order_are_not_reused(tmp_path):
    """Tests against the next DA by T. stddev say nothing about neighbours by another statistic."""
    from dastat.html_report import html_report

    records = [dict(r, rank_by="t_stddev", teacher_entropy=e, teacher_entropy_ci=[e - 0.01, e + 0.01])
               for r, e in zip(_ranked([(False, 0.4), (True, 0.001), (None, None)]), (0.30, 0.50, 0.45))]
    path = tmp_path / "entropy.html"
    path.write_text(html_report(records, by="teacher_entropy"), encoding="utf-8")
    page = _parse(path)
    assert "distinct_from_next" not in _table(page, "stats")["header"]
    assert page.paragraphs[0] == ("Use d1: it has the highest teacher entropy, 0.5000 (95% CI 0.4900 to 0.5100), "
                                  "and its interval overlaps no other DA's.")


def test_a_ranking_with_das_lacking_values_says_so_and_recommends_nothing_unsure(tmp_path):
    """A DA without a T. stddev is listed unranked ('–') and left out of the plot; a best without an interval is
    no recommendation; the run's notes (dastat.budget.notes) stand under the verdict."""
    from dastat.html_report import html_report

    records = [{"da": "flip", "t_stddev": 0.01578, "t_stddev_ci": [None, None], "rank": 1},
               {"da": "identity", "t_stddev": 0.01589, "t_stddev_ci": [None, None], "rank": 2},
               {"da": "autoaugment", "t_stddev": None, "t_stddev_ci": [None, None], "rank": None}]
    note = "autoaugment has no T. stddev, so not ranked: 64 images made 1 block unit(s) each"
    path = tmp_path / "r.html"
    path.write_text(html_report(records, title="t", notes=[note]))
    page = _parse(path)
    source = _html(page)
    verdict = re.sub(r"<[^>]+>", "", re.search(r'<p class="verdict">(.*?)</p>', source).group(1))
    assert verdict.startswith("flip has the lowest T. stddev, 0.01578, but no interval yet")
    assert "no recommendation" in verdict and "Use " not in verdict
    assert re.search(r'<ul class="notes"><li>autoaugment has no T. stddev', source)
    assert [row[0]["v"] for row in _table(page, "stats")["rows"]] == ["1", "2", "–"]
    assert source.count("<img") == 1  # the forest plot, of the two DAs that have a value
