"""Intervals of bounded statistics that stay within their bounds.

The jackknife gives each statistic a symmetric Student-t interval ``value ± half``.
For a statistic that cannot be negative (an entropy, a KL divergence, a variance, a
ratio of counts) that interval can reach below zero when it is wide (``kl_view``
``[-0.384, 3.254]``), claiming values the statistic cannot take. :func:`bounded_interval`
redraws it on the scale where the bound is at infinity, with the same standard error
carried over by the delta method: the log scale for ``[0, ∞)``
(``value · exp(±half / value)``) and the logit scale for a share in ``[0, 1]``. The
interval is then no longer symmetric, and it keeps the width the jackknife measured
near the value. A value on the bound itself has no such scale; its interval is clipped
there. T. stddev's own interval is left as the jackknife makes it, since its
relative half-width is the fast protocol's stopping rule.
"""

from __future__ import annotations

import math

#: The statistics with a lower bound of 0 and, for shares, an upper bound of 1.
NON_NEGATIVE = frozenset({"teacher_entropy", "kl_view", "affinity", "ce_var", "risk_var", "ce_var_t", "risk_var_t"})
SHARES = frozenset({"order_violation"})


def bounded_interval(name: str, value: float, ci: tuple[float, float]) -> tuple[float, float]:
    """``ci`` of statistic ``name`` (with estimate ``value``) redrawn within the statistic's bounds.

    >>> [round(v, 3) for v in bounded_interval("kl_view", 1.435, (-0.384, 3.254))]
    [0.404, 5.098]
    >>> bounded_interval("ce_cov", -0.1, (-0.5, 0.3))  # a covariance has no bound: unchanged
    (-0.5, 0.3)
    """
    low, high = ci
    if name not in NON_NEGATIVE | SHARES or not (math.isfinite(low) and math.isfinite(high)):
        return ci
    half = (high - low) / 2
    top = 1.0 if name in SHARES else math.inf
    if not 0 < value < top:  # on a bound: no transform has room, so clip to the bounds
        return max(low, 0.0), min(high, top)
    if name in SHARES:
        logit, se = math.log(value / (1 - value)), half / (value * (1 - value))
        return _expit(logit - se), _expit(logit + se)
    return value * math.exp(-half / value), value * math.exp(half / value)


def _expit(z: float) -> float:
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))
