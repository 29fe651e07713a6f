"""The image part of a block mean's variance when each image is mixed with a derangement partner.

CutMix pairs image ``i`` of a block of ``m`` with a partner ``π(i) ≠ i`` (a uniformly
random derangement, fresh for every draw). Then ``E[b | images]`` is a U-statistic of
order 2 in the images, and the within-block spread of the shares ``s`` (what
:class:`~dastat.stats.SplitTStddev` uses for a DA that does not mix) misses its
``O(1/m)`` terms. The exact finite-``m`` expectations behind the correction are derived
in ``docs/protocols.md`` ("Mixing with a derangement"); this module computes, per block,
the moments they need:

* ``orig_var`` — the within-block sample variance of the originals' probabilities ``p_i``;
* ``cross`` — the within-block sample covariance of ``p_i`` and the draw-averaged share;
* ``pair_same``, ``pair_reversed`` — ``E[g(X, Y)²]`` and ``E[g(X, Y) g(Y, X)]`` for the
  mean view probability ``g(x, y)`` of image ``x`` with partner ``y``, from the pairs that two
  independent draws happen to share (same order, or reversed), weighted by the inverse of
  their known probability ``1 / (m − 1)``;
* ``pair_disjoint`` — ``E[g]²``, from products of views of two draws on four distinct images.

:func:`derangement_image_variance` combines their per-block averages into an unbiased
estimate of ``m · Var E[b | images]``.
"""

from __future__ import annotations

import torch


def partner_moments(p: torch.Tensor, s_mean: torch.Tensor, u: torch.Tensor, perms: torch.Tensor) -> dict:
    """One block's moments: ``p`` (m×C) originals, ``s_mean`` (m×C) draw-averaged shares, ``u`` (R×m×C) views,
    ``perms`` (R×m) each draw's partners. Returns C-vectors keyed as the module doc names them."""
    m = p.shape[0]
    index = torch.arange(m)
    same = reversed_ = disjoint = torch.zeros(p.shape[1], dtype=torch.float64)
    pairs = 0
    for r in range(u.shape[0]):
        for q in range(r + 1, u.shape[0]):
            pr, pq = perms[r], perms[q]
            # Each of m images has its draw-q partner equal to its draw-r partner with probability 1/(m−1),
            # and likewise its draw-r partner takes it as partner in draw q: (m − 1)/m per pair of draws is unbiased.
            same = same + (u[r] * u[q])[pr == pq].sum(0) * (m - 1) / m
            back = pq[pr] == index
            reversed_ = reversed_ + (u[r] * u[q][pr])[back].sum(0) * (m - 1) / m
            # view i of draw r and view j of draw q on four distinct images: E[u u'] = E[g]².
            a, b, c, d = index[:, None], pr[:, None], index[None, :], pq[None, :]
            mask = ((a != c) & (a != d) & (b != c) & (b != d)).double()
            disjoint = disjoint + torch.einsum("ic,ij,jc->c", u[r], mask, u[q]) / mask.sum()
            pairs += 1
    centred = p - p.mean(0)
    return {"orig_var": p.var(0), "cross": (centred * (s_mean - s_mean.mean(0))).sum(0) / (m - 1),
            "pair_same": same / pairs, "pair_reversed": reversed_ / pairs, "pair_disjoint": disjoint / pairs}


def derangement_image_variance(m: int, within_var: torch.Tensor, moments: dict) -> torch.Tensor:
    """``m · Var E[b | images]`` (per class) from per-block averages: ``within_var`` is ``(R·B − A)/(R − 1)``,
    ``moments`` the averages of :func:`partner_moments`' values. Unbiased for every ``m ≥ 5``."""
    if m < 5:
        raise ValueError("the derangement correction needs blocks of at least 5 images")
    orig_var, cross = moments["orig_var"], moments["cross"]
    cov_p_c = (cross - orig_var / 2) * (m - 1) / (m - 2)  # Cov(p, c)
    var_c_plus = (within_var - cross + orig_var / 4) * (m - 1) ** 2 / (m - 2) ** 2  # Var c + δ/(m − 2)
    var_k = (moments["pair_same"] + moments["pair_reversed"]) / 2 - moments["pair_disjoint"]  # 2 Var c + δ
    # Var c + δ/(2(m − 1)) = var_c_plus − δ·m/(2(m − 1)(m − 2)), with δ = (var_k − 2 var_c_plus)(m − 2)/(m − 4).
    return orig_var / 4 + cov_p_c + var_c_plus - (var_k - 2 * var_c_plus) * m / (2 * (m - 1) * (m - 4))
