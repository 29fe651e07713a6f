"""The paper's figure: one labelled point per DA of a statistic against a student outcome, with error
bars, a least-squares line and the three correlation coefficients in the legend; labels are placed
where they overlap no point, line or other label."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from ..analysis import correlate
from ..display import format_p, short_name
from ..errors import UserError
from ..tables import read_frame
from .common import axis_label, error_bars, palette, panels, renderer, resolve_label, setting_text, shared_value, styled

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


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
        ``"COLUMN=VALUE"`` conditions that rows must meet (see :func:`dastat.tables.apply_where`).
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
    frame = read_frame(results, where, [x, y] + ([group] if group else []), numbers=(x, y))
    label = resolve_label(frame, label)
    colors = palette(frame[label].tolist())
    if group is not None and ax is not None:
        raise UserError("a grouped scatter draws one panel per group, so it cannot draw into a given ax")
    groups = [(None, frame)] if group is None else list(frame.groupby(group, sort=False))
    with styled():
        fig, axes = panels(len(groups), col_wrap, ax, size=(5.4, 4.6) if group else (6.6, 5.0))
        captions = []
        for a, (key, part) in zip(axes, groups):
            part = part.reset_index(drop=True)
            captions.append((key, _scatter_panel(a, part, x, y, label, colors, fit=fit, group=key)))
            a.set_xlabel(xlabel or axis_label(x))
            a.set_ylabel(ylabel or axis_label(y))
            if key is not None:
                a.set_title(str(key))
        heading = title or f"{short_name(y).capitalize()} against {short_name(x)}, one point per DA"
        context = setting_text(frame, setting)
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
        drawn = renderer(fig)
        for a, (_, part) in zip(axes, groups):
            _place_labels(a, part[x].to_numpy(), part[y].to_numpy(), part[label].astype(str).tolist(), drawn)
    return fig


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
    (xerr, xkind), (yerr, ykind) = error_bars(frame, x, xs), error_bars(frame, y, ys)
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
    return _bar_caption(x, y, xkind, ykind, shared_value(frame, "n_seeds", "seeds"))


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
