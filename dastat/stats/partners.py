"""The image part of a block mean's variance when each image is mixed with a random partner.

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

:func:`mixing_image_variance` combines their per-block averages into an unbiased
estimate of ``m · Var E[b | images]``, for CutMix's derangement and for Mixup's uniform
permutation (where an image may be its own partner, and then its view is itself).
"""

from __future__ import annotations

import torch


#: The partner schemes: CutMix's derangement (``π(i)`` uniform over ``j ≠ i``) and Mixup's uniform permutation
#: (``π(i)`` uniform over all ``j``; mixing an image with itself gives the image, so ``g(x, x) = p(x)``).
SCHEMES = ("derangement", "permutation")


def _pair_probability(m: int, scheme: str) -> float:
    """The probability that two independent draws give image ``i`` the same partner ``j ≠ i`` (summed over j);
    also that ``i``'s partner ``j ≠ i`` in one draw takes ``i`` as partner in the other."""
    q = 1 / (m - 1) if scheme == "derangement" else 1 / m
    return (m - 1) * q * q


def partner_moments(p: torch.Tensor, s_mean: torch.Tensor, u: torch.Tensor, perms: torch.Tensor,
                    scheme: str = "derangement") -> dict:
    """One block's moments: ``p`` (m×C) originals, ``s_mean`` (m×C) draw-averaged shares, ``u`` (R×m×C) views,
    ``perms`` (R×m) each draw's partners. Returns C-vectors keyed as the module doc names them."""
    m = p.shape[0]
    index = torch.arange(m)
    weight = 1 / (m * _pair_probability(m, scheme))  # inverse of the expected count of shared pairs per image
    same = reversed_ = disjoint = torch.zeros(p.shape[1], dtype=torch.float64)
    pairs = 0
    for r in range(u.shape[0]):
        for q in range(r + 1, u.shape[0]):
            pr, pq = perms[r], perms[q]
            mixed = pr != index  # an image that is its own partner gives a view of itself, not a pair
            same = same + (u[r] * u[q])[(pr == pq) & mixed].sum(0) * weight
            back = (pq[pr] == index) & mixed
            reversed_ = reversed_ + (u[r] * u[q][pr])[back].sum(0) * weight
            # view i of draw r and view j of draw q on four distinct images: E[u u'] = E[g]².
            a, b, c, d = index[:, None], pr[:, None], index[None, :], pq[None, :]
            mask = ((a != c) & (a != d) & (b != c) & (b != d) & (a != b) & (c != d)).double()
            disjoint = disjoint + torch.einsum("ic,ij,jc->c", u[r], mask, u[q]) / mask.sum()
            pairs += 1
    centred = p - p.mean(0)
    return {"orig_var": p.var(0), "cross": (centred * (s_mean - s_mean.mean(0))).sum(0) / (m - 1),
            "pair_same": same / pairs, "pair_reversed": reversed_ / pairs, "pair_disjoint": disjoint / pairs}


def _coefficients(m: int, scheme: str) -> tuple[float, float, float, float, float]:
    """``(ω_p, ω_c, τ_p, τ_c, λ)``: the shares estimate the spread of ``ω_p p + ω_c c`` (plus ``δ ω_c²/(m − 2)``),
    and ``m · V_img = Var(τ_p p + τ_c c) + λ δ`` (docs/protocols.md)."""
    if scheme == "derangement":
        return 0.5, (m - 2) / (m - 1), 0.5, 1.0, 1 / (2 * (m - 1))
    return (m + 2) / (2 * m), (m - 2) / m, (m + 1) / (2 * m), (m - 1) / m, (m - 1) / (2 * m * m)


def mixing_image_variance(m: int, within_var: torch.Tensor, moments: dict, scheme: str = "derangement") -> torch.Tensor:
    """``m · Var E[b | images]`` (per class) from per-block averages: ``within_var`` is ``(R·B − A)/(R − 1)``,
    ``moments`` the averages of :func:`partner_moments`' values. Unbiased for every ``m ≥ 5``."""
    if m < 5:
        raise ValueError("the partner correction needs blocks of at least 5 images")
    w_p, w_c, t_p, t_c, lam = _coefficients(m, scheme)
    var_p = moments["orig_var"]  # α = Var p
    cov_p_c = (moments["cross"] - w_p * var_p) / w_c  # β = Cov(p, c)
    var_c_plus = (within_var - w_p ** 2 * var_p - 2 * w_p * w_c * cov_p_c) / w_c ** 2  # γ + δ/(m − 2)
    var_k = (moments["pair_same"] + moments["pair_reversed"]) / 2 - moments["pair_disjoint"]  # 2γ + δ
    delta = (var_k - 2 * var_c_plus) * (m - 2) / (m - 4)
    var_c = var_c_plus - delta / (m - 2)
    return t_p ** 2 * var_p + 2 * t_p * t_c * cov_p_c + t_c ** 2 * var_c + lam * delta
