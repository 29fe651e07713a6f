"""Figures from saved results: the paper's scatter of T. stddev against the student, and rankings.

Nothing here needs a model; both functions read the tables the other commands write:

- :func:`scatter` draws one labelled point per DA, with error bars, a least-squares line
  and the Pearson, Spearman and Kendall tau-b coefficients with their p-values in the
  legend (the paper's figure). With ``group=`` it draws one panel per setting.
- :func:`ranking_bars` draws a ranking (``dastat rank --json``) as horizontal bars with
  their confidence intervals, best (lowest) at the top.

Error bars come from the table when it has them: an interval ``<col>_ci`` (``[low,
high]`` as JSON lists or strings) or ``<col>_ci_low``/``<col>_ci_high``; otherwise
``<col>_std`` (plus or minus one standard deviation, e.g. over seeds). :func:`save_figure`
writes PNG, SVG or PDF by the suffix, atomically.

matplotlib and seaborn are imported when a figure is drawn, not with the module; figures
are built with ``matplotlib.figure.Figure`` (no pyplot), so they render without a display
and leave global state alone; seaborn's style is applied only while drawing.

>>> rows = [{"da": "identity", "t_stddev": 0.0150, "test_loss": 1.31},
...         {"da": "cutout", "t_stddev": 0.0140, "test_loss": 1.27},
...         {"da": "cutmix", "t_stddev": 0.0120, "test_loss": 1.22}]
>>> fig = scatter(rows, x="t_stddev", y="test_loss")
>>> [t.get_text() for t in fig.axes[0].texts]
['identity', 'cutout', 'cutmix']
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from .analysis import _numeric, _require_columns, apply_where, correlate, interval_columns, read_table
from .errors import UserError
from .io import atomic_path

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["scatter", "ranking_bars", "save_figure", "FORMATS", "axis_label"]

#: File suffixes :func:`save_figure` writes, and the format each selects.
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}

# Known columns: a readable name and which direction is better (None: neither).
_KNOWN = {
    "t_stddev": ("T. stddev", "lower"),
    "t. stddev": ("T. stddev", "lower"),
    "test_loss": ("student test loss", "lower"),
    "s_test_loss": ("student test loss", "lower"),
    "test_acc": ("student test accuracy", "higher"),
    "s_test_acc": ("student test accuracy", "higher"),
    "teacher_entropy": ("teacher entropy", None),
    "seconds": ("seconds", None),
    "n_forward": ("teacher forward passes", None),
}


def axis_label(column: str) -> str:
    """A readable axis label for a column, saying which direction is better where that is known.

    >>> axis_label("t_stddev"), axis_label("test_acc"), axis_label("width")
    ('T. stddev (lower is better)', 'student test accuracy (higher is better)', 'width')
    """
    name, better = _KNOWN.get(column.lower(), (column, None))
    return f"{name} ({better} is better)" if better else name


def _short(column: str) -> str:
    return _KNOWN.get(column.lower(), (column, None))[0]


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


def _errors(frame: "pd.DataFrame", column: str, values: np.ndarray) -> np.ndarray | None:
    """A (2, n) array of distances below and above each value, or None when the table has no spread."""
    interval = interval_columns(frame, column)
    if interval is not None:
        low, high = interval
        err = np.vstack([values - low, high - values])
    elif f"{column}_std" in frame.columns:
        std = _numeric(frame[f"{column}_std"], f"{column}_std").to_numpy()
        err = np.vstack([std, std])
    else:
        return None
    # A missing bound draws no bar on that side; a bound on the wrong side of the value, none either.
    err = np.where(np.isfinite(err), np.maximum(err, 0.0), 0.0)
    return err if err.any() else None


def _styled():
    """seaborn's whitegrid style and notebook context, for the duration of a drawing."""
    import contextlib

    import seaborn as sns

    stack = contextlib.ExitStack()
    stack.enter_context(sns.axes_style("whitegrid"))
    stack.enter_context(sns.plotting_context("notebook", font_scale=0.85))
    return stack


def _palette(labels: Sequence[Any]) -> dict[Any, Any]:
    import seaborn as sns

    unique = list(dict.fromkeys(labels))
    colors = sns.color_palette("tab10" if len(unique) <= 10 else "husl", len(unique))
    return dict(zip(unique, colors))


def _pvalue(p: float) -> str:
    if not math.isfinite(p):
        return "nan"
    if p == 0:
        return "0"
    # Three decimals down to 0.01, four below (0.0072, not 0.007), then scientific.
    return f"{p:.3f}" if p >= 0.01 else f"{p:.4f}" if p >= 0.001 else f"{p:.1e}"


# --------------------------------------------------------------------------- scatter

def scatter(results: Any, x: str = "t_stddev", y: str = "test_loss", *, label: str = "da",
            group: str | None = None, where: Iterable[str] | str | None = None, fit: bool = True,
            title: str | None = None, xlabel: str | None = None, ylabel: str | None = None,
            col_wrap: int = 4, ax: "Axes | None" = None) -> "Figure":
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
    ax
        Draw into these axes (single panel only) instead of a new figure.

    Error bars: on x from ``<x>_ci`` or ``<x>_ci_low``/``<x>_ci_high`` (else ``<x>_std``);
    on y from ``<y>_ci`` or ``<y>_std`` (e.g. the spread over seeds). The legend gives Pearson
    r, Spearman rho and Kendall tau-b with their two-sided p-values (no bootstrap).

    Examples
    --------
    >>> rows = [{"DA": d, "T": t, "L": l} for d, t, l in [("a", 1, 2.0), ("b", 2, 2.5), ("c", 3, 2.7)]]
    >>> fig = scatter(rows, x="T", y="L")
    >>> len(fig.axes[0].collections[-1].get_offsets())
    3
    """
    from matplotlib.figure import Figure

    frame = _frame(results, where, [x, y] + ([group] if group else []))
    label = _resolve_label(frame, label)
    for col in (x, y):
        frame[col] = _numeric(frame[col], col)
    colors = _palette(frame[label].tolist())
    if group is None:
        panels = [(None, frame)]
    else:
        if ax is not None:
            raise UserError("a grouped scatter draws one panel per group, so it cannot draw into a given ax")
        panels = list(frame.groupby(group, sort=False))
    with _styled():
        if ax is None:
            ncols = min(len(panels), max(1, int(col_wrap)))
            nrows = math.ceil(len(panels) / ncols)
            fig = Figure(figsize=(4.6 * ncols, 3.9 * nrows), layout="constrained")
            axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
            for extra in axes[len(panels):]:
                fig.delaxes(extra)
        else:
            fig, axes = ax.figure, [ax]
        for a, (key, part) in zip(axes, panels):
            _scatter_panel(a, part.reset_index(drop=True), x, y, label, colors, fit=fit, group=key)
            a.set_xlabel(xlabel or axis_label(x))
            a.set_ylabel(ylabel or axis_label(y))
            if key is not None:
                a.set_title(str(key))
        heading = title or f"{_short(y).capitalize()} against {_short(x)}, one point per DA"
        if group is None:
            axes[0].set_title(heading)
        else:
            fig.suptitle(heading)
    return fig


def _scatter_panel(ax: "Axes", frame: "pd.DataFrame", x: str, y: str, label: str, colors: dict, *,
                   fit: bool, group: Any) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    xs, ys = frame[x].to_numpy(), frame[y].to_numpy()
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        where = "" if group is None else f" in group {group!r}"
        raise UserError(f"columns {x!r} and {y!r} must have a value in every row{where}; remove the empty rows")
    # The statistics first: a degenerate panel (too few points, a constant column) is an error.
    corr = correlate(xs, ys, n_resamples=0, group=group)
    xerr, yerr = _errors(frame, x, xs), _errors(frame, y, ys)
    if xerr is not None or yerr is not None:
        ax.errorbar(xs, ys, xerr=xerr, yerr=yerr, fmt="none", ecolor="0.55", elinewidth=1, capsize=2.5,
                    zorder=1, gid="errorbars")
    handles = []
    if fit:
        slope, intercept = np.polyfit(xs, ys, 1)
        grid = np.linspace(xs.min(), xs.max(), 50)
        (line,) = ax.plot(grid, intercept + slope * grid, color="0.25", lw=1.2, ls="--", zorder=2, gid="fit",
                          label="least-squares fit")
        handles.append(line)
    labels = frame[label].astype(str).tolist()
    ax.scatter(xs, ys, c=[colors[v] for v in frame[label]], s=46, edgecolors="white", linewidths=0.8,
               zorder=3, gid="points")
    _annotate(ax, xs, ys, labels)
    for name, symbol, value, p in (("Pearson", "$r$", corr.pearson, corr.pearson_p),
                                   ("Spearman", r"$\rho$", corr.spearman, corr.spearman_p),
                                   ("Kendall", r"$\tau_b$", corr.kendall, corr.kendall_p)):
        handles.append(Line2D([], [], ls="none", label=f"{name} {symbol} = {value:.3f} (p = {_pvalue(p)})"))
    ax.legend(handles=handles, loc="upper left", fontsize="small", handlelength=1.5, title=f"n = {corr.n}",
              title_fontsize="small")
    # The legend gets a band of its own above the data, so that it hides no point or label
    # whatever the trend.
    low = ys - (yerr[0] if yerr is not None else 0)
    high = ys + (yerr[1] if yerr is not None else 0)
    span = float(high.max() - low.min()) or abs(float(ys.mean())) or 1.0
    ax.set_ylim(float(low.min()) - 0.1 * span, float(high.max()) + 0.65 * span)
    ax.margins(x=0.12)
    # T. stddev is ~1e-3: a shared power of ten keeps the tick labels short enough not to collide.
    ax.ticklabel_format(axis="both", style="sci", scilimits=(-2, 4), useMathText=True)
    ax.xaxis.set_major_locator(MaxNLocator(5))


def _annotate(ax: "Axes", xs: np.ndarray, ys: np.ndarray, labels: Sequence[str]) -> None:
    """Name each point; labels of points that nearly coincide go alternately above and below."""
    span_x = np.ptp(xs) or 1.0
    span_y = np.ptp(ys) or 1.0
    placed: list[tuple[float, float]] = []
    for xv, yv, text in zip(xs, ys, labels):
        crowded = sum(abs(xv - px) < 0.06 * span_x and abs(yv - py) < 0.06 * span_y for px, py in placed)
        dy = 5 if crowded % 2 == 0 else -11
        ax.annotate(text, (xv, yv), xytext=(5, dy), textcoords="offset points", fontsize="x-small",
                    color="0.15", zorder=4, gid="label")
        placed.append((xv, yv))


# --------------------------------------------------------------------------- ranking

def ranking_bars(records: Any, by: str = "t_stddev", *, label: str = "da",
                 where: Iterable[str] | str | None = None, from_zero: bool | None = None,
                 title: str | None = None, xlabel: str | None = None, ax: "Axes | None" = None) -> "Figure":
    """A ranking as horizontal bars with confidence intervals, best (lowest ``by``) at the top.

    Parameters
    ----------
    records
        A DataFrame, a list of dicts, or a path to what ``dastat rank --json`` (or ``--out``) wrote.
    by
        The column to rank by (default ``t_stddev``); its interval ``<by>_ci`` draws the error bars.
    label
        Column naming each bar (default ``da``).
    from_zero
        Start the axis at 0. By default it does unless the values differ by less than half the
        largest, when the axis zooms in on them (and its label says so) so the differences show.
    ax
        Draw into these axes instead of a new figure.

    Examples
    --------
    >>> fig = ranking_bars([{"da": "identity", "t_stddev": 0.016}, {"da": "cutmix", "t_stddev": 0.013}])
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['cutmix', 'identity']
    """
    from matplotlib.figure import Figure

    frame = _frame(records, where, [by])
    label = _resolve_label(frame, label)
    frame[by] = _numeric(frame[by], by)
    if frame[by].isna().any():
        raise UserError(f"column {by!r} must have a value in every row; remove the empty rows")
    frame = frame.sort_values(by, kind="stable").reset_index(drop=True)
    values = frame[by].to_numpy()
    err = _errors(frame, by, values)
    low = values - (err[0] if err is not None else 0)
    high = values + (err[1] if err is not None else 0)
    if from_zero is None:
        from_zero = not (values.min() > 0 and values.min() > 0.5 * values.max())
    with _styled():
        if ax is None:
            fig = Figure(figsize=(7.0, 1.2 + 0.42 * len(frame)), layout="constrained")
            ax = fig.subplots()
        else:
            fig = ax.figure
        import seaborn as sns

        # Best darkest: the colour follows the rank.
        colors = sns.color_palette("crest_r", len(frame))
        pos = np.arange(len(frame))
        ax.barh(pos, values, color=colors, height=0.68, gid="bars")
        if err is not None:
            ax.errorbar(values, pos, xerr=err, fmt="none", ecolor="0.3", elinewidth=1, capsize=3, zorder=3,
                        gid="errorbars")
        ax.set_yticks(pos, frame[label].astype(str).tolist())
        ax.invert_yaxis()  # rank 1 at the top
        ax.grid(axis="y", visible=False)
        span = float(np.nanmax(high) - np.nanmin(low)) or abs(float(values.max())) or 1.0
        right = float(np.nanmax(high)) + 0.28 * span
        if from_zero:
            ax.set_xlim(min(0.0, float(np.nanmin(low)) - 0.05 * span), right)
        else:
            ax.set_xlim(float(np.nanmin(low)) - 0.15 * span, right)
        for p, v, h in zip(pos, values, high):
            ax.text(h + 0.02 * span, p, f"{v:.4g}", va="center", fontsize="x-small", color="0.2", gid="value")
        text = xlabel or axis_label(by)
        if not from_zero:
            text += "; axis not from 0"
        ax.set_xlabel(text)
        heading = title or f"Data augmentations ranked by {_short(by)}, best first"
        context = _ranking_context(frame)
        ax.set_title(heading + (f"\n{context}" if context else ""))
    return fig


def _ranking_context(frame: "pd.DataFrame") -> str:
    """"teacher X on Y, Z protocol" when the records share those fields."""

    def shared(col: str) -> str | None:
        if col in frame.columns:
            vals = frame[col].dropna().astype(str).unique()
            if len(vals) == 1 and vals[0]:
                return vals[0]
        return None

    parts = []
    teacher, data, protocol = shared("teacher"), shared("data"), shared("protocol")
    if teacher:
        parts.append(f"teacher {teacher}" + (f" on {data}" if data else ""))
    elif data:
        parts.append(data)
    if protocol:
        parts.append(f"{protocol} protocol")
    if "t_stddev_ci" in frame.columns or "t_stddev_ci_low" in frame.columns:
        parts.append("95% intervals")
    return ", ".join(parts)


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
