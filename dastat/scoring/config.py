"""The settings of a scoring run, in one place: :class:`ScoreConfig`."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import UserError

DEFAULT_MAX_IMAGES = 32_768
DEFAULT_DRAWS = 4
PROTOCOLS = ("fast", "paper")


@dataclass(frozen=True)
class ScoreConfig:
    """How to score: the protocol and its budget, batches, seed, device, progress, and the ranking key.

    ``epochs`` is for the paper protocol; ``precision`` (the target relative half-width
    of the 95% interval), ``max_images`` (originals per DA, or the ``2 × max_images``
    forwards that they and one view each take, whichever comes first) and ``draws``
    (draws of a batch-random DA on each block; 1 = a fresh block per draw) for the
    fast one;
    ``batch_size`` is also the unit over which a DA shares its random draw; ``by`` is
    the statistic :func:`dastat.rank` sorts by.
    """

    protocol: str = "fast"
    epochs: int = 10
    precision: float = 0.01
    max_images: int = DEFAULT_MAX_IMAGES
    draws: int = DEFAULT_DRAWS
    batch_size: int = 64
    seed: int = 0
    device: str | torch.device | None = "auto"
    progress: bool = False
    by: str = "t_stddev"

    def validate(self) -> "ScoreConfig":
        """Raise a UserError for settings no run can use; return self."""
        if self.protocol not in PROTOCOLS:
            raise UserError(f"unknown protocol {self.protocol!r}; choose 'fast' or 'paper'")
        if self.batch_size < 2:
            raise UserError("--batch-size must be at least 2")
        if not 0 < self.precision < 1:
            raise UserError("--precision is a relative half-width, between 0 and 1 (0.01 = 1%)")
        if self.draws < 1:
            raise UserError("--draws must be at least 1")
        if self.epochs < 1 or self.max_images < self.batch_size:
            raise UserError("--epochs must be ≥ 1 and --max-images at least one batch")
        return self
