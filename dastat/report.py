"""Human-readable tables of scores: what ``dastat score`` and ``dastat rank`` print."""

from __future__ import annotations

import math
from typing import Sequence

from .scoring import ScoreResult


def _fmt(value: float, digits: int = 5) -> str:
    return "nan" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def format_table(results: Sequence[ScoreResult], *, ranked: bool = True) -> str:
    """A plain-text table: one row per DA, T. stddev with its 95% interval (lower is better)."""
    header = ["#", "DA", "T. stddev", "95% CI", "±%", "entropy", "forwards", "unit", "s"]
    rows = []
    for i, r in enumerate(results, 1):
        lo, hi = r.t_stddev_ci
        half = r.relative_half_width
        rows.append([
            str(i) if ranked else "-",
            r.da,
            _fmt(r.t_stddev),
            f"[{_fmt(lo)}, {_fmt(hi)}]",
            "nan" if not math.isfinite(half) else f"{100 * half:.1f}",
            _fmt(r.teacher_entropy, 3),
            f"{r.n_forward:,}",
            r.unit,
            f"{r.seconds:.1f}",
        ])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    left = {1, 7}

    def line(cells):
        return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    out = [line(header), line(["-" * w for w in widths])] + [line(row) for row in rows]
    return "\n".join(out)


def summary_line(results: Sequence[ScoreResult]) -> str:
    if not results:
        return ""
    r = results[0]
    what = f"{r.protocol} protocol"
    if r.protocol == "paper":
        what += f", {r.extra.get('epochs')} epochs"
    else:
        what += f", target ±{100 * r.extra.get('precision', 0):.1f}% or {r.extra.get('max_images'):,} images per DA"
    return (f"teacher {r.teacher} on {r.data}; {what}; seed {r.seed}. "
            "T. stddev: lower is better (95% intervals, jackknife over sections).")
