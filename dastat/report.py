"""Human-readable output of scores: the terminal table and the Markdown report."""

from __future__ import annotations

import json
import math
from typing import Any, Sequence

from .scoring import ScoreResult
from .stats.direction import direction

#: What each reported statistic means; which direction is better comes from
#: :func:`dastat.stats.direction`, and the second entry describes a statistic that has none.
COLUMNS: dict[str, tuple[str, str | None]] = {
    "t_stddev": ("T. stddev: sd of the teacher's mean probability over groups of 5 batches of images and their views, "
                 "averaged over classes", None),
    "teacher_entropy": ("mean teacher entropy (nats) over originals and views", None),
    "ce_var": ("Var of the teacher–student cross-entropy q = -Σ p_t log p_s per sample", None),
    "ce_cov": ("Cov of q on an image and q on its view", None),
    "ce_cov_cross": ("mean Cov of q between different images of one batch (shared random draw, shared partners)",
                     None),
    "risk_var": ("variance of the empirical distilled risk of one batch, per image pair", None),
    "ce_var_t": ("ce_var with the student replaced by the teacher (q = teacher entropy)", None),
    "ce_cov_t": ("ce_cov, teacher-only", None),
    "ce_cov_cross_t": ("ce_cov_cross, teacher-only", None),
    "risk_var_t": ("risk_var, teacher-only", None),
    "affinity": ("teacher top-1 on the views ÷ top-1 on the originals (Gontijo-Lopes et al. 2021)",
                 "higher = closer to the clean distribution"),
    "kl_view": ("mean KL(p_t(x) ‖ p_t(x_aug)) between an image and its view", "higher = more diverse views"),
    "order_violation": ("share of mixed views whose teacher order of the two classes contradicts λ "
                        "(Cui & Yan 2021); mixing DAs only", None),
}


def better(name: str) -> str:
    """``lower is better``, ``higher is better``, or what the statistic describes when neither is."""
    way = direction(name)
    return f"{way} is better" if way else (COLUMNS.get(name, ("", None))[1] or "context")


def _num(value: Any, fmt: str = ".5f") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return format(value, fmt)


def _stat(r: ScoreResult, name: str) -> Any:
    return r.get(name)


def _distinct(r: ScoreResult) -> str:
    flag = r.extra.get("distinct_from_next")
    return "" if flag is None else ("yes" if flag else "no")


def _rank_cell(r: ScoreResult, i: int, ranked: bool) -> str:
    if not ranked:
        return "-"
    rank = r.extra.get("rank", i)
    return "–" if rank is None else str(rank)


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
        row = [_rank_cell(r, i, ranked), r.da, _num(r.t_stddev), f"[{_num(lo)}, {_num(hi)}]",
               _num(100 * half if math.isfinite(half) else None, ".1f")]
        if ranked:
            row.append(_distinct(r))
        row += [_num(r.teacher_entropy, ".3f"), _num(_stat(r, ce_name), ".3e"), _num(_stat(r, "affinity"), ".3f"),
                _num(_stat(r, "kl_view"), ".4f"), _num(_stat(r, "order_violation"), ".3f"),
                f"{r.n_images:,}", f"{r.n_forward:,}", f"{r.seconds:.1f}"]
        rows.append(row)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]

    def line(cells):
        return "  ".join(c.ljust(w) if i == 1 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(row) for row in rows])


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
        line += (" ≠next: distinguishable from the next DA (paired jackknife t-test on common images, "
                 "Holm-corrected, level 0.05).")
    return line


def markdown_report(results: Sequence[ScoreResult], *, ranked: bool = True, provenance: dict | None = None) -> str:
    """A self-contained Markdown report: the ranking, every statistic with its interval, a glossary, and
    how the run was made (``provenance``, as :func:`dastat.provenance.provenance` records it)."""
    names = [n for n in COLUMNS if any(_stat(r, n) is not None for r in results)]
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
            value = _stat(r, n)
            ci = _stat(r, f"{n}_ci")
            if value is None:
                cells.append("–")
            elif ci:
                cells.append(f"{value:.4g} [{ci[0]:.4g}, {ci[1]:.4g}]")
            else:
                cells.append(f"{value:.4g}")
        out.append(f"| {r.da} | " + " | ".join(cells) + " |")
    out += ["", "## What the columns mean", ""]
    out += [f"- **{n}** — {COLUMNS[n][0]} ({better(n)})." for n in names]
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


# --------------------------------------------------------------------------- notebook and repr tables

def _text_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: Sequence[int] = (1,)) -> str:
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    return "\n".join("  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
                     .rstrip() for cells in [header, *rows])


def _next_test(record: dict) -> str:
    from .html_report import _p

    flag = record.get("distinct_from_next")
    return "" if flag is None else f"{'≠' if flag else '≈'} p={_p(record.get('p_next'))}"


def ranking_text(ranking: Any) -> str:
    """What ``repr(ranking)`` shows: one line on the run, then one row per DA (value, 95% interval,
    its relative half-width, and the paired test against the next DA), 4 significant digits."""
    from .html_report import fmt
    from .plot import short_name

    records = ranking.to_records()
    by = next((r["rank_by"] for r in records if r.get("rank_by")), "t_stddev")
    ranked = any("rank_by" in r for r in records)
    way = direction(by)
    what = f"Ranking of {len(records)} DAs by {short_name(by)}" if ranked else f"Scores of {len(records)} DAs"
    what += f" ({way} is better, best first)" if ranked and way else ""
    line = f"{what}; 95% intervals; {ranking.total_forward:,} model forwards, {ranking.seconds:.1f} s"
    header = (["#"] if ranked else []) + ["DA", short_name(by), "95% CI", "±%"] + (["vs next"] if ranked else [])
    rows = []
    for i, r in enumerate(records, 1):
        half = r.get("relative_half_width") if by == "t_stddev" else None
        rows.append(([str(i)] if ranked else []) + [str(r.get("da")), fmt(r.get(by)), fmt(r.get(f"{by}_ci")),
                    "–" if half is None else f"{100 * half:.1f}"] + ([_next_test(r)] if ranked else []))
    return line + "\n" + _text_table(header, rows, left=(1, 5) if ranked else (0,))


def tune_text(result: Any) -> str:
    """What ``repr(tune_result)`` shows: the best candidate and why the race stopped, then one row per candidate."""
    from .html_report import fmt

    s = result.settings
    line = (f"Race of {len(result.records)} candidates: best {result.best}; stopped: {s.get('stopped')}; "
            f"{result.total_forward:,} model forwards (scoring every candidate to the budget: "
            f"{result.full_scoring_forward:,})")
    header = ["candidate", "T. stddev", "95% CI", "status", "eliminated after", "forwards"]
    rows = [[str(r["candidate"]), fmt(r["t_stddev"]), fmt(r["t_stddev_ci"]), r["status"],
             fmt(r["eliminated_after"]), fmt(r["n_forward"])] for r in result.records]
    return line + "\n" + _text_table(header, rows, left=(0, 3))
