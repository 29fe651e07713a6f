"""What the torchvision and timm adapters share: their names, their random streams, their input formats.

A library transform is named in a spec with a prefix (see :mod:`dastat.augment.spec`):
``tv:NAME(...)`` for a ``torchvision.transforms.v2`` class, ``timm:CONFIG`` for one of
timm's augmentation strings and ``timm:NAME(...)`` for timm's ``Mixup`` or
``RandomErasing``. :func:`dastat.augment.registry.entry` turns such a name into a registry entry.

Library transforms draw from the global random generators (torch's, and Python's
``random`` and numpy's for timm). An adapter draws one seed from dastat's explicit
generator (:func:`dastat.augment.wrap.draw_seed`) and runs the library inside
:func:`library_rng`, which seeds every global generator from it and restores their
states afterwards; the same generator state gives the same views, and the caller's
global streams are left untouched. By hand, the same call is::

    seed = int(torch.randint(0, 2**62, (1,), generator=g))
    torch.manual_seed(seed); random.seed(seed); numpy.random.seed(seed % 2**32)

Each library expects its input at one point of a training pipeline (:data:`STAGES`);
:func:`to_stage` and :func:`from_stage` take dastat's batch (uint8, or float in
[0, 1]) there and back.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any, Callable

import numpy as np
import torch

from .base import AugmentContext
from .functional import to_float

#: Where in a training pipeline a library transform works: on the images as dastat holds
#: them (uint8 or float in [0, 1]), on floats in [0, 1], or after ``Normalize(mean, std)``.
STAGES = ("pixels", "float", "normalized")


@contextlib.contextmanager
def library_rng(seed: int, device: torch.device):
    """Run a block with torch's, Python's and numpy's global generators seeded with ``seed``, restored afterwards."""
    devices = [device.index or 0] if device.type == "cuda" else []
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            random.seed(seed)
            np.random.seed(seed % 2**32)
            yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def _mean_std(context: AugmentContext, channels: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # Without the data's statistics the batch is taken as already normalised (mean 0, std 1).
    mean = context.mean if context.mean is not None else (0.0,) * channels
    std = context.std if context.std is not None else (1.0,) * channels
    shape = (1, channels, 1, 1)
    return (torch.tensor(mean, dtype=torch.float32, device=x.device).view(shape),
            torch.tensor(std, dtype=torch.float32, device=x.device).view(shape))


def to_stage(x: torch.Tensor, stage: str, context: AugmentContext) -> torch.Tensor:
    """A copy of the batch in the format ``stage`` names (never ``x`` itself: libraries write in place)."""
    if stage == "pixels":
        return x.clone()
    xf = to_float(x) if x.dtype == torch.uint8 else x.float().clone()
    if stage == "float":
        return xf
    mean, std = _mean_std(context, x.shape[1], x)
    return (xf - mean) / std


def from_stage(out: torch.Tensor, x: torch.Tensor, stage: str, context: AugmentContext) -> torch.Tensor:
    """The library's output back in ``x``'s format: uint8 is rounded to the nearest level and clipped to [0, 255]."""
    if stage == "normalized":
        mean, std = _mean_std(context, x.shape[1], x)
        out = out * std + mean
    if stage == "pixels" or out.dtype == x.dtype:
        return out
    if x.dtype == torch.uint8:
        return (out * 255).round_().clamp_(0, 255).to(torch.uint8)
    return out.to(x.dtype)


@contextlib.contextmanager
def recording(obj: Any, method: str, into: list):
    """While the block runs, every return value of ``obj.method`` is appended to ``into``.

    The library's public call then runs unchanged, and its draws (a mixing weight, a box)
    are read from what it computed rather than drawn a second time.
    """
    original: Callable = getattr(obj, method)

    def record(*args, **kwargs):
        value = original(*args, **kwargs)
        into.append(value)
        return value

    setattr(obj, method, record)
    try:
        yield into
    finally:
        delattr(obj, method)  # the class's method shows through again
