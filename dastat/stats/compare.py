"""Paired comparisons between DAs scored on the same blocks (common random numbers).

All DAs in one ranking see the same images and base views, and their units fall in
the same sections, so the difference of two statistics has a delete-one-section
jackknife standard error that keeps the pairing; a t-test on it (sections − 1
degrees of freedom) says whether two neighbours in a ranking are distinguishable.
Holm's step-down procedure corrects for testing every adjacent pair.

>>> holm([0.01, 0.04, 0.03])
[0.03, 0.06, 0.06]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

from .accumulators import jackknife

StatFn = Callable[[int | None], float]


@dataclass
class PairedTest:
    difference: float
    se: float
    p_value: float
    sections: int


def paired_test(a: StatFn, b: StatFn, sections: Sequence[int]) -> PairedTest:
    """Two-sided jackknife t-test of ``a - b`` over the given sections."""
    from scipy import stats

    diff, se = jackknife(lambda j: a(j) - b(j), list(sections))
    g = len(sections)
    if not math.isfinite(se) or g < 2:
        return PairedTest(diff, se, math.nan, g)
    if se == 0:
        return PairedTest(diff, se, 1.0 if diff == 0 else 0.0, g)
    p = 2 * stats.t.sf(abs(diff) / se, df=g - 1)
    return PairedTest(diff, se, float(p), g)


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
