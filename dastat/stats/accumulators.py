"""Mergeable accumulators, in the manner of torchmetrics.

Each accumulator keeps its state as float64 sums, split over ``sections``: unit ``k``
(a group, a draw block or an image pair, numbered globally) lands in section
``k % sections``. Sums make ``a.merge(b)`` equal to one pass over both and let a
distributed run combine states with a single all-reduce; sections give a
delete-one-section jackknife for confidence intervals and for paired comparisons
between statistics that saw the same units (common random numbers).
"""

from __future__ import annotations

import math
from typing import Callable

import torch

DEFAULT_SECTIONS = 32


class Accumulator:
    """Base class: subclasses register float64 sum states with :meth:`add_state`."""

    def __init__(self) -> None:
        self._states: list[str] = []

    def add_state(self, name: str, shape: tuple[int, ...]) -> None:
        setattr(self, name, torch.zeros(shape, dtype=torch.float64))
        self._states.append(name)

    def reset(self) -> None:
        for name in self._states:
            getattr(self, name).zero_()

    def merge(self, other: "Accumulator") -> "Accumulator":
        """Add ``other``'s sums into this one (in place) and return self."""
        if type(other) is not type(self):
            raise TypeError(f"cannot merge {type(other).__name__} into {type(self).__name__}")
        for name in self._states:
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine.shape != theirs.shape:
                raise ValueError(f"cannot merge accumulators with different {name} shapes")
            mine.add_(theirs)
        return self

    def sync(self) -> None:
        """Sum the states over all processes of the default process group (no-op without one)."""
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return
        for name in self._states:
            state = getattr(self, name)
            # gloo and nccl both reduce float64; move to the backend's device and back.
            device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
            buf = state.to(device)
            dist.all_reduce(buf)
            state.copy_(buf.cpu())

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name).clone() for name in self._states}


class UnitMoments(Accumulator):
    """Per-class sums of unit vectors and of their squares, by section.

    A *unit* is one i.i.d. draw of a C-vector (a group mean, a draw-block mean, or
    one image pair's mean probability). ``variance()`` is the unbiased sample variance
    per class over all units.
    """

    def __init__(self, num_classes: int, sections: int = DEFAULT_SECTIONS):
        super().__init__()
        self.num_classes, self.sections = num_classes, sections
        self.add_state("count", (sections,))
        self.add_state("total", (sections, num_classes))
        self.add_state("total_sq", (sections, num_classes))

    def update(self, units: torch.Tensor, unit_index: int | torch.Tensor) -> None:
        """Add units (K×C) whose global indices are ``unit_index`` (an int for all, or K)."""
        units = units.detach().to("cpu", torch.float64).reshape(-1, self.num_classes)
        section = torch.as_tensor(unit_index).remainder(self.sections).expand(units.shape[0])
        self.count.index_add_(0, section, torch.ones(units.shape[0], dtype=torch.float64))
        self.total.index_add_(0, section, units)
        self.total_sq.index_add_(0, section, units * units)

    @property
    def n(self) -> int:
        return int(self.count.sum().item())

    @staticmethod
    def _variance(count: torch.Tensor, total: torch.Tensor, total_sq: torch.Tensor) -> torch.Tensor:
        mean = total / count
        return (total_sq - count * mean * mean).clamp_min(0) / (count - 1)

    def variance(self, exclude: int | None = None) -> torch.Tensor:
        """Unbiased per-class variance over the units (optionally leaving out one section)."""
        count, total, total_sq = self.count.sum(), self.total.sum(0), self.total_sq.sum(0)
        if exclude is not None:
            count, total, total_sq = count - self.count[exclude], total - self.total[exclude], \
                total_sq - self.total_sq[exclude]
        return self._variance(count, total, total_sq)

    def mean(self, exclude: int | None = None) -> torch.Tensor:
        count, total = self.count.sum(), self.total.sum(0)
        if exclude is not None:
            count, total = count - self.count[exclude], total - self.total[exclude]
        return total / count


class MeanAccumulator(Accumulator):
    """The mean of a scalar observed per item, by section (e.g. teacher entropy)."""

    def __init__(self, sections: int = DEFAULT_SECTIONS):
        super().__init__()
        self.sections = sections
        self.add_state("count", (sections,))
        self.add_state("total", (sections,))

    def update(self, values: torch.Tensor, unit_index: int | torch.Tensor) -> None:
        values = values.detach().to("cpu", torch.float64).reshape(-1)
        section = torch.as_tensor(unit_index).remainder(self.sections).expand(values.shape[0])
        self.count.index_add_(0, section, torch.ones_like(values))
        self.total.index_add_(0, section, values)

    def mean(self, exclude: int | None = None) -> float:
        count, total = self.count.sum(), self.total.sum()
        if exclude is not None:
            count, total = count - self.count[exclude], total - self.total[exclude]
        return float(total / count)


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


def t_interval(estimate: float, se: float, n_sections: int, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval with ``n_sections - 1`` degrees of freedom."""
    from scipy import stats

    if not math.isfinite(se) or n_sections < 2:
        return (math.nan, math.nan)
    q = stats.t.ppf(0.5 + level / 2, df=n_sections - 1)
    return (estimate - q * se, estimate + q * se)
