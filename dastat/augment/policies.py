"""Learned and random augmentation policies: autoaugment, randaugment, trivialaugment, augmix.

The operation tables (policies, magnitude ranges, which operations are signed) are
the papers' as torchvision implements them (:mod:`dastat.augment.spaces`), and the
operations follow torchvision's tensor kernels (see :mod:`dastat.augment.ops`). Like torchvision on a batched tensor,
the default draws one operation sequence for the whole batch (the paper's AutoAugment
did this); ``per_sample=True`` draws per image, applied without a loop over images.

>>> import torch
>>> aug = create("randaugment(num_ops=2,magnitude=9,per_sample=True)")
>>> out = aug(torch.rand(8, 1, 28, 28), generator=torch.Generator().manual_seed(0))
>>> out.x.shape, out.params["ops"].shape
(torch.Size([8, 1, 28, 28]), torch.Size([2, 8]))
"""

from __future__ import annotations

import torch

from . import functional as AF
from . import ops as O
from . import spaces
from .base import AugmentContext, AugmentResult, Augmentation, is_int, is_positive
from .registry import create, register  # noqa: F401  (create: doctest)

class _Policy(Augmentation):
    shared_randomness = True

    def __init__(self, per_sample: bool = False, *, context: AugmentContext | None = None):
        super().__init__(context)
        self.per_sample = bool(per_sample)
        self.shared_randomness = not self.per_sample
        self._tables: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def _table(self, space: dict, num_bins: int, h: int, w: int):
        key = (num_bins, h, w)
        if key not in self._tables:
            self._tables[key] = O.magnitude_table(space, num_bins, h, w)
        return self._tables[key]

    @staticmethod
    def _signed(mags: torch.Tensor, signed: torch.Tensor, generator, draws: int) -> torch.Tensor:
        # torchvision negates a signed magnitude when rand() <= 0.5.
        negate = (AF.uniform(draws, generator) <= 0.5) & signed
        return torch.where(negate, -mags, mags)

    def _apply(self, x: torch.Tensor, ops: torch.Tensor, mags: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        out = x
        for layer in range(ops.shape[0]):
            out = O.apply_ops(out, ops[layer].expand(n), mags[layer].expand(n))
        return out

    def apply(self, x, y, params):
        # Zero layers (randaugment(num_ops=0)) still return a new tensor, never the input.
        out = self._apply(x, params["ops"], params["magnitudes"])
        return AugmentResult(out.clone() if out is x else out, y, dict(params))


@register
class AutoAugment(_Policy):
    """torchvision's AutoAugment sub-policies (by default the data's: cifar10 for small images, imagenet for photos)."""

    name = "autoaugment"
    POLICIES = ("cifar10", "imagenet", "svhn")

    def __init__(self, policy: str | None = None, per_sample: bool = False, *, context: AugmentContext | None = None):
        super().__init__(per_sample, context=context)
        self.require(policy is None or policy in self.POLICIES, "policy", f"one of {', '.join(self.POLICIES)}", policy)
        self.policy = policy

    def policy_for(self, side: int) -> str:
        # The data's own policy when the context gives one, else by image size: CIFAR's for small images.
        return self.policy or self.context.autoaugment_policy or ("cifar10" if side <= 32 else "imagenet")

    def _subpolicies(self, policy: str, h: int, w: int):
        key = (policy, h, w)
        if key not in self._tables:
            table_ids, mags, signed = O.magnitude_table(spaces.AUTOAUGMENT, 10, h, w)
            row = {int(op): i for i, op in enumerate(table_ids)}
            subs = spaces.AUTOAUGMENT_POLICIES[policy]
            ops = torch.tensor([[O.OPS.index(name) for name, _, _ in sub] for sub in subs])
            prob = torch.tensor([[p for _, p, _ in sub] for sub in subs], dtype=torch.float64)
            mag = torch.tensor(
                [[float(mags[row[O.OPS.index(name)], m or 0]) for name, _, m in sub] for sub in subs], dtype=torch.float64
            )
            sign = torch.tensor([[bool(signed[row[O.OPS.index(name)]]) for name, _, _ in sub] for sub in subs])
            self._tables[key] = (ops, prob, mag, sign)
        return self._tables[key]

    def sample(self, x, y=None, *, generator=None):
        n, _, h, w = x.shape
        policy = self.policy_for(w)
        ops_t, prob_t, mag_t, sign_t = self._subpolicies(policy, h, w)
        draws = n if self.per_sample else 1
        sub = AF.randint(len(ops_t), draws, generator)
        ops, mags = [], []
        for step in range(ops_t.shape[1]):
            apply = AF.uniform(draws, generator) <= prob_t[sub, step]
            mags.append(torch.where(apply, self._signed(mag_t[sub, step], sign_t[sub, step], generator, draws), 0.0))
            ops.append(torch.where(apply, ops_t[sub, step], 0))
        return {"policy": policy, "subpolicy": sub, "ops": torch.stack(ops), "magnitudes": torch.stack(mags)}


@register
class RandAugment(_Policy):
    """num_ops operations drawn uniformly from torchvision's RandAugment list, all at one magnitude."""

    name = "randaugment"

    def __init__(
        self,
        num_ops: int = 2,
        magnitude: int = 9,
        num_magnitude_bins: int = 31,
        per_sample: bool = False,
        *,
        context: AugmentContext | None = None,
    ):
        super().__init__(per_sample, context=context)
        self.require(is_int(num_ops, 0), "num_ops", "a non-negative integer", num_ops)
        self.require(is_int(num_magnitude_bins, 2), "num_magnitude_bins", "an integer >= 2", num_magnitude_bins)
        bins = f"an integer in [0, {num_magnitude_bins - 1}]"
        self.require(is_int(magnitude, 0) and magnitude < num_magnitude_bins, "magnitude", bins, magnitude)
        self.num_ops, self.magnitude, self.num_magnitude_bins = num_ops, magnitude, num_magnitude_bins

    def sample(self, x, y=None, *, generator=None):
        n, _, h, w = x.shape
        table_ops, table_mags, table_signed = self._table(spaces.RANDAUGMENT, self.num_magnitude_bins, h, w)
        draws = n if self.per_sample else 1
        ops, mags = [], []
        for _ in range(self.num_ops):
            k = AF.randint(len(table_ops), draws, generator)
            ops.append(table_ops[k])
            mags.append(self._signed(table_mags[k, self.magnitude], table_signed[k], generator, draws))
        ops = torch.stack(ops) if ops else torch.zeros(0, draws, dtype=torch.long)
        mags = torch.stack(mags) if mags else torch.zeros(0, draws, dtype=torch.float64)
        return {"ops": ops, "magnitudes": mags}


@register
class TrivialAugment(_Policy):
    """One operation from torchvision's TrivialAugmentWide list at a uniformly random magnitude."""

    name = "trivialaugment"

    def __init__(self, num_magnitude_bins: int = 31, per_sample: bool = False, *, context: AugmentContext | None = None):
        super().__init__(per_sample, context=context)
        self.require(is_int(num_magnitude_bins, 2), "num_magnitude_bins", "an integer >= 2", num_magnitude_bins)
        self.num_magnitude_bins = num_magnitude_bins

    def sample(self, x, y=None, *, generator=None):
        n, _, h, w = x.shape
        table_ops, table_mags, table_signed = self._table(spaces.TRIVIALAUGMENT_WIDE, self.num_magnitude_bins, h, w)
        draws = n if self.per_sample else 1
        k = AF.randint(len(table_ops), draws, generator)
        b = AF.randint(self.num_magnitude_bins, draws, generator)
        mags = self._signed(table_mags[k, b], table_signed[k], generator, draws)
        return {"ops": table_ops[k].unsqueeze(0), "magnitudes": mags.unsqueeze(0)}


@register
class AugMix(_Policy):
    """torchvision's AugMix: mixture_width chains of 1–3 operations blended with the image (Dirichlet weights)."""

    name = "augmix"

    def __init__(
        self,
        severity: int = 3,
        mixture_width: int = 3,
        chain_depth: int = -1,
        alpha: float = 1.0,
        all_ops: bool = True,
        per_sample: bool = False,
        *,
        context: AugmentContext | None = None,
    ):
        super().__init__(per_sample, context=context)
        self.require(is_int(severity, 1) and severity <= 10, "severity", "an integer in [1, 10]", severity)
        self.require(is_int(mixture_width, 1), "mixture_width", "a positive integer", mixture_width)
        depth_ok = is_int(chain_depth) and (chain_depth == -1 or chain_depth >= 1)
        self.require(depth_ok, "chain_depth", "-1 (random 1 to 3) or a positive integer", chain_depth)
        self.require(is_positive(alpha), "alpha", "a positive number", alpha)
        self.severity, self.mixture_width, self.chain_depth = severity, mixture_width, chain_depth
        self.alpha, self.all_ops = float(alpha), bool(all_ops)

    def sample(self, x, y=None, *, generator=None):
        n, _, h, w = x.shape
        space = spaces.AUGMIX if self.all_ops else spaces.AUGMIX_PARTIAL
        table_ops, table_mags, table_signed = self._table(space, 10, h, w)
        draws = n if self.per_sample else 1
        # Mixing weights are per image in torchvision too: m ~ Dirichlet(alpha, alpha).
        m = AF.sample_dirichlet(self.alpha, 2, n, generator).float()
        weights = AF.sample_dirichlet(self.alpha, self.mixture_width, n, generator).float() * m[:, 1:2]
        max_depth = self.chain_depth if self.chain_depth > 0 else 3
        chains, chain_mags = [], []
        for _ in range(self.mixture_width):
            depth = torch.full((draws,), self.chain_depth) if self.chain_depth > 0 else AF.randint(3, draws, generator) + 1
            ops, mags = [], []
            for step in range(max_depth):
                k = AF.randint(len(table_ops), draws, generator)
                b = AF.randint(self.severity, draws, generator)
                ops.append(torch.where(step < depth, table_ops[k], 0))
                mags.append(self._signed(table_mags[k, b], table_signed[k], generator, draws))
            chains.append(torch.stack(ops))
            chain_mags.append(torch.stack(mags))
        return {"ops": torch.stack(chains), "magnitudes": torch.stack(chain_mags), "weights": weights, "m": m[:, 0]}

    def apply(self, x, y, params):
        xf = x if x.is_floating_point() else x.float()
        shape = (x.shape[0], 1, 1, 1)
        mix = params["m"].to(x.device, xf.dtype).view(shape) * xf
        for i, (ops, mags) in enumerate(zip(params["ops"], params["magnitudes"])):
            aug = self._apply(x, ops, mags)
            mix = mix + params["weights"][:, i].to(x.device, xf.dtype).view(shape) * (aug if aug.is_floating_point() else aug.float())
        out = mix if x.is_floating_point() else mix.to(x.dtype)  # truncating cast, as torchvision's
        return AugmentResult(out, y, dict(params))
