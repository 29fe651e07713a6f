"""Rankings drawn: horizontal bars or a forest of intervals, best first, the DAs that paired tests do
not tell from the best highlighted and each row marked against the next."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from ..display import format_p, leading_ties, short_name
from ..errors import UserError
from ..stats.columns import direction
from ..tables import read_frame
from .common import OKABE_ITO, axis_label, error_bars, panels, resolve_label, setting_text, styled

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _ranked(records: Any, by: str, label: str, where):
    """The records best first by ``by`` (every row must have a value): the frame, its label column, the values
    and their error bars (``error_bars``' ``(err, kind)``)."""
    frame = read_frame(records, where, [by], numbers=[by])
    label = resolve_label(frame, label)
    if frame[by].isna().any():
        raise UserError(f"column {by!r} must have a value in every row; remove the empty rows")
    frame = frame.sort_values(by, ascending=direction(by) != "higher", kind="stable").reset_index(drop=True)
    values = frame[by].to_numpy()
    err, kind = error_bars(frame, by, values)
    return frame, label, values, err, kind


def ranking_bars(records: Any, by: str = "t_stddev", *, label: str = "da",
                 where: Iterable[str] | str | None = None, from_zero: bool | None = None,
                 title: str | None = None, xlabel: str | None = None, setting: dict | None = None,
                 ax: "Axes | None" = None) -> "Figure":
    """A ranking as horizontal bars with confidence intervals, best at the top.

    Parameters
    ----------
    records
        A DataFrame, a list of dicts, or a path to what ``dastat rank --json`` (or ``--out``) wrote.
    by
        The column to rank by (default ``t_stddev``); its interval ``<by>_ci`` draws the error bars.
        Best is lowest or highest as :func:`dastat.stats.direction` says (lowest when it says neither).
    label
        Column naming each bar (default ``da``).
    from_zero
        Start the axis at 0. By default it does unless the values differ by less than half the
        largest, when the axis zooms in on them (and its label says so) so the differences show.
    setting
        What the title names (``teacher``, ``data``, ``protocol``, ...), beside the shared columns.
    ax
        Draw into these axes instead of a new figure.

    When the records carry ``distinct_from_next`` (``dastat rank``'s paired test against the
    next DA), a bar told apart from the next one is marked "≠ next" with its ``p_next``.

    Examples
    --------
    >>> fig = ranking_bars([{"da": "identity", "t_stddev": 0.016}, {"da": "cutmix", "t_stddev": 0.013}])
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['cutmix', 'identity']
    """
    frame, label, values, err, kind = _ranked(records, by, label, where)
    low = values - (err[0] if err is not None else 0)
    high = values + (err[1] if err is not None else 0)
    if from_zero is None:
        from_zero = not (values.min() > 0 and values.min() > 0.5 * values.max())
    with styled():
        fig, (ax,) = panels(1, 1, ax, size=(7.4, 1.4 + 0.42 * len(frame)))
        pos = np.arange(len(frame))
        ax.barh(pos, values, color=OKABE_ITO[3], alpha=0.85, height=0.68, gid="bars")
        if err is not None:
            ax.errorbar(values, pos, xerr=err, fmt="none", ecolor="0.15", elinewidth=1, capsize=3, zorder=3,
                        gid="errorbars")
        ax.set_yticks(pos, frame[label].astype(str).tolist())
        ax.invert_yaxis()  # rank 1 at the top
        ax.grid(axis="y", visible=False)
        span = float(np.nanmax(high) - np.nanmin(low)) or abs(float(values.max())) or 1.0
        right = float(np.nanmax(high)) + 0.45 * span
        left = min(0.0, float(np.nanmin(low)) - 0.05 * span) if from_zero else float(np.nanmin(low)) - 0.15 * span
        ax.set_xlim(left, right)
        marks = _next_marks(frame)
        for p, v, h, mark in zip(pos, values, high, marks):
            ax.text(h + 0.02 * span, p, f"{v:.4g}{mark}", va="center", fontsize="x-small", color="0.2", gid="value")
        text = xlabel or axis_label(by)
        ax.set_xlabel(text + ("" if from_zero else "; axis not from 0"))
        heading = title or f"Data augmentations ranked by {short_name(by)}" + (", best first" if direction(by) else "")
        context = ", ".join(filter(None, [setting_text(frame, setting), kind and f"bars: {kind}"]))
        ax.set_title(heading + (f"\n{context}" if context else ""))
        if any(marks):
            note = ("≠ next: a paired test tells this DA from the next one (Holm-corrected p < 0.05); "
                    "≈ next: it does not")
            if len(fig.axes) == 1:
                fig.supxlabel(note, fontsize="small", color="0.3")
            else:  # a caller's figure: the note goes under this panel's own label
                ax.set_xlabel(f"{ax.get_xlabel()}\n{note}")
    return fig


def ranking_forest(records: Any, by: str = "t_stddev", *, label: str = "da",
                   where: Iterable[str] | str | None = None, title: str | None = None, xlabel: str | None = None,
                   setting: dict | None = None, ax: "Axes | None" = None) -> "Figure":
    """A ranking as a forest plot: one dot per DA at its value with its 95% interval as a line, best at the top.

    Position, not length, carries the value, so the axis spans the intervals rather than starting at
    0 and differences read true. The best DA's interval is shaded across the plot, so whose
    intervals reach it shows at a glance; when the records carry ``dastat rank``'s paired test
    against the next DA (``distinct_from_next``, ``p_next``), the best and the DAs the chain of
    tests does not tell from it (:func:`leading_ties`) are drawn in blue, and each row is marked
    "≠ next" or "≈ next" with its p-value. Arguments are those of :func:`ranking_bars`.

    >>> fig = ranking_forest([{"da": "identity", "t_stddev": 0.016, "t_stddev_ci": [0.015, 0.017]},
    ...                       {"da": "cutmix", "t_stddev": 0.013, "t_stddev_ci": [0.0125, 0.0135]}])
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['cutmix', 'identity']
    """
    frame, label, values, err, kind = _ranked(records, by, label, where)
    low, high = (values - err[0], values + err[1]) if err is not None else (values, values)
    marks = _next_marks(frame)
    ties = leading_ties(list(frame["distinct_from_next"])) if "distinct_from_next" in frame.columns else 0
    # A statistic with no better direction has no best to highlight.
    leaders = 0 if direction(by) is None else ties + 1 if any(marks) else 1
    with styled():
        fig, (ax,) = panels(1, 1, ax, size=(7.6, 1.3 + 0.36 * len(frame)))
        pos = np.arange(len(frame))
        colors = [OKABE_ITO[3] if i < leaders else "0.35" for i in pos]
        if err is not None and leaders:
            ax.axvspan(low[0], high[0], color=OKABE_ITO[3], alpha=0.12, lw=0, gid="best_interval")
            ax.hlines(pos, low, high, colors=colors, lw=2, gid="intervals")
        ax.scatter(values, pos, c=colors, s=34, zorder=3, edgecolors="white", linewidths=0.6, gid="points")
        ax.set_yticks(pos, frame[label].astype(str).tolist())
        ax.set_ylim(len(frame) - 0.5, -0.5)  # rank 1 at the top
        ax.grid(axis="y", visible=False)
        span = float(np.nanmax(high) - np.nanmin(low)) or abs(float(values.max())) or 1.0
        ax.set_xlim(float(np.nanmin(low)) - 0.06 * span, float(np.nanmax(high)) + 0.06 * span)
        right = ax.get_yaxis_transform()  # x in axes fraction, y in data: a column of text beside the plot
        for p, v, mark in zip(pos, values, marks):
            ax.text(1.02, p, f"{v:#.4g}{mark}", transform=right, va="center", fontsize="x-small", color="0.2",
                    gid="value")
        ax.set_xlabel(xlabel or axis_label(by))
        heading = title or f"Data augmentations ranked by {short_name(by)}" + (", best first" if direction(by) else "")
        bars = kind and f"dot: estimate, line: {kind}"
        context = ", ".join(filter(None, [setting_text(frame, setting), bars]))
        ax.set_title(heading + (f"\n{context}" if context else ""), loc="left")
        notes = []
        if err is not None and leaders:
            notes.append("shaded: the best DA's interval")
        if any(marks) and leaders:
            notes.append("blue: the best and the DAs paired tests do not tell from it")
        if any(marks):
            notes.append("≠/≈ next: a paired test does/does not tell a DA from the next (Holm-corrected, 0.05)")
        if notes:
            fig.supxlabel("; ".join(notes), fontsize="x-small", color="0.3", wrap=True)
    return fig


def _next_marks(frame: "pd.DataFrame") -> list[str]:
    """"  ≠ next (p = 0.003)" / "  ≈ next (p = 0.41)" per row from ``distinct_from_next``/``p_next``."""
    if "distinct_from_next" not in frame.columns:
        return [""] * len(frame)
    marks = []
    for flag, p in zip(frame["distinct_from_next"], frame.get("p_next", [None] * len(frame))):
        if flag is None or (isinstance(flag, float) and math.isnan(flag)):
            marks.append("")
            continue
        pv = "" if p is None or (isinstance(p, float) and math.isnan(p)) else f" (p = {format_p(float(p))})"
        marks.append(f"  {'≠' if bool(flag) else '≈'} next{pv}")
    return marks
