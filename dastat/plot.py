"""Figures from saved results: the paper's scatter of T. stddev against the student, and rankings.

Nothing here needs a model; both functions read the tables the other commands write:

- :func:`scatter` draws one labelled point per DA, with error bars, a least-squares line
  and the Pearson, Spearman and Kendall tau-b coefficients with their p-values in the
  legend (the paper's figure). With ``group=`` it draws one panel per setting.
- :func:`ranking_bars` draws a ranking (``dastat rank --json``) as horizontal bars with
  their confidence intervals, best at the top (by :func:`dastat.stats.direction`).

Error bars come from the table when it has them: an interval ``<col>_ci`` (``[low,
high]`` as JSON lists or strings) or ``<col>_ci_low``/``<col>_ci_high``; otherwise
``<col>_std`` (plus or minus one standard deviation, e.g. over seeds). :func:`save_figure`
writes PNG, SVG or PDF by the suffix, atomically.

matplotlib and seaborn are imported when a figure is drawn, not with the module; figures
are built with ``matplotlib.figure.Figure`` on the Agg canvas (no pyplot, no backend switch),
so they render without a display and leave a notebook's backend alone; seaborn's style is
applied only while drawing. Colours are the colour-blind-safe Okabe–Ito palette.

>>> rows = [{"da": "identity", "t_stddev": 0.0150, "test_loss": 1.31},
...         {"da": "cutout", "t_stddev": 0.0140, "test_loss": 1.27},
...         {"da": "cutmix", "t_stddev": 0.0120, "test_loss": 1.22}]
>>> fig = scatter(rows, x="t_stddev", y="test_loss")
>>> [t.get_text() for t in fig.axes[0].texts if t.get_gid() == "label"]
['identity', 'cutout', 'cutmix']
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from .analysis import _numeric, _require_columns, apply_where, correlate, interval_columns, read_table
from .display import NAMES, format_p, leading_ties, short_name
from .errors import UserError
from .io import atomic_path
from .stats.direction import direction

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["scatter", "ranking_bars", "ranking_forest", "save_figure", "FORMATS", "axis_label"]

#: File suffixes :func:`save_figure` writes, and the format each selects.
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}

#: The Okabe–Ito palette: eight colours told apart with every common colour-vision deficiency.
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#F0E442", "#000000")


def axis_label(column: str) -> str:
    """A readable axis label for a column, with its unit and which direction is better where known.

    >>> axis_label("t_stddev"), axis_label("test_acc"), axis_label("width")
    ('T. stddev (lower is better)', 'student test top-1 (%, higher is better)', 'width')
    >>> axis_label("test_loss")
    'student test loss\\n(cross-entropy (nats), lower is better)'
    """
    name, unit = NAMES.get(column.lower().replace(". ", "_"), (column, None))
    better = direction(column)
    notes = [n for n in (unit, f"{better} is better" if better else None) if n]
    text = f"{name} ({', '.join(notes)})" if notes else name
    # A long label takes two lines, so that it fits beside a panel's axis.
    return text.replace(" (", "\n(", 1) if len(text) > 44 else text


# --------------------------------------------------------------------------- helpers

def _frame(data: Any, where: Iterable[str] | str | None, columns: Sequence[str]) -> "pd.DataFrame":
    frame = apply_where(read_table(data), where)
    _require_columns(frame, columns)
    return frame.reset_index(drop=True)


def _resolve_label(frame: "pd.DataFrame", label: str) -> str:
    """``label`` itself, or its only case-insensitive match (``da`` finds the paper's ``DA``)."""
    if label in frame.columns:
        return label
    matches = [c for c in frame.columns if str(c).lower() == label.lower()]
    if len(matches) == 1:
        return matches[0]
    raise UserError(f"there is no label column {label!r}; the table has {', '.join(map(str, frame.columns))}")


def _errors(frame: "pd.DataFrame", column: str, values: np.ndarray) -> tuple[np.ndarray | None, str]:
    """A (2, n) array of distances below and above each value (None when the table has no spread),
    and what the bars are: ``"95% CI"`` (or the interval's level when the table names it) or ``"±1 sd"``."""
    interval = interval_columns(frame, column)
    if interval is not None:
        low, high = interval
        err, kind = np.vstack([values - low, high - values]), "95% CI"
    elif f"{column}_std" in frame.columns:
        std = _numeric(frame[f"{column}_std"], f"{column}_std").to_numpy()
        err, kind = np.vstack([std, std]), "±1 sd"
    else:
        return None, ""
    # A missing bound draws no bar on that side; a bound on the wrong side of the value, none either.
    err = np.where(np.isfinite(err), np.maximum(err, 0.0), 0.0)
    return (err, kind) if err.any() else (None, "")


def _shared(frame: "pd.DataFrame", *columns: str) -> str | None:
    """The one value the rows share in the first of ``columns`` the table has, else None."""
    for col in columns:
        if col in frame.columns:
            vals = frame[col].dropna().astype(str).unique()
            return vals[0] if len(vals) == 1 and vals[0] else None
    return None


def _seeds(frame: "pd.DataFrame") -> str | None:
    return _shared(frame, "n_seeds", "seeds")


def _setting(frame: "pd.DataFrame", setting: dict | None = None) -> str:
    """"teacher X on Y, student Z, recipe R, N seeds" from ``setting`` or the columns the rows share."""
    setting = {k: v for k, v in (setting or {}).items() if v not in (None, "")}
    get = lambda key, *cols: setting.get(key) or _shared(frame, *(cols or (key,)))  # noqa: E731
    teacher, data, student = get("teacher"), get("data"), get("student")
    recipe, protocol, seeds = get("recipe"), get("protocol"), setting.get("seeds") or _seeds(frame)
    parts = []
    if teacher:
        parts.append(f"teacher {teacher}" + (f" on {data}" if data else ""))
    elif data:
        parts.append(str(data))
    parts += [f"student {student}"] if student else []
    parts += [f"recipe {recipe}"] if recipe else []
    parts += [f"{protocol} protocol"] if protocol else []
    parts += [f"{seeds} seed{'s' if str(seeds) != '1' else ''}"] if seeds and student else []
    return ", ".join(map(str, parts))


def _styled():
    """seaborn's whitegrid style and notebook context, for the duration of a drawing."""
    import contextlib

    import seaborn as sns

    stack = contextlib.ExitStack()
    stack.enter_context(sns.axes_style("whitegrid"))
    stack.enter_context(sns.plotting_context("notebook", font_scale=0.85))
    return stack


def _palette(labels: Sequence[Any]) -> dict[Any, Any]:
    """One Okabe–Ito colour per label (they repeat after eight; every point is named anyway)."""
    unique = list(dict.fromkeys(labels))
    return {v: OKABE_ITO[i % len(OKABE_ITO)] for i, v in enumerate(unique)}


# --------------------------------------------------------------------------- scatter

def scatter(results: Any, x: str = "t_stddev", y: str = "test_loss", *, label: str = "da",
            group: str | None = None, where: Iterable[str] | str | None = None, fit: bool = True,
            title: str | None = None, xlabel: str | None = None, ylabel: str | None = None,
            setting: dict | None = None, col_wrap: int = 3, ax: "Axes | None" = None) -> "Figure":
    """The paper's figure: ``y`` against ``x``, one labelled point per row (DA).

    Parameters
    ----------
    results
        A DataFrame, a list of dicts, or a ``.csv``/``.json`` path (what ``dastat validate`` writes).
    x, y
        Columns to plot, e.g. ``t_stddev`` against ``test_loss`` or ``test_acc``.
    label
        Column naming each point (default ``da``; ``DA`` is found too).
    group
        One panel per value of this column (e.g. the paper's ``pair_dataset``), each with its
        own fit and coefficients; panels wrap after ``col_wrap`` columns.
    where
        ``"COLUMN=VALUE"`` conditions that rows must meet (see :func:`dastat.analysis.apply_where`).
    fit
        Draw the least-squares line.
    setting
        What the title names: ``teacher``, ``data``, ``student``, ``recipe``, ``protocol``,
        ``seeds`` (each taken from the table's columns when the rows share one value).
    ax
        Draw into these axes (single panel only) instead of a new figure.

    Error bars: on x from ``<x>_ci`` or ``<x>_ci_low``/``<x>_ci_high`` (else ``<x>_std``);
    on y from ``<y>_ci`` or ``<y>_std`` (e.g. the spread over seeds). The legend gives Pearson
    r, Spearman rho and Kendall tau-b with their two-sided p-values (no bootstrap). A caption
    says what each error bar is. Labels are placed so that no two overlap and none covers a
    point; a label moved away from its point gets a leader line.

    Examples
    --------
    >>> rows = [{"DA": d, "T": t, "L": l} for d, t, l in [("a", 1, 2.0), ("b", 2, 2.5), ("c", 3, 2.7)]]
    >>> fig = scatter(rows, x="T", y="L")
    >>> len(fig.axes[0].collections[-1].get_offsets())
    3
    """
    frame = _frame(results, where, [x, y] + ([group] if group else []))
    label = _resolve_label(frame, label)
    for col in (x, y):
        frame[col] = _numeric(frame[col], col)
    colors = _palette(frame[label].tolist())
    if group is not None and ax is not None:
        raise UserError("a grouped scatter draws one panel per group, so it cannot draw into a given ax")
    panels = [(None, frame)] if group is None else list(frame.groupby(group, sort=False))
    with _styled():
        fig, axes = _panels(len(panels), col_wrap, ax, size=(5.4, 4.6) if group else (6.6, 5.0))
        captions = []
        for a, (key, part) in zip(axes, panels):
            part = part.reset_index(drop=True)
            captions.append((key, _scatter_panel(a, part, x, y, label, colors, fit=fit, group=key)))
            a.set_xlabel(xlabel or axis_label(x))
            a.set_ylabel(ylabel or axis_label(y))
            if key is not None:
                a.set_title(str(key))
        heading = title or f"{short_name(y).capitalize()} against {short_name(x)}, one point per DA"
        context = _setting(frame, setting)
        heading += f"\n{context}" if context else ""
        # Panels whose bars differ (e.g. pairs trained with different numbers of seeds) are captioned one by one.
        bars = captions[0][1] if len({c for _, c in captions}) == 1 else \
            "; ".join(f"{key}: {c}" for key, c in captions if c)
        caption = f"Error bars: {bars}." if bars else ""
        if ax is None:
            fig.suptitle(heading)
            if caption:
                fig.supxlabel(caption, fontsize="small", color="0.3")
        else:
            ax.set_title(heading)
            ax.set_xlabel(ax.get_xlabel() + (f"\n{caption}" if caption else ""))
        renderer = _renderer(fig)
        for a, (_, part) in zip(axes, panels):
            _place_labels(a, part[x].to_numpy(), part[y].to_numpy(), part[label].astype(str).tolist(), renderer)
    return fig


def _panels(n: int, col_wrap: int, ax: "Axes | None", size: tuple[float, float] = (5.4, 4.6)
            ) -> tuple["Figure", list]:
    """A new figure of ``n`` panels of ``size`` inches in rows of ``col_wrap`` (on the Agg canvas),
    or ``ax``'s figure and ``ax``."""
    if ax is not None:
        return ax.figure, [ax]
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ncols = min(n, max(1, int(col_wrap)))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for extra in axes[n:]:
        fig.delaxes(extra)
    return fig, list(axes[:n])


def _renderer(fig: "Figure"):
    """The renderer of ``fig``'s canvas after a draw, so that text extents are final."""
    fig.canvas.draw()
    get = getattr(fig.canvas, "get_renderer", None)
    if get is not None:
        return get()
    from matplotlib.backend_bases import _get_renderer

    return _get_renderer(fig)


def _bar_caption(x: str, y: str, xkind: str, ykind: str, seeds: str | None) -> str:
    """"x, 95% CI of T. stddev; y, ±1 sd of student test loss over 2 seeds" for a panel's bars."""
    parts = []
    for axis, col, kind in (("x", x, xkind), ("y", y, ykind)):
        if kind:
            # A student's outcome varies over training seeds; a teacher statistic's interval does not.
            over = f" over {seeds} seeds" if seeds and "test_" in col.lower() else ""
            parts.append(f"{axis}, {kind} of {short_name(col)}{over}")
    return "; ".join(parts)


def _scatter_panel(ax: "Axes", frame: "pd.DataFrame", x: str, y: str, label: str, colors: dict, *,
                   fit: bool, group: Any) -> str:
    """Draw one panel (bars, fit, points, legend); return the caption of its error bars."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    xs, ys = frame[x].to_numpy(), frame[y].to_numpy()
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        where = "" if group is None else f" in group {group!r}"
        raise UserError(f"columns {x!r} and {y!r} must have a value in every row{where}; remove the empty rows")
    # The statistics first: a degenerate panel (too few points, a constant column) is an error.
    corr = correlate(xs, ys, n_resamples=0, group=group)
    (xerr, xkind), (yerr, ykind) = _errors(frame, x, xs), _errors(frame, y, ys)
    if xerr is not None or yerr is not None:
        ax.errorbar(xs, ys, xerr=xerr, yerr=yerr, fmt="none", ecolor="0.6", elinewidth=1, capsize=2.5,
                    zorder=1, gid="errorbars")
    handles = []
    if fit:
        slope, intercept = np.polyfit(xs, ys, 1)
        grid = np.linspace(xs.min(), xs.max(), 50)
        (line,) = ax.plot(grid, intercept + slope * grid, color="0.25", lw=1.2, ls="--", zorder=2, gid="fit",
                          label="least-squares fit")
        handles.append(line)
    ax.scatter(xs, ys, c=[colors[v] for v in frame[label]], s=46, edgecolors="0.2", linewidths=0.6,
               zorder=3, gid="points")
    for name, symbol, value, p in (("Pearson", "$r$", corr.pearson, corr.pearson_p),
                                   ("Spearman", r"$\rho$", corr.spearman, corr.spearman_p),
                                   ("Kendall", r"$\tau_b$", corr.kendall, corr.kendall_p)):
        handles.append(Line2D([], [], ls="none", label=f"{name} {symbol} = {value:.3f} (p = {format_p(p)})"))
    ax.legend(handles=handles, loc="upper left", fontsize="small", handlelength=1.5, title=f"n = {corr.n}",
              title_fontsize="small")
    # The legend gets a band of its own above the data, so that it hides no point or label
    # whatever the trend.
    low = ys - (yerr[0] if yerr is not None else 0)
    high = ys + (yerr[1] if yerr is not None else 0)
    span = float(high.max() - low.min()) or abs(float(ys.mean())) or 1.0
    ax.set_ylim(float(low.min()) - 0.1 * span, float(high.max()) + 0.65 * span)
    ax.margins(x=0.15)
    # T. stddev is ~1e-3: a shared power of ten keeps the tick labels short enough not to collide.
    ax.ticklabel_format(axis="both", style="sci", scilimits=(-2, 4), useMathText=True)
    ax.xaxis.set_major_locator(MaxNLocator(5))
    return _bar_caption(x, y, xkind, ykind, _seeds(frame))


# Where a label may go, in points from its point: nearest first, then rings further out
# (those get a leader line).
_OFFSETS = [(r * math.cos(t), r * math.sin(t))
            for r in (7, 12, 20, 30, 42, 56, 72)
            for t in np.deg2rad([0, 180, 30, 150, -30, -150, 90, -90, 60, 120, -60, -120])]
_LEADER_FROM = 14.0  # points


def _place_labels(ax: "Axes", xs: np.ndarray, ys: np.ndarray, labels: Sequence[str], renderer) -> None:
    """Name each point where its text overlaps no other label, no marker and not the legend.

    Greedy, densest points first: each label takes the spot of :data:`_OFFSETS` that costs
    least, measured with the texts' own extents on ``renderer``: covering a placed label, a
    marker or the legend, or leaving the axes, costs most; crossing an error bar little, and
    distance from the point a little. One placed far from its point gets a leader line.
    """
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    pts = ax.transData.transform(np.column_stack([xs, ys]))
    scale = renderer.points_to_pixels(1.0)
    radius = 4.5 * scale  # the marker (s=46 is about 6.8 pt across) and a margin
    obstacles = [Bbox.from_extents(px - radius, py - radius, px + radius, py + radius) for px, py in pts]
    legend = ax.get_legend()
    if legend is not None:
        obstacles.append(legend.get_window_extent(renderer))
    frame = ax.get_window_extent(renderer)
    bars = [b for c in ax.collections if c.get_gid() == "errorbars" for b in _segment_boxes(c, scale)]
    crowd = np.array([np.sum(np.hypot(*(pts - p).T) < 40 * scale) for p in pts])
    anns = [ax.annotate(text, (xv, yv), xytext=(0, 0), textcoords="offset points", fontsize="x-small",
                        color="0.1", zorder=4, gid="label", annotation_clip=False)
            for xv, yv, text in zip(xs, ys, labels)]
    for i in np.argsort(-crowd, kind="stable"):
        ann = anns[i]
        ann.set_in_layout(False)
        best, best_cost = None, math.inf
        for dx, dy in _OFFSETS:
            ann.set_position((dx, dy))
            ann.set_ha("left" if dx > 1 else "right" if dx < -1 else "center")
            ann.set_va("bottom" if dy > 1 else "top" if dy < -1 else "center")
            ann.update_positions(renderer)  # the text alone, without the arrow an annotation may have
            box = Text.get_window_extent(ann, renderer).padded(1.5 * scale)
            # Labels, markers and the legend must stay clear; crossing an error bar costs little,
            # and so does each point of distance from the point.
            cost = (100 * sum(_overlap(box, o) for o in obstacles) + 100 * _outside(box, frame)
                    + sum(_overlap(box, o) for o in bars) + 2 * scale * math.hypot(dx, dy))
            if cost < best_cost:
                best, best_cost = (dx, dy, ann.get_ha(), ann.get_va(), box), cost
        dx, dy, ha, va, box = best
        ann.set_position((dx, dy))
        ann.set_ha(ha)
        ann.set_va(va)
        if math.hypot(dx, dy) > _LEADER_FROM:  # far from its point: a leader line says whose it is
            leader = ax.annotate("", (xs[i], ys[i]), xytext=(dx, dy), textcoords="offset points", zorder=3.5,
                                 gid="leader", arrowprops=dict(arrowstyle="-", color="0.45", lw=0.6, shrinkA=0,
                                                               shrinkB=4))
            leader.set_in_layout(False)
        obstacles.append(box)


def _segment_boxes(collection, scale: float) -> list:
    """The display-space boxes of a line collection's segments (error bars), one point wide."""
    from matplotlib.transforms import Bbox

    boxes = []
    for seg in collection.get_segments():
        (x0, y0), (x1, y1) = collection.get_transform().transform(np.asarray(seg)[[0, -1]])
        boxes.append(Bbox.from_extents(min(x0, x1) - scale, min(y0, y1) - scale, max(x0, x1) + scale,
                                       max(y0, y1) + scale))
    return boxes


def _overlap(a, b) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def _outside(box, frame) -> float:
    """The area of ``box`` outside ``frame``."""
    return box.width * box.height - _overlap(box, frame)


# --------------------------------------------------------------------------- ranking

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
    frame = _frame(records, where, [by])
    label = _resolve_label(frame, label)
    frame[by] = _numeric(frame[by], by)
    if frame[by].isna().any():
        raise UserError(f"column {by!r} must have a value in every row; remove the empty rows")
    frame = frame.sort_values(by, ascending=direction(by) != "higher", kind="stable").reset_index(drop=True)
    values = frame[by].to_numpy()
    err, kind = _errors(frame, by, values)
    low = values - (err[0] if err is not None else 0)
    high = values + (err[1] if err is not None else 0)
    if from_zero is None:
        from_zero = not (values.min() > 0 and values.min() > 0.5 * values.max())
    with _styled():
        fig, (ax,) = _panels(1, 1, ax, size=(7.4, 1.4 + 0.42 * len(frame)))
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
        better = direction(by)
        heading = title or f"Data augmentations ranked by {short_name(by)}" + (", best first" if better else "")
        context = ", ".join(filter(None, [_setting(frame, setting), kind and f"bars: {kind}"]))
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
    frame = _frame(records, where, [by])
    label = _resolve_label(frame, label)
    frame[by] = _numeric(frame[by], by)
    if frame[by].isna().any():
        raise UserError(f"column {by!r} must have a value in every row; remove the empty rows")
    frame = frame.sort_values(by, ascending=direction(by) != "higher", kind="stable").reset_index(drop=True)
    values = frame[by].to_numpy()
    err, kind = _errors(frame, by, values)
    low, high = (values - err[0], values + err[1]) if err is not None else (values, values)
    marks = _next_marks(frame)
    ties = leading_ties(list(frame["distinct_from_next"])) if "distinct_from_next" in frame.columns else 0
    # A statistic with no better direction has no best to highlight.
    leaders = 0 if direction(by) is None else ties + 1 if any(marks) else 1
    with _styled():
        fig, (ax,) = _panels(1, 1, ax, size=(7.6, 1.3 + 0.36 * len(frame)))
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
        context = ", ".join(filter(None, [_setting(frame, setting), bars]))
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


# --------------------------------------------------------------------------- saving

def save_figure(fig: "Figure", path: str | os.PathLike, *, dpi: int = 150) -> Path:
    """Write ``fig`` to ``path`` as PNG, SVG or PDF (by the suffix), atomically.

    The figure goes to a temporary file in the same folder, then replaces ``path`` in one
    step, so an interrupted save never leaves a truncated image.
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UserError(f"cannot save {path}: the name must end in {', '.join(FORMATS)}")
    with atomic_path(path, suffix=path.suffix) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")
    return path
