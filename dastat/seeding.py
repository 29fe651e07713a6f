"""One way to derive seeds: a stable 63-bit integer from any tuple of parts.

Every random stream in dastat (a block's base view, a DA's draw, an epoch's shuffle,
a training step's augmentation) is seeded from the parts that identify it, so a
result depends on the seed and on what is being computed, never on the order in which
work was split between processes or workers.

>>> stable_seed(0, "epoch", 3) == stable_seed(0, "epoch", 3)
True
>>> stable_seed(0, 1) != stable_seed(1, 0)
True
"""

from __future__ import annotations

import zlib
from typing import Any

import torch


def stable_seed(*parts: Any) -> int:
    """A 63-bit seed from the parts, stable across runs and processes (unlike ``hash()``)."""
    return zlib.crc32(repr(parts).encode()) | (zlib.adler32(repr(parts[::-1]).encode()) << 32)


def generator(*parts: Any, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with :func:`stable_seed` of the parts."""
    return torch.Generator(device=device).manual_seed(stable_seed(*parts))
