"""Learned and random augmentation policies: autoaugment, randaugment, trivialaugment, augmix.

The operation tables (policies, magnitude ranges, which operations are signed) are
torchvision's own (``torchvision.transforms.v2``), and the operations follow its
tensor kernels (see :mod:`dastat.augment.ops`). Like torchvision on a batched tensor,
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
from .base import AugmentContext, AugmentResult, Augmentation
from .registry import create, register  # noqa: F401  (create: doctest)

_SMALL_IMAGE_DATASETS = ("cifar10", "cifar100", "fashion-mnist")


def _space(cls_name: str, partial: bool = False) -> dict:
    from torchvision.transforms import v2

    cls = getattr(v2, cls_name)
    return cls._PARTIAL_AUGMENTATION_SPACE if partial else cls._AUGMENTATION_SPACE


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


@register
class AutoAugment(_Policy):
    """torchvision's AutoAugment sub-policies (policy cifar10 for CIFAR and Fashion-MNIST, imagenet otherwise)."""

    name = "autoaugment"
    POLICIES = ("cifar10", "imagenet", "svhn")

    def __init__(self, policy: str | None = None, per_sample: bool = False, *, context: AugmentContext | None = None):
        super().__init__(per_sample, context=context)
        if policy is not None and policy not in self.POLICIES:
            raise ValueError(f"policy must be one of {', '.join(self.POLICIES)}, got {policy!r}")
        self.policy = policy

    def policy_for(self, side: int) -> str:
        if self.policy is not None:
            return self.policy
        dataset = self.context.dataset
        if dataset is None:
            return "cifar10" if side <= 32 else "imagenet"
        return "cifar10" if dataset.split(":")[0] in _SMALL_IMAGE_DATASETS else "imagenet"

    def _subpolicies(self, policy: str, h: int, w: int):
        from torchvision.transforms import v2

        key = (policy, h, w)
        if key not in self._tables:
            table_ids, mags, signed = O.magnitude_table(v2.AutoAugment._AUGMENTATION_SPACE, 10, h, w)
            row = {int(op): i for i, op in enumerate(table_ids)}
            subs = v2.AutoAugment(v2.AutoAugmentPolicy(policy))._policies
            ops = torch.tensor([[O.OPS.index(name) for name, _, _ in sub] for sub in subs])
            prob = torch.tensor([[p for _, p, _ in sub] for sub in subs], dtype=torch.float64)
            mag = torch.tensor(
                [[float(mags[row[O.OPS.index(name)], m or 0]) for name, _, m in sub] for sub in subs], dtype=torch.float64
            )
            sign = torch.tensor([[bool(signed[row[O.OPS.index(name)]]) for name, _, _ in sub] for sub in subs])
            self._tables[key] = (ops, prob, mag, sign)
        return self._tables[key]

    def forward(self, x, y, generator):
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
        ops, mags = torch.stack(ops), torch.stack(mags)
        return AugmentResult(self._apply(x, ops, mags), y, {"policy": policy, "subpolicy": sub, "ops": ops, "magnitudes": mags})


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
        if not isinstance(num_ops, int) or num_ops < 0:
            raise ValueError(f"num_ops must be a non-negative integer, got {num_ops!r}")
        if not isinstance(num_magnitude_bins, int) or num_magnitude_bins < 2:
            raise ValueError(f"num_magnitude_bins must be an integer >= 2, got {num_magnitude_bins!r}")
        if not isinstance(magnitude, int) or not 0 <= magnitude < num_magnitude_bins:
            raise ValueError(f"magnitude must be an integer in [0, {num_magnitude_bins - 1}], got {magnitude!r}")
        self.num_ops, self.magnitude, self.num_magnitude_bins = num_ops, magnitude, num_magnitude_bins

    def forward(self, x, y, generator):
        n, _, h, w = x.shape
        table_ops, table_mags, table_signed = self._table(_space("RandAugment"), self.num_magnitude_bins, h, w)
        draws = n if self.per_sample else 1
        ops, mags = [], []
        for _ in range(self.num_ops):
            k = AF.randint(len(table_ops), draws, generator)
            ops.append(table_ops[k])
            mags.append(self._signed(table_mags[k, self.magnitude], table_signed[k], generator, draws))
        ops = torch.stack(ops) if ops else torch.zeros(0, draws, dtype=torch.long)
        mags = torch.stack(mags) if mags else torch.zeros(0, draws, dtype=torch.float64)
        return AugmentResult(self._apply(x, ops, mags), y, {"ops": ops, "magnitudes": mags})


@register
class TrivialAugment(_Policy):
    """One operation from torchvision's TrivialAugmentWide list at a uniformly random magnitude."""

    name = "trivialaugment"

    def __init__(self, num_magnitude_bins: int = 31, per_sample: bool = False, *, context: AugmentContext | None = None):
        super().__init__(per_sample, context=context)
        if not isinstance(num_magnitude_bins, int) or num_magnitude_bins < 2:
            raise ValueError(f"num_magnitude_bins must be an integer >= 2, got {num_magnitude_bins!r}")
        self.num_magnitude_bins = num_magnitude_bins

    def forward(self, x, y, generator):
        n, _, h, w = x.shape
        table_ops, table_mags, table_signed = self._table(_space("TrivialAugmentWide"), self.num_magnitude_bins, h, w)
        draws = n if self.per_sample else 1
        k = AF.randint(len(table_ops), draws, generator)
        b = AF.randint(self.num_magnitude_bins, draws, generator)
        mags = self._signed(table_mags[k, b], table_signed[k], generator, draws)
        ops, mags = table_ops[k].unsqueeze(0), mags.unsqueeze(0)
        return AugmentResult(self._apply(x, ops, mags), y, {"ops": ops, "magnitudes": mags})


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
        if not isinstance(severity, int) or not 1 <= severity <= 10:
            raise ValueError(f"severity must be an integer in [1, 10], got {severity!r}")
        if not isinstance(mixture_width, int) or mixture_width < 1:
            raise ValueError(f"mixture_width must be a positive integer, got {mixture_width!r}")
        if not isinstance(chain_depth, int) or chain_depth == 0 or chain_depth < -1:
            raise ValueError(f"chain_depth must be -1 (random 1 to 3) or a positive integer, got {chain_depth!r}")
        if not isinstance(alpha, (int, float)) or alpha <= 0:
            raise ValueError(f"alpha must be positive, got {alpha!r}")
        self.severity, self.mixture_width, self.chain_depth = severity, mixture_width, chain_depth
        self.alpha, self.all_ops = float(alpha), bool(all_ops)

    def forward(self, x, y, generator):
        n, _, h, w = x.shape
        table_ops, table_mags, table_signed = self._table(_space("AugMix", partial=not self.all_ops), 10, h, w)
        draws = n if self.per_sample else 1
        # Mixing weights are per image in torchvision too: m ~ Dirichlet(alpha, alpha).
        m = AF.sample_dirichlet(self.alpha, 2, n, generator).float()
        weights = AF.sample_dirichlet(self.alpha, self.mixture_width, n, generator).float() * m[:, 1:2]
        xf = x if x.is_floating_point() else x.float()
        shape = (n, 1, 1, 1)
        mix = m[:, 0].to(x.device, xf.dtype).view(shape) * xf
        max_depth = self.chain_depth if self.chain_depth > 0 else 3
        all_ops = []
        for i in range(self.mixture_width):
            if self.chain_depth > 0:
                depth = torch.full((draws,), self.chain_depth)
            else:
                depth = AF.randint(3, draws, generator) + 1
            ops, mags = [], []
            for step in range(max_depth):
                k = AF.randint(len(table_ops), draws, generator)
                b = AF.randint(self.severity, draws, generator)
                ops.append(torch.where(step < depth, table_ops[k], 0))
                mags.append(self._signed(table_mags[k, b], table_signed[k], generator, draws))
            ops, mags = torch.stack(ops), torch.stack(mags)
            all_ops.append(ops)
            aug = self._apply(x, ops, mags)
            mix = mix + weights[:, i].to(x.device, xf.dtype).view(shape) * (aug if aug.is_floating_point() else aug.float())
        out = mix if x.is_floating_point() else mix.to(x.dtype)  # truncating cast, as torchvision's
        return AugmentResult(out, y, {"ops": torch.stack(all_ops), "weights": weights, "m": m[:, 0]})
