"""Statistics that come from the same teacher (and student) forwards as T. stddev.

All of them are functions of float64 sums kept per section (see
:mod:`dastat.stats.accumulators`), so they merge, all-reduce and get jackknife
intervals exactly like T. stddev.

Per image pair ``i`` of a draw block of ``m`` pairs, with ``a_i = q(x_i)`` and
``b_i = q(x_aug_i)`` where ``q = -Σ_c p_t log p_s`` is the teacher–student
cross-entropy at temperature 1 (or the teacher's entropy for the teacher-only
versions, the student replaced by the teacher):

* ``ce_var``       = (Var a + Var b) / 2, each around its own mean;
* ``ce_cov``       = Cov(a_i, b_i), an image against its own view;
* ``ce_cov_cross`` = the average covariance between the terms of two *different*
  images of the same block (they share the DA's random draw, and mixing DAs share
  images), recovered from the variance of block means M_k = mean of the block's 2m
  terms: ``(2m)² Var M = m (Var a + Var b) + 2m Cov(a, b) + 4 m (m-1) ce_cov_cross``;
* ``risk_var``     = m · Var M, the variance of the empirical distilled risk of one
  block, per image pair (i.i.d. pairs give ``(ce_var + ce_cov) / 2``).

Companions: ``affinity`` (teacher top-1 on views ÷ on the originals; the label of a
mixed view is its larger soft-label share), ``kl_view`` (mean KL(p_t(x) ‖ p_t(x_aug))),
``order_violation`` (for mixing DAs: among views mixing two different classes with
λ ≠ 1/2, the share where the teacher ranks the two classes against λ).
"""

from __future__ import annotations

from typing import Callable

import torch

from .accumulators import DEFAULT_SECTIONS, Estimate, SectionState, Statistic

_CE_KEYS = ("n", "sa", "sb", "saa", "sbb", "sab", "blocks", "sm", "smm", "m")


class SectionSums(SectionState):
    """Named float64 sums, one row per section; its statistics are functions of the totals.

    ``STATISTICS`` maps each name to ``(function of the totals, the sum whose non-zero
    sections are live)``; :meth:`statistic` gives one of them as a :class:`Statistic` of
    its own, and ``estimates()`` all of them, an :class:`Estimate` each.
    """

    KEYS: tuple[str, ...] = ()
    STATISTICS: dict[str, tuple[Callable[[dict[str, float]], float], str]] = {}

    def __init__(self, sections: int = DEFAULT_SECTIONS):
        super().__init__(sections)
        self.index = {name: i for i, name in enumerate(self.KEYS)}
        self.add_state("sums", len(self.KEYS))

    def add(self, unit_index: int, **values: float) -> None:
        row = self.sums[unit_index % self.num_sections]
        for name, value in values.items():
            row[self.index[name]] += float(value)

    def totals(self, exclude: int | None = None) -> dict[str, float]:
        total = self.summed("sums", exclude)
        return {name: float(total[i]) for i, name in enumerate(self.KEYS)}

    def statistic(self, name: str) -> "Derived":
        fn, key = self.STATISTICS[name]
        return Derived(self, name, fn, key)


class Derived(Statistic):
    """One statistic of a :class:`SectionSums`: ``fn`` of its totals, live where ``key`` > 0."""

    def __init__(self, sums: SectionSums, name: str, fn: Callable[[dict[str, float]], float], key: str):
        super().__init__(sums.num_sections)
        self.source, self.name, self.fn, self.key = sums, name, fn, key

    @property
    def n(self) -> int:
        return int(self.source.totals()[self.key])

    def value(self, exclude: int | None = None) -> float:
        return self.fn(self.source.totals(exclude))

    def sections(self) -> list[int]:
        return self.live(self.source.sums[:, self.source.index[self.key]])


def _var(n, s, ss):
    return (ss - s * s / n) / (n - 1)


def ce_var(t: dict[str, float]) -> float:
    return (_var(t["n"], t["sa"], t["saa"]) + _var(t["n"], t["sb"], t["sbb"])) / 2


def ce_cov(t: dict[str, float]) -> float:
    n = t["n"]
    return (t["sab"] - t["sa"] * t["sb"] / n) / (n - 1)


def _block_var(t: dict[str, float]) -> float:
    return _var(t["blocks"], t["sm"], t["smm"])


def ce_cov_cross(t: dict[str, float]) -> float:
    m = t["m"] / t["blocks"]
    within = m * 2 * ce_var(t) + 2 * m * ce_cov(t)
    return ((2 * m) ** 2 * _block_var(t) - within) / (4 * m * (m - 1))


def risk_var(t: dict[str, float]) -> float:
    return t["m"] / t["blocks"] * _block_var(t)


CE_STATISTICS: dict[str, Callable[[dict[str, float]], float]] = {
    "ce_var": ce_var, "ce_cov": ce_cov, "ce_cov_cross": ce_cov_cross, "risk_var": risk_var,
}


class CrossEntropyStats(SectionSums):
    """Var/Cov of per-sample cross-entropy terms on originals and views (see module doc)."""

    KEYS = _CE_KEYS
    STATISTICS = {name: (fn, "blocks") for name, fn in CE_STATISTICS.items()}

    def update(self, a: torch.Tensor, b: torch.Tensor, unit_index: int) -> None:
        """Terms ``a`` (originals) and ``b`` (their views) of one draw block."""
        a, b = a.detach().double().cpu(), b.detach().double().cpu()
        m = a.numel()
        block_mean = float((a.sum() + b.sum()) / (2 * m))
        self.add(unit_index, n=m, sa=a.sum(), sb=b.sum(), saa=(a * a).sum(), sbb=(b * b).sum(),
                 sab=(a * b).sum(), blocks=1, sm=block_mean, smm=block_mean ** 2, m=m)

    def estimates(self) -> dict[str, Estimate]:
        totals = self.totals()
        if totals["blocks"] < 2 or totals["n"] < 2:
            return {name: Estimate.missing(int(totals["n"])) for name in CE_STATISTICS}
        return {name: self.statistic(name).compute() for name in CE_STATISTICS}


def cross_entropy(p_teacher: torch.Tensor, log_p_student: torch.Tensor) -> torch.Tensor:
    """Per-row ``-Σ_c p_t log p_s``."""
    return -(p_teacher * log_p_student).sum(-1)


def kl_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Per-row KL(p ‖ q) for probability rows."""
    return (p * (p.clamp_min(1e-30).log() - q.clamp_min(1e-30).log())).sum(-1)


class Companions(SectionSums):
    """Affinity, view KL and order violations (see module doc), from one pass."""

    KEYS = ("n", "correct_orig", "correct_view", "kl", "mix_n", "mix_bad")
    STATISTICS = {
        "kl_view": (lambda s: s["kl"] / s["n"], "n"),
        "affinity": (lambda s: s["correct_view"] / s["correct_orig"], "n"),
        "order_violation": (lambda s: s["mix_bad"] / s["mix_n"], "mix_n"),
    }

    def update(self, p_orig: torch.Tensor, p_view: torch.Tensor, y: torch.Tensor | None,
               y_view: torch.Tensor | None, params: dict, unit_index: int) -> None:
        values = {"n": p_orig.shape[0], "kl": float(kl_divergence(p_orig.double(), p_view.double()).sum())}
        if y is not None:
            hard_view = y_view.argmax(-1) if y_view is not None and y_view.ndim == 2 else (y_view if y_view is not None else y)
            values["correct_orig"] = float((p_orig.argmax(-1) == y).sum())
            values["correct_view"] = float((p_view.argmax(-1) == hard_view).sum())
            mix = _order_violations(p_view, y, params)
            if mix is not None:
                values["mix_n"], values["mix_bad"] = mix
        self.add(unit_index, **values)

    def estimates(self, *, mixes: bool) -> dict[str, Estimate]:
        """Each companion's estimate; missing where undefined (no labels; order violations of a DA that
        does not mix, or with no eligible view)."""
        t = self.totals()
        defined = {"kl_view": True, "affinity": t["correct_orig"] > 0, "order_violation": mixes and t["mix_n"] > 0}
        return {name: self.statistic(name).compute() if ok else Estimate.missing(int(t["n"]))
                for name, ok in defined.items()}


def _order_violations(p_view: torch.Tensor, y: torch.Tensor, params: dict) -> tuple[int, int] | None:
    """(eligible views, violations) when the DA reports ``lam`` and ``perm``; else None."""
    lam, perm = params.get("lam"), params.get("perm")
    if lam is None or perm is None:
        return None
    perm = torch.as_tensor(perm, device=y.device).long().reshape(-1)
    if perm.numel() != y.numel():
        return None
    lam = torch.as_tensor(lam, dtype=torch.float64, device=p_view.device).reshape(-1).expand(y.numel())
    y_a, y_b = y, y[perm]
    p = p_view.double()
    rows = torch.arange(y.numel(), device=p.device)
    margin = p[rows, y_a] - p[rows, y_b]
    eligible = (y_a != y_b) & (lam != 0.5)
    bad = eligible & ((margin > 0) != (lam > 0.5)) & (margin != 0)
    return int(eligible.sum()), int(bad.sum())
