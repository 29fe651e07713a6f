"""One self-contained HTML page per run (``--report FILE.html``), from plain records.

The page needs no model, no network and no JavaScript: figures are embedded as base64
PNG, tables are plain HTML, and it fits a 1280-pixel-wide screen. It holds, where the
inputs have them:

- what to use, in one sentence (:func:`recommendation`): the best DA, the DAs the paired
  tests do not tell from it, and how sure that is;
- the ranking as a forest plot, one dot and 95% interval per DA (:func:`dastat.plot.ranking_forest`);
- the ranking table (the ranked statistic, the students' outcomes, the test against the
  next DA), then the other statistics, each cell a value over its interval, with a glossary
  (:data:`dastat.report.COLUMNS`); only columns with values, named as :func:`dastat.plot.short_name` says;
- the scatter of T. stddev against each student outcome, and the correlation table;
- the run's provenance.

Numbers show 4 significant digits (:func:`fmt`), p-values as :func:`dastat.analysis.format_p`.

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

__all__ = ["html_report", "write_html_report", "validation_report", "records_table", "recommendation", "fmt",
           "ranking_html", "tune_html", "OUTCOMES"]

#: Students' outcomes a validation table carries, and what they mean.
OUTCOMES = {
    "test_loss": "students' test cross-entropy (nats), mean over seeds",
    "test_loss_std": "standard deviation of the students' test loss over seeds",
    "test_acc": "students' test top-1 (%), mean over seeds",
    "test_acc_std": "standard deviation of the students' test top-1 over seeds",
    "n_seeds": "students trained per DA",
}
_NEXT = "distinct_from_next"

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


def fmt(value: Any) -> str:
    """A number to 4 significant digits, trailing zeros kept (``0.01600`` beside ``0.01506``);
    integers whole, intervals as ``[low, high]``, booleans as yes/no, missing values as –.

    >>> fmt(0.0134512695568), fmt(0.016), fmt([0.0131172923, 0.0137852468]), fmt(2.3e-5), fmt(386.941)
    ('0.01345', '0.01600', '[0.01312, 0.01379]', '2.300e-05', '386.9')
    >>> fmt(True), fmt(None), fmt(65472), fmt(float("nan"))
    ('yes', '–', '65,472', '–')
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:#.4g}".rstrip(".").replace(".e", "e")
    return str(value)


def _p(value: Any) -> str:
    from .analysis import format_p

    return "–" if value is None else format_p(float(value))


def _png(fig, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


# --------------------------------------------------------------------------- the verdict

def _present(records: Sequence[dict], key: str) -> bool:
    return any(r.get(key) is not None for r in records)


def _with_interval(record: dict, key: str) -> str:
    ci = record.get(f"{key}_ci")
    text = fmt(record.get(key))
    if ci and all(v is not None for v in ci):
        text += f" (95% CI {fmt(ci[0])} to {fmt(ci[1])})"
    return text


def recommendation(records: Sequence[dict], by: str = "t_stddev", label: str = "da") -> str:
    """What to use, in one sentence of HTML, from ``records`` ranked best first by ``by``.

    With ``dastat rank``'s paired tests against the next DA it names the best DA, those the
    chain of tests does not tell from it (:func:`dastat.plot.leading_ties`) and the p-value of
    the first test that separates the leaders from the rest; without them, the DAs whose
    intervals overlap the best one's (a weaker reading, and the sentence says so).
    """
    from .plot import leading_ties, short_name

    if not records or records[0].get(by) is None:
        return ""
    name = short_name(by)
    way = direction(by)
    if way is None:
        return (f"Ranked by {escape(name)}, which describes a DA rather than grades it, so the ranking "
                "recommends none.")
    best, names = records[0], [f"<b>{escape(str(r.get(label)))}</b>" for r in records]
    level = f"{'lowest' if way == 'lower' else 'highest'} {escape(name)}, {_with_interval(best, by)}"
    if best.get(_NEXT) is not None:
        ties = leading_ties([r.get(_NEXT) for r in records])
        if ties == 0:
            return (f"Use {names[0]}: it has the {level}, and a paired test tells it from the next DA, "
                    f"{names[1]} (Holm-corrected p = {_p(best.get('p_next'))}).")
        tied = _join(names[1:ties + 1])
        text = (f"Use {names[0]}, or equally {tied}: {names[0]} has the {level}, but paired tests do not tell "
                f"{'it' if ties == 1 else 'them'} apart (p = {', '.join(_p(r.get('p_next')) for r in records[:ties])})")
        rest = len(records) - ties - 1
        if rest == 0:
            return text + "; no DA in this ranking is told from the best."
        return (text + f"; they are ahead of the other {rest} DA{'s' * (rest > 1)} "
                f"(p = {_p(records[ties].get('p_next'))}).")
    ci = best.get(f"{by}_ci")
    if ci is not None and (len(ci) != 2 or None in ci):  # an interval was due but the images were too few
        return (f"{names[0]} has the {level}, but no interval yet: too few images to say how sure this is "
                "(see the notes), so this is no recommendation.")
    if not ci or len(records) < 2:
        return f"{names[0]} has the {level}."
    # a neighbour without an interval cannot be told from the best either
    overlap = [n for r, n in zip(records[1:], names[1:])
               if not r.get(f"{by}_ci") or None in r[f"{by}_ci"] or _overlaps(ci, r[f"{by}_ci"])]
    if not overlap:
        return f"Use {names[0]}: it has the {level}, and its interval overlaps no other DA's."
    return (f"{names[0]} has the {level}; the intervals of {_join(overlap)} overlap it, so this table alone "
            "(no paired test) does not tell them apart.")


def _join(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _overlaps(a: Sequence[Any], b: Sequence[Any]) -> bool:
    return None not in (*a, *b) and a[0] <= b[1] and b[0] <= a[1]


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
    if _present(records, "n_images"):
        counts = sorted({r["n_images"] for r in records if r.get("n_images") is not None})
        parts.append(f"{fmt(counts[0])} images per DA" if len(counts) == 1
                     else f"{fmt(counts[0])} to {fmt(counts[-1])} images per DA")
    if shared("seed") is not None and parts:
        parts.append(f"seed {shared('seed')}")
    return f'<p class="setting">{escape(" · ".join(parts))}</p>' if parts else ""


# --------------------------------------------------------------------------- tables

def _header(column: str) -> str:
    """A column's readable name, with its unit and which way is better under it, and its meaning on hover."""
    from .plot import short_name, unit
    from .report import COLUMNS

    if column == _NEXT:
        return f'<th data-col="{_NEXT}" title="paired test against the next DA">vs next<br><span class="u">p-value</span></th>'
    way = direction(column)
    note = " · ".join(filter(None, [unit(column), way and f"{way} better"]))
    meaning = (COLUMNS.get(column) or (OUTCOMES.get(column),))[0] or ""
    return (f'<th data-col="{escape(column)}" title="{escape(meaning)}">{escape(short_name(column))}'
            + (f'<br><span class="u">{escape(note)}</span>' if note else "") + "</th>")


def _cell(record: dict, column: str) -> str:
    """A value over its 95% interval (or its ± sd over seeds); "≠"/"≈" over the p-value for the next-DA test."""
    value = record.get(column)
    if column == _NEXT:
        mark = "–" if value is None else ("≠" if value else "≈")
        return f'<td><span class="v">{mark}</span><br><span class="p">{escape(_p(record.get("p_next")))}</span></td>'
    parts = [f'<span class="v">{escape(fmt(value))}</span>']
    ci, sd = record.get(f"{column}_ci"), record.get(f"{column}_std")
    if ci is not None:
        parts.append(f'<br><span class="ci">{escape(fmt(ci))}</span>')
    elif sd is not None:
        parts.append(f'<br><span class="sd">± {escape(fmt(sd))}</span>')
    return "<td>" + "".join(parts) + "</td>"


def records_table(records: Sequence[dict], columns: Sequence[str], *, label: str = "da", ranked: bool = True,
                  cls: str = "stats", lead: int = 0) -> str:
    """An HTML table, one row per record: rank, ``label``, then each column's cell (:func:`_cell`);
    the first ``lead`` rows (the best and its ties) are highlighted."""
    name = "DA" if label.lower() == "da" else label
    head = ("<th>#</th>" if ranked else "") + f'<th class="da" data-col="{escape(label)}">{escape(name)}</th>'
    head += "".join(_header(c) for c in columns)
    rows = []
    for i, r in enumerate(records, 1):
        unranked = r.get("rank", i) is None  # a DA without a value is listed, not ranked
        cells = (f"<td>{'–' if unranked else i}</td>" if ranked else "") + f'<td class="da">{escape(fmt(r.get(label)))}</td>'
        rows.append(f'<tr{" class=lead" if i <= lead else ""}>' + cells + "".join(_cell(r, c) for c in columns)
                    + "</tr>")
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _table_columns(records: Sequence[dict], by: str, label: str) -> tuple[list[str], list[str]]:
    """The ranking table's columns (the ranked statistic, T. stddev, the students' outcomes, images, the
    next-DA test) and the other statistics', each only when some record has a value."""
    from .report import COLUMNS

    known = set(COLUMNS) | set(OUTCOMES) | {_NEXT}
    if not any(_present(records, c) for c in known):  # a table of the user's own (dastat correlate)
        keys = [k for k in dict.fromkeys(k for r in records for k in r) if k not in (label, "provenance")]
        return [k for k in keys if not k.endswith(("_ci", "_std")) and _present(records, k)], []
    main = [c for c in dict.fromkeys([by, "t_stddev", "test_loss", "test_acc", "n_seeds", "n_images", _NEXT])
            if _present(records, c)]
    others = [c for c in COLUMNS if c not in main and _present(records, c)]
    return main, others


def _stats_section(records: Sequence[dict], by: str, label: str, ranked: bool, lead: int) -> str:
    from .report import COLUMNS

    main, others = _table_columns(records, by, label)
    parts = [f"<h2>{'Ranking' if ranked else 'Results'}</h2>",
             records_table(records, main, label=label, ranked=ranked, lead=lead)]
    if others:
        parts += ["<h2>Other statistics</h2>", '<p class="note">Each cell: the estimate over its 95% interval.</p>',
                  records_table(records, others, label=label, ranked=ranked, cls="companions", lead=lead)]
    parts.append(_glossary([c for c in (*main, *others) if c in COLUMNS or c in OUTCOMES or c == _NEXT]))
    return "".join(parts)


def _glossary(columns: Sequence[str]) -> str:
    from .plot import short_name
    from .report import COLUMNS

    items = []
    for c in columns:
        if c == _NEXT:
            items.append("<dt>vs next</dt><dd>a paired test of this DA against the next one in the ranking "
                         "(Holm-corrected over adjacent pairs): ≠ when p &lt; 0.05, ≈ when not</dd>")
            continue
        text, describes = COLUMNS.get(c, (OUTCOMES.get(c), None))
        way = f"{direction(c)} is better" if direction(c) else describes
        items.append(f"<dt>{escape(short_name(c))} <code>{escape(c)}</code></dt><dd>{escape(text)}"
                     + (f"; {escape(way)}" if way else "") + "</dd>")
    return f"<h3>What the columns mean</h3><dl>{''.join(items)}</dl>" if items else ""


def _coefficient_cell(c: dict, key: str) -> str:
    parts = [f'<span class="v">{escape(fmt(c.get(key)))}</span>',
             f'<br><span class="p">p = {escape(_p(c.get(f"{key}_p")))}</span>']
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
            r.pop(_NEXT, None), r.pop("p_next", None)
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


def ranking_html(ranking: Any) -> str:
    """A notebook's view of a ``Ranking`` (``_repr_html_``): the verdict and the ranking table."""
    records = ranking.to_records()
    by = next((r["rank_by"] for r in records if r.get("rank_by")), "t_stddev")
    ranked = any("rank_by" in r for r in records)
    columns = [c for c in (by, "n_images", _NEXT) if _present(records, c)]
    verdict = recommendation(records, by) if ranked else ""
    lead = 1 + leading_ties_of(records) if ranked and direction(by) else 0
    return ((f"<p>{verdict}</p>" if verdict else "")
            + records_table(records, columns, ranked=ranked, lead=lead)
            + f"<p><small>{ranking.total_forward:,} model forwards, {ranking.seconds:.1f} s; each cell: the "
              "estimate over its 95% interval</small></p>")


def tune_html(result: Any) -> str:
    """A notebook's view of a ``TuneResult`` (``_repr_html_``): the best candidate and one row per candidate."""
    s = result.settings
    columns = [c for c in ("t_stddev", "status", "eliminated_after", "n_forward") if _present(result.records, c)]
    return (f"<p>Best: <b>{escape(str(result.best))}</b>; stopped: {escape(str(s.get('stopped')))}; "
            f"{result.total_forward:,} model forwards (scoring every candidate to the budget: "
            f"{result.full_scoring_forward:,})</p>"
            + records_table(result.records, columns, label="candidate", ranked=False, cls="tune"))


def leading_ties_of(records: Sequence[dict]) -> int:
    """The DAs after the best that paired tests do not tell from it (0 without tests)."""
    from .plot import leading_ties

    return leading_ties([r.get(_NEXT) for r in records]) if records and records[0].get(_NEXT) is not None else 0
