"""Correlation between T. stddev and how the student did: coefficients, p-values, intervals.

The paper's evidence for T. stddev is a correlation: across the nine DAs of one
teacher/student/dataset setting, T. stddev and the student's test loss rise together.
:func:`correlate` computes the three coefficients the paper reports, each with a
two-sided p-value and a bootstrap confidence interval:

- **Pearson** r, p-value from the exact null distribution for normal data
  (``scipy.stats.pearsonr``);
- **Spearman** rho (Pearson on average ranks, so ties share a rank), p-value exact over
  all pairings up to 9 pairs, else from the t approximation with n - 2 degrees of
  freedom (``scipy.stats.spearmanr``);
- **Kendall tau-b** (ties corrected; scipy's default and the variant whose values the
  paper printed: on its ImageNet setting, which has ties, tau-b = 0.286 rounds to the
  printed 0.29, while tau-a = 0.278 and tau-c = 0.282 do not), p-value exact when there
  are no ties and n is small, otherwise the tie-corrected normal approximation
  (``scipy.stats.kendalltau``).

Small samples are not given numbers they cannot support: Spearman's p-value is exact
(over all n! pairings) up to 9 pairs, where the t approximation is poor (it gives p = 0
for any perfect rank correlation); fewer than 5 pairs get no interval at all.

Intervals come from ``scipy.stats.bootstrap`` over **pairs** (each resample draws n
(x, y) rows with replacement, so the dependence between x and y is kept), seeded, with
the coefficients vectorised over resamples. The default is the bias-corrected and
accelerated (BCa) interval: with nine points and coefficients near 1 the bootstrap
distribution is skewed and biased, which the plain percentile interval ignores;
``method="percentile"`` gives that one. Where scipy cannot compute an interval (a
resample with a constant column has no correlation; a perfect correlation has no spread
among resamples) the interval is ``(nan, nan)`` and ``extra["ci_note"]`` says why.

:func:`correlate_groups` applies :func:`correlate` to each group of a table (one
setting per group), reading them with :mod:`dastat.tables`.

>>> r = correlate([1, 2, 3, 4, 5], [2, 1, 4, 3, 5])
>>> round(r.pearson, 3), round(r.spearman, 3), round(r.kendall, 3)
(0.8, 0.8, 0.6)
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

import numpy as np

from .errors import UserError
from .io import json_safe
from .tables import read_frame

__all__ = ["Correlation", "correlate", "correlate_groups", "spearman_p", "COEFFICIENTS", "CI_METHODS"]

#: The three coefficients, in the order they are reported.
COEFFICIENTS = ("pearson", "spearman", "kendall")
#: Bootstrap interval methods :func:`correlate` accepts.
CI_METHODS = ("bca", "percentile")

# Bounds the temporary arrays of the vectorised Kendall tau to about this many float64s.
_KENDALL_BLOCK = 4_000_000


@dataclass(frozen=True)
class Correlation:
    """Pearson, Spearman and Kendall (tau-b) coefficients of n pairs, with p-values and intervals.

    Intervals are ``(low, high)`` at ``confidence_level``; ``(nan, nan)`` when no bootstrap
    was asked for (``n_resamples=0``) or none could be made honestly (``extra["ci_note"]`` says why).
    """

    n: int
    pearson: float
    spearman: float
    kendall: float
    pearson_p: float
    spearman_p: float
    kendall_p: float
    pearson_ci: tuple[float, float]
    spearman_ci: tuple[float, float]
    kendall_ci: tuple[float, float]
    confidence_level: float = 0.95
    ci_method: str = "bca"
    n_resamples: int = 2000
    seed: int | None = 0
    group: Any = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record: ``group``, ``n``, the coefficients, ``*_p`` and ``*_ci`` as lists."""
        out: dict[str, Any] = {"group": json_safe(self.group), "n": self.n}
        for field_name in (f"{name}{suffix}" for suffix in ("", "_p", "_ci") for name in COEFFICIENTS):
            out[field_name] = json_safe(getattr(self, field_name))
        out.update(kendall_variant="tau-b", ci_method=self.ci_method, confidence_level=self.confidence_level,
                   n_resamples=self.n_resamples, seed=self.seed)
        out.update(json_safe(self.extra))
        return out


# --------------------------------------------------------------------------- coefficients
# Each takes arrays of shape (..., n) and returns shape (...): one coefficient per row, so
# that the same code computes the estimate (one row) and every bootstrap resample at once.

def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    # Scaling first keeps tiny columns (T. stddev is ~1e-3) far from underflow in the products.
    xs = np.sqrt((xc * xc).sum(axis=-1, keepdims=True))
    ys = np.sqrt((yc * yc).sum(axis=-1, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = ((xc / xs) * (yc / ys)).sum(axis=-1)
    # A constant row has no correlation; testing the range (not the centred sum) avoids
    # treating rounding noise around the mean of equal values as signal.
    r = np.where((np.ptp(x, axis=-1) == 0) | (np.ptp(y, axis=-1) == 0), np.nan, r)
    return np.clip(r, -1.0, 1.0)


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return _pearson_rows(rankdata(x, axis=-1), rankdata(y, axis=-1))


def _kendall_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall tau-b: (C - D) / sqrt((P - T_x)(P - T_y)), from sign products over all pairs."""
    x2, y2 = np.atleast_2d(x), np.atleast_2d(y)
    rows, n = x2.shape
    s = np.zeros(rows)
    nx = np.zeros(rows)
    ny = np.zeros(rows)
    # Blocks over (rows, first index of the pair) keep the (rows, block, n) arrays bounded.
    row_block = max(1, min(rows, _KENDALL_BLOCK // (n * n)))
    col_block = max(1, min(n, _KENDALL_BLOCK // (row_block * n)))
    for r0 in range(0, rows, row_block):
        r1 = min(rows, r0 + row_block)
        for i0 in range(0, n, col_block):
            i1 = min(n, i0 + col_block)
            sx = np.sign(x2[r0:r1, i0:i1, None] - x2[r0:r1, None, :])
            sy = np.sign(y2[r0:r1, i0:i1, None] - y2[r0:r1, None, :])
            # Ordered pairs count each unordered pair twice; the factor cancels in the ratio.
            s[r0:r1] += (sx * sy).sum(axis=(1, 2))
            nx[r0:r1] += np.abs(sx).sum(axis=(1, 2))
            ny[r0:r1] += np.abs(sy).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = s / np.sqrt(nx * ny)
    tau = np.where((nx == 0) | (ny == 0), np.nan, np.clip(tau, -1.0, 1.0))
    return tau.reshape(np.shape(x)[:-1])


_ROWS = {"pearson": _pearson_rows, "spearman": _spearman_rows, "kendall": _kendall_rows}


# --------------------------------------------------------------------------- bootstrap and p-values

#: Fewer pairs than this get no bootstrap interval: a resample of 3 or 4 pairs often repeats one pair
#: (no correlation) or reproduces the sample, so the bootstrap distribution is too coarse to mean anything.
MIN_BOOTSTRAP_PAIRS = 5
#: Up to this many pairs, Spearman's p-value comes from all n! pairings (at most 362,880), not the t approximation.
EXACT_SPEARMAN_PAIRS = 9


def _intervals(x: np.ndarray, y: np.ndarray, *, n_resamples: int, level: float, method: str,
               seed: int | None) -> tuple[dict[str, tuple[float, float]], str | None]:
    """Each coefficient's interval from ``scipy.stats.bootstrap`` over pairs, and why some are missing (or None).

    Every coefficient sees the same resamples (one generator per coefficient, all seeded alike). An interval
    scipy cannot compute (a resample with a constant column, or a bootstrap distribution with no spread, as
    for a perfect correlation) is ``(nan, nan)``, not a made-up one.
    """
    import warnings

    from scipy import stats

    if len(x) < MIN_BOOTSTRAP_PAIRS:
        return ({name: (math.nan, math.nan) for name in COEFFICIENTS},
                f"no intervals: {len(x)} pairs are too few for a bootstrap (at least {MIN_BOOTSTRAP_PAIRS})")
    out, missing = {}, []
    for name, rows in _ROWS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy's degenerate-data warning: reported below as a missing interval
            ci = stats.bootstrap((x, y), lambda a, b, axis=-1: rows(a, b), paired=True, vectorized=True,
                                 n_resamples=n_resamples, confidence_level=level,
                                 method="BCa" if method == "bca" else "percentile",
                                 rng=np.random.default_rng(seed)).confidence_interval
        out[name] = (float(ci.low), float(ci.high))
        if not (math.isfinite(out[name][0]) and math.isfinite(out[name][1])):
            out[name] = (math.nan, math.nan)
            missing.append(name)
    note = None
    if missing:
        note = (f"no {', '.join(missing)} interval: the bootstrap is degenerate here (a resample with a constant "
                "column, or no spread among resamples, as for a perfect correlation)")
    return out, note


@functools.lru_cache(maxsize=2)
def _pairings(n: int) -> np.ndarray:
    """All n! permutations of ``range(n)``, one per row."""
    flat = itertools.chain.from_iterable(itertools.permutations(range(n)))
    return np.fromiter(flat, dtype=np.intp, count=math.factorial(n) * n).reshape(-1, n)


def spearman_p(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided p-value of Spearman's rho: exact over all pairings up to :data:`EXACT_SPEARMAN_PAIRS` pairs,
    else scipy's t approximation, which is never below the exact test's smallest possible value ``2 / n!``.

    >>> round(spearman_p(np.array([1.0, 2, 3]), np.array([3.0, 2.2, 1])), 4)  # the t approximation says 0
    0.3333
    """
    from scipy import stats

    n = len(x)
    if n <= EXACT_SPEARMAN_PAIRS:
        # rho of every pairing of x's ranks with a permutation of y's ranks; ties keep their average ranks.
        a, b = stats.rankdata(x), stats.rankdata(y)
        a, b = a - a.mean(), b - b.mean()
        pairings = _pairings(n)
        rho = (b[pairings] @ a) / math.sqrt((a @ a) * (b @ b))
        observed = float(b @ a) / math.sqrt((a @ a) * (b @ b))
        return float(np.mean(np.abs(rho) >= abs(observed) * (1 - 1e-12)))
    return max(float(stats.spearmanr(x, y).pvalue), 2 / math.factorial(n))


# --------------------------------------------------------------------------- public API

def _column(values: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise UserError(f"{name} must be numbers, but it holds values that are not") from None
    if arr.ndim != 1:
        raise UserError(f"{name} must be one-dimensional, not of shape {arr.shape}")
    return arr


def correlate(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, *, confidence_level: float = 0.95,
              n_resamples: int = 2000, method: str = "bca", seed: int | None = 0,
              group: Any = None) -> Correlation:
    """Pearson, Spearman and Kendall tau-b between ``x`` and ``y`` with p-values and bootstrap intervals.

    Parameters
    ----------
    x, y
        Paired values, e.g. T. stddev and the student's test loss, one pair per DA.
    confidence_level
        Coverage of the intervals (default 0.95).
    n_resamples
        Bootstrap resamples of the pairs (default 2000); 0 skips the intervals.
    method
        ``"bca"`` (bias-corrected and accelerated, the default) or ``"percentile"``.
    seed
        Seed of the resampling, so that the intervals are reproducible.
    group
        A label carried into the result (which setting these pairs belong to).

    Raises
    ------
    UserError
        Fewer than 3 pairs, lengths that differ, NaN or infinite values, or a constant column.

    Examples
    --------
    >>> r = correlate([0.1, 0.2, 0.3, 0.4], [1.0, 1.3, 1.2, 1.9], n_resamples=500)
    >>> round(r.pearson, 3), round(r.kendall, 3), r.pearson_ci
    (0.867, 0.667, (nan, nan))
    >>> r.extra["ci_note"]
    'no intervals: 4 pairs are too few for a bootstrap (at least 5)'
    >>> r = correlate([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [1.0, 1.3, 1.2, 1.9, 1.7, 2.4], n_resamples=500)
    >>> r.pearson_ci[0] <= r.pearson <= r.pearson_ci[1]
    True
    """
    method = str(method).lower()
    if method not in CI_METHODS:
        raise UserError(f"the interval method must be one of {', '.join(CI_METHODS)}, not {method!r}")
    if not 0 < confidence_level < 1:
        raise UserError(f"the confidence level must lie strictly between 0 and 1, not {confidence_level}")
    if n_resamples < 0 or int(n_resamples) != n_resamples:
        raise UserError(f"the number of bootstrap resamples must be a non-negative integer, not {n_resamples}")
    where = "" if group is None else f" in group {group!r}"
    xa, ya = _column(x, "x"), _column(y, "y")
    if len(xa) != len(ya):
        raise UserError(f"x and y must have the same length{where}, not {len(xa)} and {len(ya)}")
    n = len(xa)
    if n < 3:
        raise UserError(f"a correlation needs at least 3 pairs{where}, but there are {n}")
    for name, arr in (("x", xa), ("y", ya)):
        bad = np.count_nonzero(~np.isfinite(arr))
        if bad:
            raise UserError(f"{name} has {bad} missing or infinite value{'s' if bad > 1 else ''}{where}; "
                            "remove those rows first")
        if np.ptp(arr) == 0:
            raise UserError(f"{name} is constant{where}, so it has no correlation with anything")

    from scipy import stats

    est = {name: float(rows(xa, ya)) for name, rows in _ROWS.items()}
    pvalues = {
        "pearson": float(stats.pearsonr(xa, ya).pvalue),
        "spearman": spearman_p(xa, ya),
        "kendall": float(stats.kendalltau(xa, ya, variant="b").pvalue),
    }
    note = None
    if n_resamples:
        cis, note = _intervals(xa, ya, n_resamples=int(n_resamples), level=confidence_level, method=method,
                               seed=seed)
    else:
        cis = {name: (math.nan, math.nan) for name in COEFFICIENTS}
    return Correlation(
        n=n, **est, **{f"{k}_p": v for k, v in pvalues.items()}, **{f"{k}_ci": v for k, v in cis.items()},
        confidence_level=confidence_level, ci_method=method, n_resamples=int(n_resamples), seed=seed, group=group,
        extra={"ci_note": note} if note else {},
    )


def correlate_groups(data: Any, x: str, y: str, *, group: str | None = None,
                     where: Iterable[str] | str | None = None, **kwargs: Any) -> list[Correlation]:
    """:func:`correlate` of columns ``x`` and ``y`` of a table, once per value of ``group``.

    ``data`` is anything :func:`read_table` takes. Groups keep the order in which they first
    appear; without ``group`` the whole table is one group (``group=None`` in the result).
    ``where`` filters rows first (see :func:`apply_where`). Keyword arguments go to
    :func:`correlate`.

    >>> rows = [{"s": "a", "u": 1, "v": 2}, {"s": "a", "u": 2, "v": 1}, {"s": "a", "u": 3, "v": 3},
    ...         {"s": "b", "u": 1, "v": 1}, {"s": "b", "u": 2, "v": 2}, {"s": "b", "u": 3, "v": 4}]
    >>> [(c.group, round(c.spearman, 2)) for c in correlate_groups(rows, "u", "v", group="s", n_resamples=0)]
    [('a', 0.5), ('b', 1.0)]
    """
    frame = read_frame(data, where, [x, y] + ([group] if group else []), numbers=(x, y))
    extra = {"x": x, "y": y}
    if group is None:
        return [_with_extra(correlate(frame[x].to_numpy(), frame[y].to_numpy(), **kwargs), extra)]
    if frame[group].isna().any():
        raise UserError(f"the group column {group!r} has empty values; fill or remove those rows first")
    return [_with_extra(correlate(part[x].to_numpy(), part[y].to_numpy(), group=key, **kwargs), extra)
            for key, part in frame.groupby(group, sort=False)]


def _with_extra(result: Correlation, extra: dict[str, Any]) -> Correlation:
    return replace(result, extra={**result.extra, **extra})
