"""Adapters that turn a user's callable or a torchvision transform into a DA.

A torchvision v2 transform draws from the global RNG; here ``sample`` draws one seed
from the explicit generator and ``apply`` runs the transform inside
``torch.random.fork_rng`` seeded with it, so the same generator state (or the recorded
seed) gives the same batch and the caller's global RNG is left untouched. A function
that takes a ``generator`` gets a fresh one seeded with the recorded seed.

>>> import torch
>>> from torchvision.transforms import v2
>>> aug = TransformAugmentation(v2.RandomErasing(p=1.0))
>>> a = aug(torch.rand(2, 1, 8, 8), generator=torch.Generator().manual_seed(1)).x
>>> b = aug(torch.rand(2, 1, 8, 8) * 0 + a, generator=torch.Generator().manual_seed(1)).x
>>> bool((a == b).all())
True
"""

from __future__ import annotations

import contextlib
import inspect
from typing import Any, Callable

import torch

from .base import AugmentContext, AugmentResult, Augmentation


def draw_seed(generator: torch.Generator | None) -> dict[str, Any]:
    """One seed drawn from ``generator``, with the generator's device, as recorded params."""
    gen_device = generator.device if generator is not None else torch.device("cpu")
    return {"seed": int(torch.randint(0, 2**62, (1,), generator=generator, device=gen_device)), "device": str(gen_device)}


@contextlib.contextmanager
def seeded_global_rng(seed: int, device: torch.device):
    """Run a block with the global RNGs seeded with ``seed`` and restored afterwards."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _check(out: torch.Tensor, x: torch.Tensor, who: str) -> torch.Tensor:
    if not isinstance(out, torch.Tensor) or out.shape != x.shape:
        raise ValueError(f"{who} must return a batch of the input's shape {tuple(x.shape)}")
    if out.dtype != x.dtype or out.device != x.device:
        raise ValueError(f"{who} changed the batch's dtype or device ({x.dtype}, {x.device} -> {out.dtype}, {out.device})")
    return out


class SeedDrawing(Augmentation):
    """A DA whose one random draw is a seed (:func:`draw_seed`), from which ``apply`` runs a library's own
    randomness."""

    def sample(self, x, y=None, *, generator=None):
        return draw_seed(generator)


class TransformAugmentation(SeedDrawing):
    """A torchvision v2 transform applied to the batch (one draw) or image by image."""

    name = "transform"

    def __init__(
        self,
        transform: Callable[[torch.Tensor], torch.Tensor],
        context: AugmentContext | None = None,
        *,
        per_sample: bool = False,
        mixes: bool = False,
        shared_randomness: bool = True,
        deterministic: bool = False,
    ):
        super().__init__(context)
        self.transform = transform
        self.per_sample = bool(per_sample)
        self.mixes, self.deterministic = mixes, deterministic
        self.shared_randomness = shared_randomness and not self.per_sample

    def apply(self, x, y, params):
        with seeded_global_rng(params["seed"], x.device):
            src = x.clone()  # transforms are trusted with a copy, never with the caller's batch
            out = torch.stack([self.transform(img) for img in src]) if self.per_sample else self.transform(src)
        return AugmentResult(_check(out, x, self.name), y, dict(params))


class FunctionAugmentation(SeedDrawing):
    """A callable on a batch: ``fn(x, [y], [generator=g], **kwargs)``.

    It may return the new batch, ``(x, y)``, or an :class:`AugmentResult`.
    """

    name = "function"

    def __init__(
        self,
        fn: Callable[..., Any],
        context: AugmentContext | None = None,
        *,
        kwargs: dict[str, Any] | None = None,
        mixes: bool = False,
        shared_randomness: bool = True,
        deterministic: bool = False,
    ):
        super().__init__(context)
        self.fn, self.kwargs = fn, dict(kwargs or {})
        self.mixes, self.shared_randomness, self.deterministic = mixes, shared_randomness, deterministic
        names = inspect.signature(fn).parameters
        self._takes_y = "y" in names
        self._takes_generator = "generator" in names

    def apply(self, x, y, params):
        args = (x, y) if self._takes_y else (x,)
        if self._takes_generator:
            generator = torch.Generator(device=params["device"]).manual_seed(params["seed"])
            out = self.fn(*args, generator=generator, **self.kwargs)
        else:
            with seeded_global_rng(params["seed"], x.device):
                out = self.fn(*args, **self.kwargs)
        if isinstance(out, AugmentResult):
            result = AugmentResult(out.x, out.y, {**out.params, **params}, out.teacher_logits, out.student_logits,
                                   out.teacher_features, out.forwards)
        elif isinstance(out, tuple):
            result = AugmentResult(out[0], out[1], dict(params))
        else:
            result = AugmentResult(out, y, dict(params))
        _check(result.x, x, self.name)
        return result
