"""The base classes of every statistic, in the manner of torchmetrics' ``Metric``.

A statistic keeps its state as float64 sums split over ``sections``: unit ``k`` (a
group, a draw block or an image pair, numbered globally) lands in section
``k % sections``. Sums make ``a.merge(b)`` equal to one pass over both and let a
distributed run combine states with a single all-reduce; sections give a
delete-one-section jackknife for confidence intervals and for paired comparisons
between statistics that saw the same units (common random numbers): ``value(j)`` is
the statistic with section ``j`` left out.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable, Mapping

import torch

from ..distributed import all_reduce, group_up

DEFAULT_SECTIONS = 32


@dataclass
class Estimate:
    """A point estimate with its jackknife standard error and 95% interval."""

    value: float
    se: float
    ci: tuple[float, float]
    n_units: int

    @classmethod
    def missing(cls, n_units: int = 0) -> "Estimate":
        return cls(math.nan, math.nan, (math.nan, math.nan), n_units)

    @property
    def relative_half_width(self) -> float:
        if not self.value or not math.isfinite(self.ci[0]):
            return math.inf
        return (self.ci[1] - self.ci[0]) / 2 / abs(self.value)


class SectionState:
    """Float64 states split over sections, in the manner of torchmetrics' ``Metric`` states.

    Subclasses register states with :meth:`add_state` (the first dimension is the
    section); merging, all-reducing and resetting work on every registered state.
    """

    def __init__(self, sections: int = DEFAULT_SECTIONS) -> None:
        self.num_sections = sections
        self._states: list[str] = []

    def add_state(self, name: str, *shape: int) -> None:
        setattr(self, name, torch.zeros((self.num_sections, *shape), dtype=torch.float64))
        self._states.append(name)

    def summed(self, state: str, exclude: int | None = None) -> torch.Tensor:
        """A state summed over sections (less section ``exclude``)."""
        values = getattr(self, state)
        return values.sum(0) if exclude is None else values.sum(0) - values[exclude]

    @staticmethod
    def live(per_section: torch.Tensor) -> list[int]:
        """Indices of the sections where ``per_section`` is positive."""
        return [int(j) for j in torch.nonzero(per_section > 0).flatten()]

    def reset(self) -> None:
        for name in self._states:
            getattr(self, name).zero_()

    def merge(self, other: "SectionState") -> "SectionState":
        """Add ``other``'s sums into this one (in place) and return self."""
        if type(other) is not type(self):
            raise TypeError(f"cannot merge {type(other).__name__} into {type(self).__name__}")
        for name in self._states:
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine.shape != theirs.shape:
                raise ValueError(f"cannot merge statistics with different {name} shapes")
            mine.add_(theirs)
        return self

    def sync(self) -> None:
        """Sum the states over all processes of the default process group (no-op without one)."""
        for name in self._states:
            all_reduce(getattr(self, name))

    def synced(self) -> "SectionState":
        """A copy summed over all processes (this one itself outside a process group)."""
        if not group_up():
            return self
        clone = copy.deepcopy(self)
        clone.sync()
        return clone

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name).clone() for name in self._states}


class Statistic(SectionState):
    """One statistic: ``update`` adds observations, ``compute`` gives its :class:`Estimate`.

    Subclasses define ``value(exclude=None)`` and keep a per-section ``count`` state (or
    define ``sections()`` and ``n`` themselves); ``name`` is the statistic's column in :data:`dastat.stats.columns.COLUMNS`
    (which says its label and which direction is better). ``compute()`` always returns an
    :class:`Estimate`: :meth:`Estimate.missing` when there is too little to estimate.
    """

    name: str = ""
    #: Fewer units than this give :meth:`Estimate.missing`.
    min_units: int = 0

    def update(self, *args, **kwargs) -> None:
        raise NotImplementedError

    def value(self, exclude: int | None = None) -> float:
        """The statistic on every unit, or leaving out section ``exclude``."""
        raise NotImplementedError

    def sections(self) -> list[int]:
        """The non-empty sections (of a ``count`` state, unless a subclass counts otherwise)."""
        return self.live(self.count)

    @property
    def n(self) -> int:
        """How many units were added."""
        return int(self.count.sum())

    def ready(self) -> bool:
        """Whether there are enough observations for an estimate."""
        return self.n >= self.min_units

    def compute(self) -> Estimate:
        if not self.ready():
            return Estimate.missing(self.n)
        sections = self.sections()
        try:
            value, se = jackknife(self.value, sections)
        except ZeroDivisionError:
            return Estimate.missing(self.n)
        return Estimate(value, se, t_interval(value, se, len(sections)), self.n)


def jackknife(statistic: Callable[[int | None], float], sections: list[int]) -> tuple[float, float]:
    """Delete-one-section jackknife: ``(estimate, standard error)``.

    ``statistic(None)`` is the estimate on all units; ``statistic(j)`` leaves out
    section ``j``. ``sections`` lists the non-empty sections.
    """
    full = statistic(None)
    g = len(sections)
    if g < 2:
        return full, math.nan
    leave_out = torch.tensor([statistic(j) for j in sections], dtype=torch.float64)
    se = math.sqrt((g - 1) / g * float(((leave_out - leave_out.mean()) ** 2).sum()))
    return full, se


def leave_one_out(statistic: Callable[[int | None], float], sections: list[int]) -> dict[int | None, float]:
    """``statistic`` on all units (key ``None``) and without each section, each computed once."""
    return {j: statistic(j) for j in [None, *sections]}


def ratio_jackknife(numerator: Mapping[int | None, float], denominator: Mapping[int | None, float],
                    sections: list[int]) -> tuple[float, float]:
    """``numerator / denominator - 1`` and its jackknife standard error, from :func:`leave_one_out` values:
    the paired relative difference of two DAs scored on the same sections."""
    return jackknife(lambda j: numerator[j] / denominator[j] - 1, sections)


def skew_interval(estimate: float, se: float, n_sections: int, skew: float, excess_kurtosis: float, n: int,
                  level: float = 0.95) -> tuple[float, float]:
    """A Student-t interval that respects the shape of the ``n`` i.i.d. influence values behind the estimate.

    Their skewness ``skew`` moves the interval by Hall's (1992) cubic transformation of the t statistic,
    ``g(x) = x + γx²/3 + γ²x³/27 + γ/(6n)`` on ``x = t/√n``, inverted in closed form; their excess kurtosis
    lowers the quantile's degrees of freedom from ``n_sections − 1`` to those of a variance estimate with
    that kurtosis, ``2 / (2/(n_sections − 1) + κ/n)``. With ``skew = κ = 0`` it is :func:`t_interval`.

    >>> [round(v, 4) for v in skew_interval(1.0, 0.1, 32, 0.0, 0.0, 200)]
    [0.796, 1.204]
    >>> [round(v, 4) for v in skew_interval(1.0, 0.1, 32, 2.0, 0.0, 200)]  # a right tail: the upper side longer
    [0.815, 1.2304]
    """
    from scipy import stats

    if not math.isfinite(se) or n_sections < 2 or n < 3 or not (math.isfinite(skew) and math.isfinite(excess_kurtosis)):
        low, high = t_interval(estimate, se, n_sections, level)
        return float(low), float(high)
    df = 2 / (2 / (n_sections - 1) + max(excess_kurtosis, 0.0) / n)
    q = stats.t.ppf(0.5 + level / 2, df=df)

    def x_of(t: float) -> float:  # g⁻¹(t/√n): where the quantile t falls on the skew-corrected scale
        if abs(skew) < 1e-12:
            return t / math.sqrt(n)
        return 3 / skew * (math.cbrt(1 + skew * (t / math.sqrt(n) - skew / (6 * n))) - 1)

    spread = se * math.sqrt(n)  # the influence values' sd, as the sections' standard error gives it
    return float(estimate - spread * x_of(q)), float(estimate - spread * x_of(-q))


def t_interval(estimate: float, se: float, n_sections: int, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval with ``n_sections - 1`` degrees of freedom."""
    from scipy import stats

    if not math.isfinite(se) or n_sections < 2:
        return (math.nan, math.nan)
    q = stats.t.ppf(0.5 + level / 2, df=n_sections - 1)
    return (estimate - q * se, estimate + q * se)
