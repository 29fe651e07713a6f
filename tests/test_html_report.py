"""``--report FILE.html``: one self-contained page; its figures decode and its tables hold the JSON's numbers."""

from __future__ import annotations

import base64
import io
import json
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
from dastat.report import COLUMNS  # noqa: E402

VALIDATE_DIR = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "validate_fmnist"


class _Page(HTMLParser):
    """The page's images, tables (header and rows of cell text), headings and visible text."""

    def __init__(self):
        super().__init__()
        self.images, self.tables, self.headings, self.text, self.tags = [], [], [], [], set()
        self._cell = self._row = None
        self._heading = None

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        elif tag == "table":
            self.tables.append({"class": attrs.get("class"), "header": [], "rows": []})
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag in ("h1", "h2", "h3"):
            self._heading = []

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr":
            table = self.tables[-1]
            (table["rows"] if table["header"] else table["header"]).extend(
                [self._row] if table["header"] else self._row)
        elif tag in ("h1", "h2", "h3"):
            self.headings.append("".join(self._heading))
            self._heading = None

    def handle_data(self, data):
        self.text.append(data)
        for part in (self._cell, self._heading):
            if part is not None:
                part.append(data)


def _parse(path) -> _Page:
    page = _Page()
    page.feed(Path(path).read_text(encoding="utf-8"))
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
    """Whether a table cell shows ``value`` (6 significant digits, intervals, yes/no, – for missing)."""
    if value is None:
        return cell == "–"
    if isinstance(value, bool):
        return cell == ("yes" if value else "no")
    if isinstance(value, list):
        parts = cell.strip("[]").split(", ")
        return len(parts) == len(value) and all(_same(p, v) for p, v in zip(parts, value))
    if isinstance(value, (int, float)):
        return float(cell) == pytest.approx(value, rel=5e-6, abs=1e-300)
    return cell == str(value)


def _check_rows(table: dict, records: list[dict], label: str = "da") -> int:
    """Each row of ``table`` holds its record's values, in the table's column order; returns cells checked."""
    header = table["header"]
    assert [row[header.index(label)] for row in table["rows"]] == [r[label] for r in records]
    checked = 0
    for row, rec in zip(table["rows"], records):
        for name, cell in zip(header, row):
            key = name.replace(" 95% CI", "_ci")
            if key in rec:
                assert _same(cell, rec[key]), (rec[label], name, cell, rec[key])
                checked += 1
    return checked


def _table(page: _Page, cls: str) -> dict:
    [table] = [t for t in page.tables if t["class"] == cls]
    return table


def test_rank_html_report_matches_json(tmp_path, capsys):
    report = tmp_path / "rank.html"
    argv = ["rank", "--da", "identity", "--da", "flip", "--da", "cutmix", "--max-images", "256", "--no-progress",
            "--json", "--report", str(report)]
    assert main(argv) == 0
    records = json.loads(capsys.readouterr().out)["results"]
    page = _parse(report)
    assert "script" not in page.tags and "http" not in report.read_text().replace("http-equiv", "")
    [bars] = _decode_images(page)
    stats = _table(page, "stats")
    assert [row[0] for row in stats["rows"]] == ["1", "2", "3"]
    assert _check_rows(stats, records) >= 3 * 10
    assert {"t_stddev", "t_stddev 95% CI", "distinct_from_next", "p_next"} <= set(stats["header"])
    text = " ".join(page.text)
    assert COLUMNS["t_stddev"][0] in text and COLUMNS["teacher_entropy"][0] in text
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
    from dastat.html_report import validation_report

    folder, results = _validate_copy(tmp_path)
    report = validation_report(tmp_path / "validate.html", folder)
    page = _parse(report)
    assert len(_decode_images(page)) == 3  # the ranking, and T. stddev against test loss and against top-1
    rows = sorted(results["rows"], key=lambda r: r["t_stddev"])  # the table is ranked, best first
    assert _check_rows(_table(page, "stats"), rows) >= 9 * 20
    corr = _table(page, "correlations")
    assert [row[0] for row in corr["rows"]] == list(results["correlations"])
    for row, c in zip(corr["rows"], results["correlations"].values()):
        cells = dict(zip(corr["header"], row))
        for name, key in (("Pearson", "pearson"), ("Spearman", "spearman"), ("Kendall tau-b", "kendall")):
            assert _same(cells[name], c[key]) and _same(cells[f"{name} p"], c[f"{key}_p"])
            assert _same(cells[f"{name} 95% CI"], c[f"{key}_ci"])
    prov = dict(_table(page, "provenance")["rows"])
    assert prov["seed"] == "0" and prov["command"] == results["provenance"]["command"]
    assert any("Provenance" in h for h in page.headings)


def test_correlate_html_report(tmp_path, reference_dir, capsys):
    report = tmp_path / "paper.html"
    csv = str(reference_dir / "paper_tstddev_vs_stestloss.csv")
    argv = ["correlate", csv, "--x", "T_stddev", "--y", "S_test_loss", "--group", "pair_dataset", "--label", "DA",
            "--resamples", "0", "--json"]
    assert main(argv + ["--report", str(report)]) == 0
    expected = json.loads(capsys.readouterr().out)["results"]
    page = _parse(report)
    [panels] = _decode_images(page)  # one figure, one panel per setting
    corr = _table(page, "correlations")
    assert [row[0] for row in corr["rows"]] == [c["group"] for c in expected]
    for row, c in zip(corr["rows"], expected):
        cells = dict(zip(corr["header"], row))
        assert _same(cells["n"], c["n"]) and _same(cells["Pearson"], c["pearson"])
        assert _same(cells["Kendall tau-b p"], c["kendall_p"])
    assert main(argv + ["--report", str(tmp_path / "paper.pdf")]) == 2
    assert "--report must end in .html" in capsys.readouterr().err


def test_validate_report_must_be_html(tmp_path, capsys):
    assert main(["validate", "--out", str(tmp_path / "v"), "--report", str(tmp_path / "v.md")]) == 2
    assert "--report must end in .html" in capsys.readouterr().err
    assert not (tmp_path / "v").exists()  # refused before anything ran
