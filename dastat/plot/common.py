"""What the figures share: the Okabe–Ito palette, readable axis labels, reading a table into a frame,
error bars from its interval or sd columns, seaborn's style while drawing, panels on the Agg
canvas, and atomic saving."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..errors import UserError
from ..io import atomic_path
from ..stats.columns import column, direction
from ..tables import interval_columns, numeric

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


#: File suffixes :func:`save_figure` writes, and the format each selects.
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}

#: The Okabe–Ito palette: eight colours told apart with every common colour-vision deficiency.
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#F0E442", "#000000")


def axis_label(name: str) -> str:
    """A readable axis label for a column, with its unit and which direction is better where known.

    >>> axis_label("t_stddev"), axis_label("test_acc"), axis_label("width")
    ('T. stddev (lower is better)', 'student test top-1 (%, higher is better)', 'width')
    >>> axis_label("test_loss")
    'student test loss\\n(cross-entropy (nats), lower is better)'
    """
    found = column(name)
    label, unit = (found.label, found.unit) if found else (name, None)
    better = direction(name)
    notes = [n for n in (unit, f"{better} is better" if better else None) if n]
    text = f"{label} ({', '.join(notes)})" if notes else label
    # A long label takes two lines, so that it fits beside a panel's axis.
    return text.replace(" (", "\n(", 1) if len(text) > 44 else text


def resolve_label(frame: "pd.DataFrame", label: str) -> str:
    """``label`` itself, or its only case-insensitive match (``da`` finds the paper's ``DA``)."""
    if label in frame.columns:
        return label
    matches = [c for c in frame.columns if str(c).lower() == label.lower()]
    if len(matches) == 1:
        return matches[0]
    raise UserError(f"there is no label column {label!r}; the table has {', '.join(map(str, frame.columns))}")


def error_bars(frame: "pd.DataFrame", column: str, values: np.ndarray) -> tuple[np.ndarray | None, str]:
    """A (2, n) array of distances below and above each value (None when the table has no spread),
    and what the bars are: ``"95% CI"`` (or the interval's level when the table names it) or ``"±1 sd"``."""
    interval = interval_columns(frame, column)
    if interval is not None:
        low, high = interval
        err, kind = np.vstack([values - low, high - values]), "95% CI"
    elif f"{column}_std" in frame.columns:
        std = numeric(frame[f"{column}_std"], f"{column}_std").to_numpy()
        err, kind = np.vstack([std, std]), "±1 sd"
    else:
        return None, ""
    # A missing bound draws no bar on that side; a bound on the wrong side of the value, none either.
    err = np.where(np.isfinite(err), np.maximum(err, 0.0), 0.0)
    return (err, kind) if err.any() else (None, "")


def shared_value(frame: "pd.DataFrame", *columns: str) -> str | None:
    """The one value the rows share in the first of ``columns`` the table has, else None."""
    for col in columns:
        if col in frame.columns:
            vals = frame[col].dropna().astype(str).unique()
            return vals[0] if len(vals) == 1 and vals[0] else None
    return None


def setting_text(frame: "pd.DataFrame", setting: dict | None = None) -> str:
    """"teacher X on Y, student Z, recipe R, N seeds" from ``setting`` or the columns the rows share."""
    setting = {k: v for k, v in (setting or {}).items() if v not in (None, "")}
    get = lambda key, *cols: setting.get(key) or shared_value(frame, *(cols or (key,)))  # noqa: E731
    teacher, data, student = get("teacher"), get("data"), get("student")
    recipe, protocol, seeds = get("recipe"), get("protocol"), get("seeds", "n_seeds", "seeds")
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


def styled():
    """seaborn's whitegrid style and notebook context, for the duration of a drawing."""
    import contextlib

    import seaborn as sns

    stack = contextlib.ExitStack()
    stack.enter_context(sns.axes_style("whitegrid"))
    stack.enter_context(sns.plotting_context("notebook", font_scale=0.85))
    return stack


def palette(labels: Sequence[Any]) -> dict[Any, Any]:
    """One Okabe–Ito colour per label (they repeat after eight; every point is named anyway)."""
    unique = list(dict.fromkeys(labels))
    return {v: OKABE_ITO[i % len(OKABE_ITO)] for i, v in enumerate(unique)}


def panels(n: int, col_wrap: int, ax: "Axes | None", size: tuple[float, float] = (5.4, 4.6)
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


def renderer(fig: "Figure"):
    """The renderer of ``fig``'s canvas after a draw, so that text extents are final."""
    fig.canvas.draw()
    get = getattr(fig.canvas, "get_renderer", None)
    if get is not None:
        return get()
    from matplotlib.backend_bases import _get_renderer

    return _get_renderer(fig)


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
