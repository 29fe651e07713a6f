"""T. stddev — the standard deviation of the teacher's mean probability (lower is better).

The paper records the mean probability vector of each *group* of 320 training
images and their 320 augmented views, takes the unbiased standard deviation of
those group means per class, and averages over classes. :class:`TStddev` computes
the same quantity from any i.i.d. *unit* whose mean composes a group:

* paper protocol — the unit is the group itself (``units_per_group = 1``);
* a DA that draws its randomness once per batch (the paper's Cutout, Mixup, CutMix,
  AutoAugment, Crop+Flip) or mixes images within a batch — the unit is one draw block
  of ``m`` pairs, and a group is ``320 / m`` independent blocks, so
  ``Var(group) = Var(block) / (320 / m)``;
* a DA whose views are independent given their images (identity, flip, per-image
  draws without mixing) — the unit is one image pair ``z = (p(x) + p(x_aug)) / 2``,
  and ``Var(group) = Var(z) / 320``: every sample informs the variance, not only
  the count of groups.

>>> import torch
>>> groups = torch.tensor([[0.2, 0.8], [0.4, 0.6], [0.3, 0.7]])
>>> round(t_stddev(groups), 6)   # per-class sd 0.1 and 0.1
0.1
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .accumulators import DEFAULT_SECTIONS, MeanAccumulator, UnitMoments, jackknife, t_interval

#: The paper's group: 5 batches of 64 originals (and as many views).
GROUP_SIZE = 320


def t_stddev(group_means: torch.Tensor) -> float:
    """The paper's formula on recorded group means (G×C): mean over classes of the unbiased sd."""
    return float(group_means.double().std(dim=0, unbiased=True).mean())


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (nats) of each row of a probability matrix."""
    return -(probs * probs.clamp_min(1e-30).log()).sum(-1)


@dataclass
class Estimate:
    """A point estimate with its jackknife standard error and 95% interval."""

    value: float
    se: float
    ci: tuple[float, float]
    n_units: int

    @property
    def relative_half_width(self) -> float:
        if not self.value or not math.isfinite(self.ci[0]):
            return math.inf
        return (self.ci[1] - self.ci[0]) / 2 / abs(self.value)


class TStddev:
    """T. stddev estimated from units (groups, draw blocks or pairs); see the module doc."""

    lower_is_better = True

    def __init__(self, num_classes: int, units_per_group: float, sections: int = DEFAULT_SECTIONS):
        self.units_per_group = float(units_per_group)
        self.moments = UnitMoments(num_classes, sections)

    def update(self, units: torch.Tensor, unit_index: int | torch.Tensor) -> None:
        self.moments.update(units, unit_index)

    def merge(self, other: "TStddev") -> "TStddev":
        self.moments.merge(other.moments)
        return self

    def reset(self) -> None:
        self.moments.reset()

    def sync(self) -> None:
        self.moments.sync()

    @property
    def n_units(self) -> int:
        return self.moments.n

    def value(self, exclude: int | None = None) -> float:
        var = self.moments.variance(exclude) / self.units_per_group
        return float(var.sqrt().mean())

    def sections(self) -> list[int]:
        return [int(j) for j in torch.nonzero(self.moments.count > 0).flatten()]

    def compute(self) -> Estimate:
        sections = self.sections()
        if self.n_units < 2:
            return Estimate(math.nan, math.nan, (math.nan, math.nan), self.n_units)
        value, se = jackknife(self.value, sections)
        return Estimate(value, se, t_interval(value, se, len(sections)), self.n_units)


class MeanStat:
    """A mean with a jackknife interval over the same sections (e.g. teacher entropy)."""

    def __init__(self, sections: int = DEFAULT_SECTIONS):
        self.acc = MeanAccumulator(sections)

    def update(self, values: torch.Tensor, unit_index: int | torch.Tensor) -> None:
        self.acc.update(values, unit_index)

    def merge(self, other: "MeanStat") -> "MeanStat":
        self.acc.merge(other.acc)
        return self

    def reset(self) -> None:
        self.acc.reset()

    def sync(self) -> None:
        self.acc.sync()

    def compute(self) -> Estimate:
        sections = [int(j) for j in torch.nonzero(self.acc.count > 0).flatten()]
        n = int(self.acc.count.sum())
        if n == 0:
            return Estimate(math.nan, math.nan, (math.nan, math.nan), 0)
        value, se = jackknife(self.acc.mean, sections)
        return Estimate(value, se, t_interval(value, se, len(sections)), n)


class Grouper:
    """Cuts a stream of (original, view) probability pairs into the paper's groups.

    Groups are defined in samples (``group_size`` originals and their views), so they
    do not depend on the batch size; a batch may be split across two groups.
    """

    def __init__(self, num_classes: int, group_size: int = GROUP_SIZE):
        self.group_size = group_size
        self._sum = torch.zeros(num_classes, dtype=torch.float64)
        self._count = 0

    def push(self, p_orig: torch.Tensor, p_view: torch.Tensor) -> list[torch.Tensor]:
        """Add pairs (N×C each); return the means of the groups completed by them."""
        pair_sum = (p_orig.double() + p_view.double()).cpu()
        done, start = [], 0
        while start < pair_sum.shape[0]:
            take = min(self.group_size - self._count, pair_sum.shape[0] - start)
            self._sum += pair_sum[start : start + take].sum(0)
            self._count += take
            start += take
            if self._count == self.group_size:
                done.append(self._sum / (2 * self.group_size))
                self._sum = torch.zeros_like(self._sum)
                self._count = 0
        return done
