"""T. stddev — the standard deviation of the teacher's mean probability (lower is better).

The paper records the mean probability vector of each *group* of 5 training
batches (320 images at the paper's batch size of 64) and their augmented views, takes the unbiased standard deviation of
those group means per class, and averages over classes. :class:`TStddev` computes
the same quantity from any i.i.d. *unit* whose mean composes a group:

* paper protocol — the unit is the group itself (``units_per_group = 1``), cut by
  :class:`PaperGroups`;
* a DA that draws its randomness once per batch (the paper's Cutout, Mixup, CutMix,
  AutoAugment, Crop+Flip) or mixes images within a batch — the unit is one draw block
  of ``m`` pairs, and a group is ``320 / m`` independent blocks, so
  ``Var(group) = Var(block) / (320 / m)``;
* a DA whose views are independent given their images (identity, flip, per-image
  draws without mixing) — the unit is one image pair ``z = (p(x) + p(x_aug)) / 2``,
  and ``Var(group) = Var(z) / 320``: every sample informs the variance, not only
  the count of groups.

:class:`SplitTStddev` serves the batch-random DAs when each block gets ``R ≥ 2`` draws
on the same images: the variance of a block mean splits into an image component,
estimated from every image, and a draw component, estimated from the draws' spread
on common images (see ``docs/protocols.md`` for the derivation).

>>> import torch
>>> groups = torch.tensor([[0.2, 0.8], [0.4, 0.6], [0.3, 0.7]])
>>> round(t_stddev(groups), 6)   # per-class sd 0.1 and 0.1
0.1
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from ..distributed import all_reduce_rows
from .accumulators import DEFAULT_SECTIONS, Estimate, Statistic, skew_interval
from .partners import SCHEMES, mixing_image_variance, partner_moments

#: The per-block moments a derangement-mixing DA's split estimate also keeps (see :mod:`dastat.stats.partners`).
PARTNER_STATES = ("orig_var", "cross", "pair_same", "pair_reversed", "pair_disjoint")

#: The paper's group: 5 batches of 64 originals (and as many views).
GROUP_SIZE = 320
GROUP_BATCHES = 5


def t_stddev(group_means: torch.Tensor) -> float:
    """The paper's formula on recorded group means (G×C): mean over classes of the unbiased sd."""
    return float(group_means.double().std(dim=0, unbiased=True).mean())


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (nats) of each row of a probability matrix."""
    return -(probs * probs.clamp_min(1e-30).log()).sum(-1)


class TStddev(Statistic):
    """T. stddev estimated from units (groups, draw blocks or pairs); see the module doc.

    A unit is one i.i.d. draw of a C-vector; the state is its per-class sums and sums of
    squares by section.
    """

    name = "t_stddev"
    min_units = 2

    def __init__(self, num_classes: int, units_per_group: float, sections: int = DEFAULT_SECTIONS):
        super().__init__(sections)
        self.num_classes, self.units_per_group = num_classes, float(units_per_group)
        self.add_state("count")
        self.add_state("total", num_classes)
        self.add_state("total_sq", num_classes)

    def update(self, units: torch.Tensor, unit_index: int | torch.Tensor) -> None:
        """Add units (K×C) whose global indices are ``unit_index`` (an int for all, or K)."""
        units = units.detach().to("cpu", torch.float64).reshape(-1, self.num_classes)
        section = torch.as_tensor(unit_index).remainder(self.num_sections).expand(units.shape[0])
        self.count.index_add_(0, section, torch.ones(units.shape[0], dtype=torch.float64))
        self.total.index_add_(0, section, units)
        self.total_sq.index_add_(0, section, units * units)

    def mean(self, exclude: int | None = None) -> torch.Tensor:
        return self.summed("total", exclude) / self.summed("count", exclude)

    def variance(self, exclude: int | None = None) -> torch.Tensor:
        """Unbiased per-class variance of the units (optionally leaving out one section)."""
        count, total, total_sq = (self.summed(s, exclude) for s in ("count", "total", "total_sq"))
        mean = total / count
        return (total_sq - count * mean * mean).clamp_min(0) / (count - 1)

    def value(self, exclude: int | None = None) -> float:
        return float((self.variance(exclude) / self.units_per_group).sqrt().mean())


class SplitTStddev(Statistic):
    """T. stddev from blocks of ``n`` images that each get ``draws`` independent draws of a DA.

    A block mean under one draw, ``b``, has variance ``V = Var(ψ)/n + V_draw`` (exact
    for a DA that does not mix): ``ψ(x) = E[s | x]`` is an
    image's share of ``b``'s fluctuation, estimated from the within-block spread of ``s`` in one draw
    (``A``, expectation ``Var ψ + E η²``) and of ``s`` averaged over the draws (``B``,
    expectation ``Var ψ + E η² / R``), so ``Var ψ = (R·B − A) / (R − 1)``; ``V_draw =
    E Var(b | images)`` is the spread of ``b`` over the draws of a block. All three are
    per-block averages, kept as section sums for the jackknife.

    With ``partners="derangement"`` (CutMix: every image mixed with a partner that is never
    itself) or ``"permutation"`` (Mixup alone: a uniform permutation, and an image mixed with
    itself is itself) the share spread misses ``O(1/m)`` terms of the image part; the
    statistic then also keeps the moments of :mod:`dastat.stats.partners` and its image part
    is the exact finite-``m`` correction derived in ``docs/protocols.md``. ``update`` then
    needs the originals, the views and each draw's partners.

    The estimate is linear in per-block terms, so each block also keeps its own term ``v_k``
    (``mean_k v_k`` is the variance before clamping): the shape of the blocks' influence
    gives the interval its skewness and kurtosis (:func:`~dastat.stats.accumulators.skew_interval`),
    since a draw effect with a heavy right tail makes a symmetric interval miss on the low side
    (docs/calibration.md).
    """

    name = "t_stddev"
    min_units = 2

    def __init__(self, num_classes: int, draws: int, block_size: int, sections: int = DEFAULT_SECTIONS,
                 partners: str | None = None):
        super().__init__(sections)
        if draws < 2 or block_size < 2:
            raise ValueError("a split estimate needs at least 2 draws of blocks of at least 2 images")
        if partners not in (None, *SCHEMES):
            raise ValueError(f"partners is None or one of {SCHEMES}, not {partners!r}")
        if partners and block_size < 5:
            raise ValueError("a split estimate with mixing partners needs blocks of at least 5 images")
        self.num_classes, self.draws, self.block_size, self.partners = num_classes, draws, block_size, partners
        self.units_per_group = GROUP_SIZE / block_size
        self.add_state("count")
        for state in ("draw_var", "within", "within_mean") + (PARTNER_STATES if partners else ()):
            self.add_state(state, num_classes)
        self.block_terms: dict[int, torch.Tensor] = {}  # global block index -> v_k (C)

    def update(self, s: torch.Tensor, block_means: torch.Tensor, index: int, *, originals: torch.Tensor | None = None,
               views: torch.Tensor | None = None, perms: torch.Tensor | None = None) -> None:
        """Add block ``index``: ``s`` (R×n×C), each image's share under each draw, and the R block means; with
        derangement partners also the originals (n×C), the views (R×n×C) and the partners (R×n)."""
        s, block_means = (v.detach().to("cpu", torch.float64) for v in (s, block_means))
        if s.shape[:2] != (self.draws, self.block_size):
            raise ValueError(f"expected {self.draws} draws of {self.block_size} images, got {tuple(s.shape[:2])}")
        j = index % self.num_sections
        terms = {"draw_var": block_means.var(0), "within": s.var(1).mean(0), "within_mean": s.mean(0).var(0)}
        if self.partners:
            if originals is None or views is None or perms is None:
                raise ValueError("a split estimate with mixing partners needs the originals, views and partners")
            terms.update(partner_moments(originals.detach().to("cpu", torch.float64), s.mean(0),
                                         views.detach().to("cpu", torch.float64), perms.detach().cpu().long(),
                                         self.partners))
        self.count[j] += 1
        for name, value in terms.items():
            getattr(self, name)[j] += value
        self.block_terms[index] = self._variance_of(terms)

    def _variance_of(self, averages: dict[str, torch.Tensor]) -> torch.Tensor:
        """The image component plus the draw component from per-block averages of the states (linear in them)."""
        a, b = averages["within"], averages["within_mean"]
        image = (self.draws * b - a) / (self.draws - 1)  # m · Var E[b | images] for a DA that does not mix
        if self.partners:
            image = mixing_image_variance(self.block_size, image, {n: averages[n] for n in PARTNER_STATES},
                                          self.partners)
        return image / self.block_size + averages["draw_var"]

    def variance(self, exclude: int | None = None) -> torch.Tensor:
        """Per-class variance of one block mean: image component plus draw component."""
        count = self.summed("count", exclude)
        return self._variance_of({name: self.summed(name, exclude) / count for name in self._states
                                  if name != "count"}).clamp_min(0)

    def value(self, exclude: int | None = None) -> float:
        return float((self.variance(exclude) / self.units_per_group).sqrt().mean())

    def influence_shape(self) -> tuple[float, float]:
        """Skewness and excess kurtosis of the blocks' influence on the estimate, ``Σ_c (v_k − V)_c / √V_c``
        (proportional to ``Σ_c ∂T/∂V_c · (v_k − V)_c``)."""
        from scipy import stats

        if len(self.block_terms) < 3:  # no shape to read: the plain t interval
            return 0.0, 0.0
        terms = torch.stack(list(self.block_terms.values()))  # the moments do not depend on the order
        mean = terms.mean(0)
        weight = torch.where(mean > 0, mean.clamp_min(1e-300).rsqrt(), torch.zeros_like(mean))
        influence = ((terms - mean) * weight).sum(1).numpy()
        if not influence.std() > 0:
            return 0.0, 0.0
        return float(stats.skew(influence)), float(stats.kurtosis(influence))

    def compute(self) -> Estimate:
        estimate = super().compute()
        if not math.isfinite(estimate.se):
            return estimate
        skew, kurtosis = self.influence_shape()
        ci = skew_interval(estimate.value, estimate.se, len(self.sections()), skew, kurtosis, len(self.block_terms))
        return replace(estimate, ci=ci)

    def reset(self) -> None:
        super().reset()
        self.block_terms = {}

    def merge(self, other: "SplitTStddev") -> "SplitTStddev":
        super().merge(other)
        self.block_terms.update(other.block_terms)
        return self

    def sync(self) -> None:
        """Sum the states and gather every process's block terms (each block lives on one process)."""
        super().sync()
        marked = {k: torch.cat([term, term.new_ones(1)]) for k, term in self.block_terms.items()}  # last: present
        dense = all_reduce_rows(marked, self.num_classes + 1)
        self.block_terms = {k: row[:-1] for k, row in enumerate(dense) if row[-1] > 0}


class MeanStat(Statistic):
    """The mean of a scalar observed per item, with a jackknife interval over the sections."""

    min_units = 1

    def __init__(self, sections: int = DEFAULT_SECTIONS):
        super().__init__(sections)
        self.add_state("count")
        self.add_state("sum")

    def update(self, values: torch.Tensor, unit_index: int | torch.Tensor) -> None:
        values = values.detach().to("cpu", torch.float64).reshape(-1)
        section = torch.as_tensor(unit_index).remainder(self.num_sections).expand(values.shape[0])
        self.count.index_add_(0, section, torch.ones_like(values))
        self.sum.index_add_(0, section, values)

    def value(self, exclude: int | None = None) -> float:
        return float(self.summed("sum", exclude) / self.summed("count", exclude))


class TeacherEntropy(MeanStat):
    """Mean teacher entropy (nats) over originals and views."""

    name = "teacher_entropy"


class PaperGroups:
    """Cuts a stream of (original, view) batches into the paper's groups of whole batches.

    As in the paper's code, group ``g`` is the mean probability of the stream's batches
    ``g·batches … g·batches + batches − 1`` (their global indices) and their views, whatever
    their sizes (a short last batch of an epoch joins the next epoch's first batches); a
    batch is never split, and a group the stream did not complete is left out. Under
    ``torchrun`` a process sees only some batches of a group (process ``r`` takes batches
    ``r, r + N, …``), so each keeps per-group sums and :meth:`means` adds them over the
    processes first: N processes give the groups one process gives.
    """

    def __init__(self, num_classes: int, batches: int = GROUP_BATCHES):
        self.batches, self.num_classes = batches, num_classes
        # group -> [class sums..., rows, batches]
        self._sums: dict[int, torch.Tensor] = {}

    def push(self, index: int, p_orig: torch.Tensor, p_view: torch.Tensor) -> None:
        """Add batch ``index`` of the global stream (N×C originals and views)."""
        row = self._sums.setdefault(index // self.batches, torch.zeros(self.num_classes + 2, dtype=torch.float64))
        row[:-2] += (p_orig.double().sum(0) + p_view.double().sum(0)).cpu()
        row[-2] += p_orig.shape[0] + p_view.shape[0]
        row[-1] += 1

    def means(self) -> list[tuple[int, torch.Tensor]]:
        """Every complete group's index and mean (summed over all processes; a collective under ``torchrun``)."""
        dense = all_reduce_rows(self._sums, self.num_classes + 2)
        return [(g, row[:-2] / row[-2]) for g, row in enumerate(dense) if row[-1] == self.batches]
