"""Everything one DA gathers during a scoring run: its statistics and what they cost.

A :class:`DACollector` owns the DA's T. stddev (fed with the units its protocol
makes), teacher entropy, the teacher-only and student cross-entropy statistics, the
companions, and its forward and image counts. It turns them into a
:class:`~dastat.scoring.results.ScoreResult`, and gives any rankable statistic as a
:class:`~dastat.stats.Statistic` so that paired tests use ``value(exclude)`` and
``sections()`` only.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from ..augment.base import Augmentation
from ..distributed import all_reduce, process_group
from ..errors import UserError
from ..stats import Statistic, TeacherEntropy, entropy
from ..stats.columns import RANKABLE, STUDENT_ONLY
from ..stats.companions import CE_STATISTICS, Companions, CrossEntropyStats, cross_entropy
from .intervals import bounded_interval
from .protocols import Units, Views


@dataclass
class Originals:
    """The teacher's (and student's) outputs on one block's base views."""

    x: torch.Tensor
    y: torch.Tensor
    logp: torch.Tensor
    p: torch.Tensor
    entropy: torch.Tensor
    student_logp: torch.Tensor | None


class DACollector:
    """One DA's statistics and forward counts within a scoring run."""

    def __init__(self, aug: Augmentation, units: Units, *, student: bool, salt: int | None = None):
        # The salt of the DA's random stream within each block: its own (from its spec) unless given.
        self.aug, self.salt = aug, zlib.crc32(aug.spec.encode()) if salt is None else salt
        self.unit, self.draws, self.units = units.name, units.draws, units
        self.tstd = units.statistic
        self.entropy = TeacherEntropy()
        self.ce_teacher = CrossEntropyStats()
        self.ce_student = CrossEntropyStats() if student else None
        self.companions = Companions()
        self.n_forward = self.n_images = 0
        self.seconds = 0.0
        self.done = self.converged = False

    def update(self, k: int, orig: Originals, result, logp_view: torch.Tensor, *, full_block: bool,
               student_logp_view: torch.Tensor | None = None, more_draws: Sequence[tuple[torch.Tensor, dict]] = ()) -> None:
        """Add block ``k``: the originals, the DA's output, the teacher's (and student's) log-probabilities
        on the views, and for a split estimate the teacher's probabilities and params of the further draws
        (T. stddev only). Per-pair block statistics need blocks of equal size (``full_block``)."""
        p_view = logp_view.exp()
        views = Views(orig.p, [p_view, *(p for p, _ in more_draws)], [result.params, *(q for _, q in more_draws)])
        self.units.feed(self.tstd, k, views)
        h_view = entropy(p_view)
        self.entropy.update(torch.cat([orig.entropy, h_view]), k)
        self.companions.update(orig.p, p_view, orig.y, result.y, result.params, k)
        if full_block:
            self.ce_teacher.update(orig.entropy, h_view, k)
        if full_block and student_logp_view is not None:
            self.ce_student.update(cross_entropy(orig.p, orig.student_logp), cross_entropy(p_view, student_logp_view),
                                   k)

    def _rankable(self) -> dict[str, Callable[[], Statistic]]:
        """Each rankable column (:data:`dastat.stats.columns.RANKABLE`) → how to get its statistic."""
        found = {"t_stddev": lambda: self.tstd.synced(), "teacher_entropy": lambda: self.entropy.synced()}
        for base in CE_STATISTICS:
            found[f"{base}_t"] = lambda base=base: self.ce_teacher.synced().statistic(base)
            if self.ce_student is not None:
                found[base] = lambda base=base: self.ce_student.synced().statistic(base)
        return found

    def statistic(self, name: str) -> Statistic:
        """The rankable statistic ``name``, summed over all processes."""
        if name not in RANKABLE:
            raise UserError(f"cannot rank by {name!r}; choose one of: " + ", ".join(RANKABLE))
        if name in STUDENT_ONLY and self.ce_student is None:
            raise UserError(f"ranking by {name} needs a student: pass --student SPEC (or rank by {name}_t)")
        return self._rankable()[name]()

    def sections(self, name: str) -> dict[str, Any]:
        """What a paired test of ``name`` needs, as plain data: the value, each leave-one-section-out value
        (None where undefined) and the non-empty sections."""
        stat = self.statistic(name)
        leave_one_out = [_finite(stat.value, j) for j in range(stat.num_sections)]
        return {"value": _finite(stat.value), "leave_one_out": leave_one_out, "sections": stat.sections()}

    def estimates(self) -> dict[str, Any]:
        """Every statistic but T. stddev, as ``name`` and ``name_ci`` (None when not available)."""
        extra: dict[str, Any] = {}
        ce_t = self.ce_teacher.synced().estimates()
        ce_s = self.ce_student.synced().estimates() if self.ce_student is not None else {}
        for name, estimate in ce_t.items():
            _put(extra, f"{name}_t", estimate)
        for name in ce_t:
            _put(extra, name, ce_s.get(name))
        for name, estimate in self.companions.synced().estimates(mixes=self.aug.mixes).items():
            _put(extra, name, estimate)
        return extra

    def counts(self) -> tuple[int, int, float]:
        """``(forwards, images, seconds)`` over all processes (seconds averaged)."""
        t = all_reduce(torch.tensor([self.n_forward, self.n_images, self.seconds], dtype=torch.float64))
        return int(t[0]), int(t[1]), float(t[2]) / process_group()[1]


def _finite(value_fn, exclude: int | None = None) -> float | None:
    try:
        value = float(value_fn(exclude))
    except ZeroDivisionError:
        return None
    return value if math.isfinite(value) else None


def _put(out: dict[str, Any], name: str, estimate) -> None:
    """``name`` and ``name_ci`` from an Estimate (None when not available)."""
    if estimate is None or not math.isfinite(estimate.value):
        out[name], out[f"{name}_ci"] = None, None
    else:
        out[name], out[f"{name}_ci"] = estimate.value, list(bounded_interval(name, estimate.value, estimate.ci))
