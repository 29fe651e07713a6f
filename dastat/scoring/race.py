"""The racing rule behind ``tune``: looks, paired differences and who is dropped; pure bookkeeping, no models.

At a fixed schedule of looks (64, 96, 144, … blocks, growing by half on multiples of the
check period, and the budget) every live candidate ``j`` is compared with every live
candidate ``i`` of lower T. stddev by the one-sided paired delete-one-section jackknife
t-test of "``T_j / T_i - 1 > margin``" (an indifference zone of ``DROP_MARGIN`` = 4%). Each
candidate's hypothesis "``j`` is within the margin of the lowest T. stddev" gets the
smallest p-value of its tests so far times the ``K (m - 1)`` tests it could take (``K``
looks, ``m`` candidates; Bonferroni), and Holm's step-down procedure over the ``m``
hypotheses drops candidates. The race stops when one candidate is left, when the upper
confidence bound of every live one's relative difference to the best is below
``tolerance`` (they are tied), when no live pair is expected to separate by the budget, or
at the budget. Were the t-test's p-values exact, a candidate within the margin of the best
would be dropped with probability at most ``alpha``; they are not when near-tied
candidates' draw effects are differently skewed, which is why the margin and the late
first look are there: docs/tuning.md measures the rate in those nulls (at most 2.75% at
``alpha`` = 5%). :mod:`dastat.scoring.tune` runs the rule on a teacher.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from ..stats import Statistic
from ..stats.accumulators import leave_one_out, ratio_jackknife
from ..stats.compare import MARGIN, holm
from .protocols import CHECK_EVERY

ALPHA = 0.05
TOLERANCE = 0.01
#: A candidate is dropped only when its T. stddev is shown to exceed a lower one's by more than this (relative),
#: the margin by which ``compare`` calls two DAs different: near-tied candidates whose draw effects are skewed
#: differently are otherwise dropped far more often than alpha says (docs/calibration.md measures it).
DROP_MARGIN = MARGIN
#: The first look comes after this many blocks, and each later one after half as many again (rounded to the
#: check period). Earlier looks drop near-tied candidates whose draw effects are skewed far too often
#: (docs/calibration.md).
FIRST_LOOK, LOOK_GROWTH = 64, 1.5
STATUSES = ("best", "tied", "eliminated", "no value")


def look_schedule(total_blocks: int, first: int = FIRST_LOOK, growth: float = LOOK_GROWTH,
                  step: int = CHECK_EVERY) -> list[int]:
    """The blocks after which the race looks: ``first``, growing by ``growth``, and the budget.

    Looks fall on multiples of ``step`` blocks (the fast protocol's check period), so ``N``
    processes that divide it look after the same blocks as one process.

    >>> look_schedule(204), look_schedule(400), look_schedule(64), look_schedule(12)
    ([64, 96, 144, 204], [64, 96, 144, 208, 304, 400], [64], [12])
    """
    looks, k = [], first
    while k < total_blocks:
        looks.append(k)
        # at least one step on, whatever first and growth are
        k = max(k + step, int(k * growth) // step * step) if k % step == 0 else (k // step + 1) * step
    return looks + [total_blocks]


@dataclass
class Look:
    """One look: the current best, the candidates it drops, whether the rest are tied with the best
    (within the tolerance), and whether none of them is expected to be told from it by the budget."""

    best: str
    eliminated: list[str]
    tied: bool
    settled: bool


def student_t(sections: int):
    """The reference distribution of the jackknife t statistic on ``sections`` sections."""
    from scipy import stats as st

    return st.t(sections - 1)


class PairedDifferences:
    """The relative differences ``T_j / T_i - 1`` of candidates' statistics, with delete-one-section jackknife
    standard errors over the sections they share; ``order`` lists the candidates by value, lowest first."""

    def __init__(self, stats: Mapping[str, Statistic]):
        self.sections = sorted(set().union(*(s.sections() for s in stats.values())))
        self._loo = {name: leave_one_out(s.value, self.sections) for name, s in stats.items()}
        self.values = {name: loo[None] for name, loo in self._loo.items()}
        self.order = sorted(self.values, key=lambda n: (not math.isfinite(self.values[n]), self.values[n]))

    def __call__(self, j: str, i: str) -> tuple[float, float]:
        """``(T_j / T_i - 1, its standard error)``."""
        return ratio_jackknife(self._loo[j], self._loo[i], self.sections)

    def skewness(self, j: str, i: str) -> float:
        """The sample skewness of the delete-one-section values of ``T_j / T_i - 1`` (0 when they do not vary)."""
        loo = [self._loo[j][k] / self._loo[i][k] - 1 for k in self.sections]
        mean = sum(loo) / len(loo)
        m2 = sum((v - mean) ** 2 for v in loo) / len(loo)
        return sum((v - mean) ** 3 for v in loo) / len(loo) / m2 ** 1.5 if m2 > 0 else 0.0

    def pairs(self) -> list[tuple[str, str]]:
        """Every ``(j, i)`` with ``i`` of lower value than ``j``."""
        return [(j, i) for n, j in enumerate(self.order) for i in self.order[:n]]


def one_sided_p(r: float, se: float, reference) -> float:
    """The p-value of ``r > 0`` for an estimate ``r`` with standard error ``se`` (1 when undefined)."""
    if not (math.isfinite(r) and se >= 0):  # NaN standard error: too few sections
        return 1.0
    if se == 0:
        return 0.0 if r > 0 else 1.0
    return float(reference.sf(r / se))


MULTIPLICITY = ("holm", "bonferroni", "none")


class Race:
    """The racing rule over a fixed schedule of looks (in blocks); pure bookkeeping, no models.

    Each candidate ``j`` carries the hypothesis "``j`` is within ``margin`` of the lowest T. stddev"
    and a p-value against it: the smallest one-sided p of "``T_j / T_i - 1 > margin``" over the
    looks so far and the live candidates ``i`` of lower value, times the ``K (m - 1)`` tests it
    could take (Bonferroni); ``margin=0`` tests plain "``j`` is worse than ``i``". A candidate is dropped when ``multiplicity`` rejects its hypothesis at
    ``alpha``: ``"holm"`` (the default) steps down over the ``m`` hypotheses, ``"bonferroni"``
    tests each at ``alpha / m``, ``"none"`` each at ``alpha`` (no guarantee over tied best
    candidates; to study looser rules). ``reference(sections)`` is the t statistic's reference
    distribution (Student's t with ``sections - 1`` degrees of freedom by default); ``tests``
    replaces ``K (m - 1)`` (``m - 1`` ignores the repeated looks: to study what they cost);
    ``max_skew`` skips the tests of pairs whose delete-one-section values are more skewed than it
    (a rule measured in docs/calibration.md, not the default).
    """

    def __init__(self, candidates: Sequence[str], looks: Sequence[int], alpha: float = ALPHA,
                 tolerance: float = TOLERANCE, reference: Callable[[int], Any] = student_t,
                 multiplicity: str = "holm", tests: int | None = None, margin: float = DROP_MARGIN,
                 max_skew: float | None = None):
        if multiplicity not in MULTIPLICITY:
            raise ValueError(f"multiplicity is one of {MULTIPLICITY}, not {multiplicity!r}")
        self.looks, self.alpha, self.tolerance = list(looks), alpha, tolerance
        # margin > 0 tests the interval null "T_j / T_i - 1 <= margin" (an indifference zone) instead of "<= 0".
        self.reference, self.multiplicity, self.margin = reference, multiplicity, margin
        # max_skew: no test of a pair whose delete-one-section values are more skewed than this (a t-test's
        # tail is not to be trusted at the race's levels when the differences are skewed).
        self.max_skew = max_skew
        self.candidates = list(candidates)
        self.tests = len(self.looks) * max(len(self.candidates) - 1, 1) if tests is None else tests
        self.p_values = dict.fromkeys(self.candidates, 1.0)
        self.live, self.best, self.stopped, self.last, self._next = list(candidates), None, None, None, 0

    @property
    def level(self) -> float:
        """The per-test level at which the next candidate would be dropped."""
        family = {"holm": len(self.live), "bonferroni": len(self.candidates), "none": 1}[self.multiplicity]
        return self.alpha / (self.tests * max(family, 1))

    def due(self, blocks: int) -> bool:
        return self.stopped is None and self._next < len(self.looks) and blocks >= self.looks[self._next]

    def look(self, stats: Mapping[str, Statistic], blocks: int) -> list[str]:
        """Look at the live candidates' statistics after ``blocks`` blocks; the names dropped now."""
        while self._next < len(self.looks) and self.looks[self._next] <= blocks:
            self._next += 1
        diffs = PairedDifferences({n: stats[n] for n in self.live})
        reference = self.reference(len(diffs.sections)) if len(diffs.sections) > 1 else None
        if reference is not None:
            for j, i in diffs.pairs():
                if self.max_skew is not None and abs(diffs.skewness(j, i)) > self.max_skew:
                    continue
                r, se = diffs(j, i)
                self.p_values[j] = min(self.p_values[j], self.tests * one_sided_p(r - self.margin, se, reference))
        rejected = self._rejected()
        dropped = [n for n in self.live if n in rejected]
        self.live = [n for n in self.live if n not in dropped]
        self.best = next(n for n in diffs.order if n in self.live)
        self.last = self._ends(diffs, reference, dropped, math.sqrt(min(blocks, self.looks[-1]) / self.looks[-1]))
        if len(self.live) == 1:
            self.stopped = "one left"
        elif self.last.tied:
            self.stopped = f"all tied within {self.tolerance:g}"
        elif self._next == len(self.looks):
            self.stopped = "budget"
        elif self.last.settled:
            self.stopped = "none separable by the budget"
        return dropped

    def _rejected(self) -> set[str]:
        if self.multiplicity == "holm":
            names = list(self.p_values)
            return {n for n, p in zip(names, holm([self.p_values[n] for n in names])) if p <= self.alpha}
        cut = self.alpha / (len(self.candidates) if self.multiplicity == "bonferroni" else 1)
        return {n for n, p in self.p_values.items() if p <= cut}

    def _ends(self, diffs: PairedDifferences, reference, dropped: list[str], shrink: float) -> Look:
        """Whether the live candidates are tied with the best, and whether they are settled: no pair would be told
        apart at the next drop's level even if its standard error shrank by ``shrink`` (sqrt(blocks now / blocks at
        the budget)) and its difference stayed as it is."""
        q = float(reference.isf(self.level)) if reference is not None else math.inf
        live = [n for n in diffs.order if n in self.live]

        def bound(j: str, i: str, sign: float, shrink: float = 1.0) -> float:
            r, se = diffs(j, i)
            return r + sign * q * se * shrink

        tied = all(bound(j, live[0], +1) < self.tolerance for j in live[1:])
        settled = all(bound(j, i, -1, shrink) <= self.margin for n, j in enumerate(live) for i in live[:n])
        return Look(self.best, dropped, tied, settled)

    def status(self, name: str) -> str:
        return "best" if name == self.best else "tied" if name in self.live else "eliminated"
