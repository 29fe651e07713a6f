"""One self-contained HTML page per run (``--report FILE.html``), from plain records.

The page needs no model, no network and no JavaScript: figures are embedded as base64
PNG, tables are plain HTML. It holds, where the inputs have them:

- the ranking as horizontal bars with their 95% intervals and the "≠ next" marks
  (:func:`dastat.plot.ranking_bars`);
- the statistics table, one row per DA, with a glossary (:data:`dastat.report.COLUMNS`);
- the scatter of T. stddev against each student outcome, and the correlation table;
- the run's provenance.

>>> page = html_report([{"da": "flip", "t_stddev": 0.0152}, {"da": "cutmix", "t_stddev": 0.0145}])
>>> page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
True
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
from html import escape
from pathlib import Path
from typing import Any, Sequence

from .io import atomic_write_text
from .provenance import records_of
from .stats.direction import direction

__all__ = ["html_report", "write_html_report", "fmt", "OUTCOMES"]

#: Students' outcomes a validation table carries, and what they mean.
OUTCOMES = {
    "test_loss": "students' test cross-entropy (nats), mean over seeds",
    "test_loss_std": "standard deviation of the students' test loss over seeds",
    "test_acc": "students' test top-1 (%), mean over seeds",
    "test_acc_std": "standard deviation of the students' test top-1 over seeds",
    "n_seeds": "students trained per DA",
}
_RANK_TEST = ("distinct_from_next", "p_next")

_STYLE = """body{font:15px/1.45 system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.6rem 0 1.2rem;font-size:13px}th,td{padding:.2rem .55rem;
border-bottom:1px solid #ddd;text-align:right}th:first-child,td:first-child{text-align:left}
th{background:#f3f3f3}img{max-width:100%;height:auto}dt{font-weight:600;margin-top:.4rem}
dd{margin-left:1.2rem}code{font-size:12px}.note{color:#555;font-size:13px}"""


def fmt(value: Any) -> str:
    """A table cell: numbers to 6 significant digits (they read back as the same float to ~1e-6),
    intervals as ``[low, high]``, booleans as yes/no, missing values as –.

    >>> fmt(0.0134512695568), fmt([0.0131172923, 0.0137852468]), fmt(True), fmt(None), fmt(2)
    ('0.0134513', '[0.0131173, 0.0137852]', 'yes', '–', '2')
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode("ascii")}">'


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(fmt(v))}</td>" for v in row) + "</tr>" for row in rows)
    return (f'<div style="overflow-x:auto"><table class="{cls}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _stat_columns(records: Sequence[dict]) -> list[str]:
    """The statistics the records carry, in the order of :data:`dastat.report.COLUMNS`, then
    the outcomes and the adjacent test; every column when the table is none of those."""
    from .report import COLUMNS

    present = set().union(*(r.keys() for r in records))
    known = [c for c in (*COLUMNS, *OUTCOMES, *_RANK_TEST) if c in present]
    if any(c in COLUMNS or c in OUTCOMES for c in known):
        return known
    return [c for c in records[0] if c not in ("provenance",)]


def _stats_section(records: Sequence[dict], label: str, ranked: bool) -> str:
    from .report import COLUMNS

    columns = [c for c in _stat_columns(records) if c != label]
    # Each statistic, followed by its interval where the records have one.
    keys = [k for c in columns for k in ([c, f"{c}_ci"] if any(f"{c}_ci" in r for r in records) else [c])]
    header = (["#"] if ranked else []) + [label] + [k[:-3] + " 95% CI" if k.endswith("_ci") else k for k in keys]
    rows = [([i] if ranked else []) + [r.get(label)] + [r.get(k) for k in keys] for i, r in enumerate(records, 1)]
    table = _table(header, rows, "stats")
    glossary = []
    for c in columns:
        text, better = COLUMNS.get(c, (OUTCOMES.get(c), None))
        if text is None:
            continue
        better = better or (f"{direction(c)} is better" if direction(c) else "")
        glossary.append(f"<dt>{escape(c)}</dt><dd>{escape(text)}" + (f"; {escape(better)}" if better else "")
                        + "</dd>")
    if "distinct_from_next" in columns:
        glossary.append("<dt>distinct_from_next, p_next</dt><dd>a paired test of this DA against the next one in "
                        "the ranking (Holm-corrected over adjacent pairs); yes when p_next &lt; 0.05</dd>")
    gloss = f"<h3>Glossary</h3><dl>{''.join(glossary)}</dl>" if glossary else ""
    return f"<h2>Statistics</h2>{table}{gloss}"


def _correlation_section(correlations: Any, scatters: Sequence[str]) -> str:
    """Each scatter figure, then one row per correlation (a validate dict or a list of records)."""
    items = correlations.items() if isinstance(correlations, dict) else [(None, c) for c in correlations or []]
    rows = []
    for target, c in items:
        name = target if target is not None else ("(all rows)" if c.get("group") is None else c["group"])
        if "error" in c:
            rows.append([name, c.get("n"), c["error"]] + [None] * 8)
            continue
        rows.append([name, c.get("n")] + [c.get(f"{k}{s}") for k in ("pearson", "spearman", "kendall")
                                         for s in ("", "_p", "_ci")])
    header = ["against" if isinstance(correlations, dict) else "group", "n"]
    header += [f"{k}{s}" for k in ("Pearson", "Spearman", "Kendall tau-b") for s in ("", " p", " 95% CI")]
    table = _table(header, rows, "correlations") if rows else ""
    return "<h2>Correlations</h2>" + "".join(scatters) + table


def _provenance_section(provenance: dict | None) -> str:
    if not provenance:
        return ""
    rows = [[k, v if isinstance(v, (str, int, float)) else json.dumps(v, default=str)] for k, v in provenance.items()]
    return "<h2>Provenance</h2>" + _table(["field", "value"], rows, "provenance")


def html_report(records: Sequence[dict], *, title: str = "dastat report", by: str | None = None,
                bars: bool = True, ranked: bool = True, label: str = "da", scatter: Sequence[tuple[str, str]] = (),
                group: str | None = None, correlations: Any = None, provenance: dict | None = None,
                setting: dict | None = None) -> str:
    """The page as a string.

    ``records`` are the per-DA rows (``Ranking.to_records()``, a validation table); ``by`` the
    ranked column (default: the records' ``rank_by``, else ``t_stddev``), drawn as bars unless
    ``bars`` is false or a record lacks it;
    ``scatter`` the ``(x, y)`` pairs to draw (one panel per ``group`` value); ``correlations``
    what ``dastat validate`` (a dict per outcome) or ``dastat correlate --json`` (a list)
    gives; ``provenance`` a :func:`dastat.provenance.provenance` record (default: the
    records' own, if they carry one); ``setting`` what the figures' titles name.
    """
    from .plot import ranking_bars
    from .plot import scatter as draw_scatter

    records = [dict(r) for r in records]
    if provenance is None:
        provenance = next((r["provenance"] for r in records if isinstance(r.get("provenance"), dict)), None)
    by = by or next((r["rank_by"] for r in records if r.get("rank_by")), "t_stddev")
    parts = [f"<h1>{escape(title)}</h1>"]
    if bars and records and all(r.get(by) is not None for r in records):
        parts.append(f"<h2>Ranking by {escape(by)}</h2>" + _png(ranking_bars(records, by=by, label=label,
                                                                               setting=setting)))
        if ranked:
            ascending = direction(by) != "higher"
            records.sort(key=lambda r: r[by] if ascending else -r[by])
    parts.append(_stats_section(records, label, ranked))
    figures = [_png(draw_scatter(records, x=x, y=y, label=label, group=group, setting=setting)) for x, y in scatter]
    if figures or correlations:
        parts.append(_correlation_section(correlations, figures))
    parts.append(_provenance_section(provenance))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body>\n" + "\n".join(p for p in parts if p) + "\n</body></html>\n")


def write_html_report(path: str | os.PathLike, records: Sequence[dict], **kwargs) -> Path:
    """Write :func:`html_report` to ``path`` atomically; keyword arguments go to it."""
    return atomic_write_text(path, html_report(records, **kwargs))


def validation_report(path: str | os.PathLike, folder: str | os.PathLike) -> Path:
    """The page of a finished ``dastat validate`` folder (its ``results.json`` and ``validate.json``)."""
    folder = Path(folder)
    results = json.loads((folder / "results.json").read_text())
    config_path = folder / "validate.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    rows = records_of(results) or []  # {"results": ...}, or "rows" in folders written before that shape
    outcomes = [y for y in ("test_loss", "test_acc") if rows and all(r.get(y) is not None for r in rows)]
    setting = {"teacher": config.get("teacher") or "bundled resnet20", "data": config.get("data") or "fashion-mnist",
               "student": config.get("student"), "recipe": config.get("recipe"), "seeds": config.get("seeds")}
    return write_html_report(path, rows, title=f"Validation: {folder.name}", by="t_stddev",
                             scatter=[("t_stddev", y) for y in outcomes], correlations=results.get("correlations"),
                             provenance=results.get("provenance") or config.get("provenance"), setting=setting)
