"""Figures from saved results: the paper's scatter of T. stddev against the student, and rankings.

Nothing here needs a model; both functions read the tables the other commands write:

- :func:`scatter` draws one labelled point per DA, with error bars, a least-squares line
  and the Pearson, Spearman and Kendall tau-b coefficients with their p-values in the
  legend (the paper's figure). With ``group=`` it draws one panel per setting.
- :func:`ranking_bars` and :func:`ranking_forest` draw a ranking (``dastat rank --json``)
  as bars or intervals, best at the top (by :func:`dastat.stats.direction`);
- :func:`preview_figure` shows a DA's views beside their originals (``dastat augment preview``).

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

from .common import FORMATS, axis_label, save_figure
from .preview import preview_figure
from .ranking import ranking_bars, ranking_forest
from .scatter import scatter

__all__ = ["FORMATS", "axis_label", "preview_figure", "ranking_bars", "ranking_forest", "save_figure", "scatter"]
