"""Paired comparisons between DAs scored on the same blocks (common random numbers).

All DAs in one ranking see the same images and base views, and their units fall in
the same sections, so the difference of two statistics has a delete-one-section
jackknife standard error that keeps the pairing; a t-test on it (sections − 1
degrees of freedom) says whether two neighbours in a ranking are distinguishable.
Holm's step-down procedure corrects for testing every adjacent pair.

Differently skewed DAs of equal T. stddev are told apart by a plain test of equality far
more often than its level says (a heavy-tailed one reads a few percent low at these
budgets, with a standard error that cannot see its missing rare draws), so dastat tests
whether two DAs differ by more than ``MARGIN`` (relative): docs/calibration.md measures
both tests' rates in those nulls.

>>> holm([0.01, 0.04, 0.03])
[0.03, 0.06, 0.06]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

from .accumulators import jackknife, leave_one_out, ratio_jackknife

StatFn = Callable[[int | None], float]

#: Two DAs are called different only when one is shown to exceed the other by more than this (relative).
MARGIN = 0.04


@dataclass
class PairedTest:
    """``a - b`` with its jackknife standard error, and the p-value of "they differ by more than ``margin``"."""

    difference: float
    se: float
    p_value: float
    sections: int
    margin: float = 0.0


def paired_test(a: StatFn, b: StatFn, sections: Sequence[int], margin: float = 0.0) -> PairedTest:
    """Two-sided jackknife t-test of ``a`` against ``b`` over the given sections.

    ``margin=0`` tests ``a == b`` on the difference. ``margin > 0`` tests the interval null
    "the larger is at most ``1 + margin`` times the smaller": the larger's ratio to the smaller,
    less ``1 + margin``, against its jackknife standard error, one-sided, doubled for the side
    chosen from the data. Values that are not all positive get the plain test (``margin`` 0).
    """
    from scipy import stats

    sections = list(sections)
    # Each value once: a statistic's leave-one-section-out values are the costly part.
    va, vb = (leave_one_out(f, sections) for f in (a, b))
    diff, se = jackknife(lambda j: va[j] - vb[j], sections)
    g = len(sections)
    if not math.isfinite(se) or g < 2:
        return PairedTest(diff, se, math.nan, g)
    if margin > 0 and min(*va.values(), *vb.values()) > 0:
        hi, lo = (va, vb) if va[None] >= vb[None] else (vb, va)
        ratio, se_ratio = ratio_jackknife(hi, lo, sections)
        excess = ratio - margin
        if se_ratio == 0:
            return PairedTest(diff, se, 0.0 if excess > 0 else 1.0, g, margin)
        return PairedTest(diff, se, float(min(1.0, 2 * stats.t.sf(excess / se_ratio, df=g - 1))), g, margin)
    if se == 0:
        return PairedTest(diff, se, 1.0 if diff == 0 else 0.0, g)
    return PairedTest(diff, se, float(2 * stats.t.sf(abs(diff) / se, df=g - 1)), g)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (NaN stays NaN), in the input order."""
    order = sorted((p, i) for i, p in enumerate(p_values) if math.isfinite(p))
    m = len(order)
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = round(running, 12)
    return adjusted
