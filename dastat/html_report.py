"""One self-contained HTML page per run (``--report FILE.html``), from plain records.

The page needs no model, no network and no JavaScript: figures are embedded as base64
PNG, tables are plain HTML, and it fits a 1280-pixel-wide screen. It holds, where the
inputs have them:

- what to use, in one sentence (:func:`dastat.display.recommendation`): the best DA, the DAs the paired
  tests do not tell from it, and how sure that is;
- the ranking as a forest plot, one dot and 95% interval per DA (:func:`dastat.plot.ranking_forest`);
- the ranking table (the ranked statistic, the students' outcomes, the test against the
  next DA), then the other statistics, each cell a value over its interval, with a glossary
  (:data:`dastat.stats.columns.COLUMNS`); only columns with values, named as :func:`dastat.display.short_name` says;
- the scatter of T. stddev against each student outcome, and the correlation table;
- the run's provenance.

Numbers show 4 significant digits (:func:`dastat.display.fmt`), p-values as :func:`dastat.display.format_p`.

>>> page = html_report([{"da": "flip", "t_stddev": 0.0152}, {"da": "cutmix", "t_stddev": 0.0145}])
>>> page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
True
"""

from __future__ import annotations

import base64
import io
import json
import os
from html import escape
from pathlib import Path
from typing import Any, Sequence

from .io import atomic_write_text
from .provenance import records_of
from .display import (NEXT, fmt, leading_ties_of, p_text, present, recommendation, records_table,
                      short_name)
from .stats.columns import COLUMNS, OUTCOMES, SCORES, direction

__all__ = ["html_report", "write_html_report", "validation_report"]


# Narrow cells (a value over its interval) and wrapping long provenance values keep every table
# inside a 1280-pixel window; tests/test_report_browser.py checks it in Chromium.
_STYLE = """body{font:15px/1.45 system-ui,sans-serif;max-width:76rem;margin:1.5rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.6rem 0 1.2rem;font-size:13px}th,td{padding:.25rem .45rem;
border-bottom:1px solid #ddd;text-align:right;vertical-align:top}th:first-child,td:first-child{text-align:left}
th{background:#f3f3f3;font-weight:600}th .u{font-weight:400;font-size:11px;color:#666}
td .ci,td .p,td .sd{font-size:11px;color:#666}td .v{white-space:nowrap}
td.da,th.da{font-weight:600;text-align:left}tr.lead td{background:#eef5fb}img{max-width:100%;height:auto}
.notes{color:#8a4b00;font-size:14px;margin:.4rem 0}.verdict{font-size:17px;background:#eef5fb;border-left:4px solid #0072B2;padding:.6rem .9rem;margin:.8rem 0}
.setting{color:#555;font-size:13px;margin:.2rem 0 1rem}dt{font-weight:600;margin-top:.4rem}dd{margin-left:1.2rem}
table.provenance td{text-align:left;overflow-wrap:anywhere;word-break:break-word}table.provenance{width:100%}
code{font-size:12px}.note{color:#555;font-size:13px}"""


def _png(fig, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


# --------------------------------------------------------------------------- the verdict

def _setting_line(records: Sequence[dict]) -> str:
    """"teacher X on Y · fast protocol · 21,824 images per DA · seed 0" from what every record shares."""
    def shared(key):
        values = {json.dumps(r.get(key), default=str) for r in records}
        return records[0].get(key) if len(values) == 1 else None

    parts = []
    if shared("teacher"):
        parts.append(f"teacher {shared('teacher')}" + (f" on {shared('data')}" if shared("data") else ""))
    if shared("protocol"):
        parts.append(f"{shared('protocol')} protocol")
    if present(records, "n_images"):
        counts = sorted({r["n_images"] for r in records if r.get("n_images") is not None})
        parts.append(f"{fmt(counts[0])} images per DA" if len(counts) == 1
                     else f"{fmt(counts[0])} to {fmt(counts[-1])} images per DA")
    if shared("seed") is not None and parts:
        parts.append(f"seed {shared('seed')}")
    return f'<p class="setting">{escape(" · ".join(parts))}</p>' if parts else ""


# --------------------------------------------------------------------------- tables

def _table_columns(records: Sequence[dict], by: str, label: str) -> tuple[list[str], list[str]]:
    """The ranking table's columns (the ranked statistic, T. stddev, the students' outcomes, images, the
    next-DA test) and the other statistics', each only when some record has a value."""
    known = {*SCORES, *OUTCOMES, NEXT}
    if not any(present(records, c) for c in known):  # a table of the user's own (dastat correlate)
        keys = [k for k in dict.fromkeys(k for r in records for k in r) if k not in (label, "provenance")]
        return [k for k in keys if not k.endswith(("_ci", "_std")) and present(records, k)], []
    main = [c for c in dict.fromkeys([by, "t_stddev", "test_loss", "test_acc", "n_seeds", "n_images", NEXT])
            if present(records, c)]
    others = [c for c in SCORES if c not in main and present(records, c)]
    return main, others


def _stats_section(records: Sequence[dict], by: str, label: str, ranked: bool, lead: int) -> str:
    main, others = _table_columns(records, by, label)
    parts = [f"<h2>{'Ranking' if ranked else 'Results'}</h2>",
             records_table(records, main, label=label, ranked=ranked, lead=lead)]
    if others:
        parts += ["<h2>Other statistics</h2>", '<p class="note">Each cell: the estimate over its 95% interval.</p>',
                  records_table(records, others, label=label, ranked=ranked, cls="companions", lead=lead)]
    parts.append(_glossary([c for c in (*main, *others) if c in SCORES or c in OUTCOMES or c == NEXT]))
    return "".join(parts)


def _glossary(columns: Sequence[str]) -> str:
    items = []
    for c in columns:
        if c == NEXT:
            items.append("<dt>vs next</dt><dd>a paired test of \"more than 4% apart\" between this DA and the next "
                         "one in the ranking (Holm-corrected over adjacent pairs): ≠ when p &lt; 0.05, ≈ when not</dd>")
            continue
        text, describes = COLUMNS[c].description, COLUMNS[c].context
        way = f"{direction(c)} is better" if direction(c) else describes
        items.append(f"<dt>{escape(short_name(c))} <code>{escape(c)}</code></dt><dd>{escape(text)}"
                     + (f"; {escape(way)}" if way else "") + "</dd>")
    return f"<h3>What the columns mean</h3><dl>{''.join(items)}</dl>" if items else ""


def _coefficient_cell(c: dict, key: str) -> str:
    parts = [f'<span class="v">{escape(fmt(c.get(key)))}</span>',
             f'<br><span class="p">p = {escape(p_text(c.get(f"{key}_p")))}</span>']
    if c.get(f"{key}_ci") is not None:
        parts.append(f'<br><span class="ci">{escape(fmt(c.get(f"{key}_ci")))}</span>')
    return "<td>" + "".join(parts) + "</td>"


def _correlation_section(correlations: Any, scatters: Sequence[str]) -> str:
    """Each scatter figure, then one row per correlation (a validate dict or a list of records):
    each coefficient over its p-value and its interval."""
    items = correlations.items() if isinstance(correlations, dict) else [(None, c) for c in correlations or []]
    rows = []
    for target, c in items:
        name = target if target is not None else ("(all rows)" if c.get("group") is None else c["group"])
        cells = f"<td>{escape(str(name))}</td><td>{escape(fmt(c.get('n')))}</td>"
        if "error" in c:
            cells += f'<td colspan="3">{escape(str(c["error"]))}</td>'
        else:
            cells += "".join(_coefficient_cell(c, k) for k in ("pearson", "spearman", "kendall"))
        rows.append(f"<tr>{cells}</tr>")
    first = "against" if isinstance(correlations, dict) else "group"
    head = (f'<th data-col="{first}">{first}</th><th data-col="n">n</th>'
            + "".join(f'<th data-col="{k}">{name}<br><span class="u">p · 95% CI</span></th>'
                      for k, name in (("pearson", "Pearson r"), ("spearman", "Spearman ρ"), ("kendall", "Kendall τ-b"))))
    table = (f'<table class="correlations"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
             if rows else "")
    return "<h2>Correlations</h2>" + "".join(scatters) + table


def _provenance_section(provenance: dict | None) -> str:
    if not provenance:
        return ""
    rows = "".join(f"<tr><td>{escape(str(k))}</td><td>{escape(_plain(v))}</td></tr>" for k, v in provenance.items())
    return (f'<h2>Provenance</h2><table class="provenance"><thead><tr><th>field</th><th>value</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def _plain(value: Any) -> str:
    """A provenance value as written: text and numbers as they are, anything else as JSON."""
    if value is None or isinstance(value, (str, int, float)):
        return "–" if value is None else str(value)
    return json.dumps(value, default=str)


def html_report(records: Sequence[dict], *, title: str = "dastat report", by: str | None = None,
                bars: bool = True, ranked: bool = True, label: str = "da", scatter: Sequence[tuple[str, str]] = (),
                group: str | None = None, correlations: Any = None, provenance: dict | None = None,
                setting: dict | None = None, notes: Sequence[str] = ()) -> str:
    """The page as a string.

    ``records`` are the per-DA rows (``Ranking.to_records()``, a validation table); ``by`` the
    ranked column (default: the records' ``rank_by``, else ``t_stddev``), drawn as a forest plot
    unless ``bars`` is false or a record lacks it; with ``ranked`` the rows are sorted best
    first and the page opens with :func:`recommendation`;
    ``scatter`` the ``(x, y)`` pairs to draw (one panel per ``group`` value); ``correlations``
    what ``dastat validate`` (a dict per outcome) or ``dastat correlate --json`` (a list)
    gives; ``provenance`` a :func:`dastat.provenance.provenance` record (default: the
    records' own, if they carry one); ``setting`` what the figures' titles name; ``notes`` the
    sentences on what the run did not do (:func:`dastat.budget.notes`), shown under the verdict.
    A record without a value of ``by`` is left out of the verdict and the plot (a note says why).
    """
    from .plot import ranking_forest
    from .plot import scatter as draw_scatter

    records = [dict(r) for r in records]
    if provenance is None:
        provenance = next((r["provenance"] for r in records if isinstance(r.get("provenance"), dict)), None)
    by = by or next((r["rank_by"] for r in records if r.get("rank_by")), "t_stddev")
    if any(r.get("rank_by", by) != by for r in records):  # the paired tests compared neighbours in another order
        for r in records:
            r.pop(NEXT, None), r.pop("p_next", None)
    parts = [f"<h1>{escape(title)}</h1>"]
    valued = [r for r in records if r.get(by) is not None]  # a DA without a value is neither ranked nor drawn
    lead = 0
    if ranked and valued:
        ascending = direction(by) != "higher"
        valued.sort(key=lambda r: r[by] if ascending else -r[by])
        records = valued + [r for r in records if r.get(by) is None]
        verdict = recommendation(valued, by, label)
        parts.append(f'<p class="verdict">{verdict}</p>' if verdict else "")
        if direction(by) is not None:
            lead = 1 + leading_ties_of(valued)
    if notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>")
    parts.append(_setting_line(records))
    if bars and valued:
        parts.append(_png(ranking_forest(valued, by=by, label=label, setting=setting),
                          f"forest plot of {by}, one dot and 95% interval per DA"))
    parts.append(_stats_section(records, by, label, ranked, lead))
    figures = [_png(draw_scatter(records, x=x, y=y, label=label, group=group, setting=setting), f"{y} against {x}")
               for x, y in scatter]
    if figures or correlations:
        parts.append(_correlation_section(correlations, figures))
    parts.append(_provenance_section(provenance))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
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


