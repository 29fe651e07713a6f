"""Human-readable output of scores: the terminal table and the Markdown report."""

from __future__ import annotations

import json
import math
from typing import Any, Sequence

from .scoring import ScoreResult
from .display import text_table
from .stats.columns import COLUMNS, SCORES, direction


def better(name: str) -> str:
    """``lower is better``, ``higher is better``, or what the statistic describes when neither is."""
    way = direction(name)
    return f"{way} is better" if way else (name in COLUMNS and COLUMNS[name].context or "context")


def _num(value: Any, fmt: str = ".5f") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return format(value, fmt)


def format_table(results: Sequence[ScoreResult], *, ranked: bool = True) -> str:
    """A plain-text table: one row per DA, T. stddev with its 95% interval, companions, and what it cost
    (the originals it used, ``images``, and the model forwards on them and their views, ``forwards``)."""
    with_student = any(r.extra.get("ce_cov") is not None for r in results)
    ce_name = "ce_cov" if with_student else "ce_cov_t"
    header = ["#", "DA", "T. stddev", "95% CI", "±%"]
    if ranked:
        header.append("≠next")
    header += ["entropy", ce_name, "affinity", "KL view", "order viol.", "images", "forwards", "s"]
    rows = []
    for i, r in enumerate(results, 1):
        lo, hi = r.t_stddev_ci
        half = r.relative_half_width
        rank = r.extra.get("rank", i) if ranked else "-"  # a DA without a value has rank None: "–"
        row = ["–" if rank is None else str(rank), r.da, _num(r.t_stddev), f"[{_num(lo)}, {_num(hi)}]",
               _num(100 * half if math.isfinite(half) else None, ".1f")]
        if ranked:
            flag = r.extra.get("distinct_from_next")
            row.append("" if flag is None else "yes" if flag else "no")
        row += [_num(r.teacher_entropy, ".3f"), _num(r.get(ce_name), ".3e"), _num(r.get("affinity"), ".3f"),
                _num(r.get("kl_view"), ".4f"), _num(r.get("order_violation"), ".3f"),
                f"{r.n_images:,}", f"{r.n_forward:,}", f"{r.seconds:.1f}"]
        rows.append(row)
    return text_table(header, rows, left=(1,), rule=True)


def summary_line(results: Sequence[ScoreResult]) -> str:
    if not results:
        return ""
    r = results[0]
    what = f"{r.protocol} protocol"
    if r.protocol == "paper":
        what += f", {r.extra.get('epochs')} epochs"
    else:
        budget = r.extra.get("max_images")
        what += (f", until ±{100 * r.extra.get('precision', 0):.1f}% or a budget per DA of {budget:,} images or "
                 f"{2 * budget:,} model forwards, whichever comes first")
    line = (f"teacher {r.teacher} on {r.data}; {what}; seed {r.seed}. "
            f"{direction('t_stddev').capitalize()} T. stddev is better; 95% intervals.")
    if "distinct_from_next" in r.extra:
        line += (" ≠next: shown more than 4% apart from the next DA (paired jackknife t-test on common images, "
                 "Holm-corrected, level 0.05).")
    return line


def markdown_report(results: Sequence[ScoreResult], *, ranked: bool = True, provenance: dict | None = None) -> str:
    """A self-contained Markdown report: the ranking, every statistic with its interval, a glossary, and
    how the run was made (``provenance``, as :func:`dastat.provenance.provenance` records it)."""
    names = [n for n in SCORES if any(r.get(n) is not None for r in results)]
    from .budget import notes

    out = ["# dastat report", "", summary_line(results), "", "## Ranking", "", "```",
           format_table(results, ranked=ranked), "```", ""]
    out += [f"- {note}" for note in notes(results)] + ([""] if notes(results) else [])
    out += ["## Every statistic with its 95% interval", ""]
    out.append("| DA | " + " | ".join(names) + " |")
    out.append("|---" * (len(names) + 1) + "|")
    for r in results:
        cells = []
        for n in names:
            value = r.get(n)
            ci = r.get(f"{n}_ci")
            if value is None:
                cells.append("–")
            elif ci:
                cells.append(f"{value:.4g} [{ci[0]:.4g}, {ci[1]:.4g}]")
            else:
                cells.append(f"{value:.4g}")
        out.append(f"| {r.da} | " + " | ".join(cells) + " |")
    out += ["", "## What the columns mean", ""]
    out += [f"- **{n}** — {COLUMNS[n].description} ({better(n)})." for n in names]
    if ranked and results and "rank_by" in results[0].extra:
        out += ["", f"Ranked by `{results[0].extra['rank_by']}`. *≠next* compares each DA with the one ranked "
                "below it: a paired delete-one-section jackknife t-test on the difference (all DAs saw the same "
                "images and base views), Holm–Bonferroni corrected over the adjacent pairs, level 0.05."]
    out += ["", "Intervals: delete-one-section jackknife over 32 sections of independent units, Student t; those of "
            "statistics that cannot be negative are drawn on the log scale (shares: the logit scale), so they "
            "stay within their bounds.", ""]
    if provenance:
        out += ["## Provenance", "", "```json", json.dumps(provenance, indent=2, default=str), "```", ""]
    return "\n".join(out)


