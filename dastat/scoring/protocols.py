"""The two scoring protocols: what a run walks, what a T. stddev unit is, and when a DA stops.

* :class:`PaperProtocol` — the paper's procedure: ``epochs`` passes over the training
  split (the last short batch kept), groups of 5 whole batches and their views
  (:class:`~dastat.stats.BatchGrouper`, running on across epoch ends), T. stddev =
  the sd of the group means; it never stops early.
* :class:`FastProtocol` — the unit is the draw block (or the image pair when a DA's
  views are independent given their images, see :mod:`dastat.stats.tstddev`); a DA
  stops when its 95% interval's relative half-width is at most ``precision`` or when
  it has used ``max_images`` originals.
"""

from __future__ import annotations

import math
from typing import Callable, Iterator, Sequence

import torch

from ..augment.base import Augmentation
from ..stats import GROUP_SIZE, BatchGrouper
from .config import ScoreConfig
from .stream import BlockStream

#: ``units(k, p_orig, p_view)`` yields ``(unit index, units)`` for T. stddev.
UnitFn = Callable[[int, torch.Tensor, torch.Tensor], Iterator[tuple[int, torch.Tensor]]]
CHECK_EVERY = 16  # blocks between stopping checks
MIN_BLOCKS = 32  # blocks before the first stopping check


def pair_units(k: int, p_orig: torch.Tensor, p_view: torch.Tensor) -> Iterator[tuple[int, torch.Tensor]]:
    yield k, (p_orig.double() + p_view.double()) / 2


def block_units(k: int, p_orig: torch.Tensor, p_view: torch.Tensor) -> Iterator[tuple[int, torch.Tensor]]:
    yield k, ((p_orig.double() + p_view.double()) / 2).mean(0, keepdim=True)


class GroupUnits:
    """The paper's groups as units, numbered in the order they complete."""

    def __init__(self, num_classes: int):
        self.grouper, self.groups = BatchGrouper(num_classes), 0

    def __call__(self, k: int, p_orig: torch.Tensor, p_view: torch.Tensor) -> Iterator[tuple[int, torch.Tensor]]:
        mean = self.grouper.push(p_orig, p_view)
        if mean is not None:
            yield self.groups, mean.unsqueeze(0)
            self.groups += 1


class PaperProtocol:
    name = "paper"

    def __init__(self, config: ScoreConfig):
        self.config = config

    def stream(self, split, rank: int, world_size: int) -> BlockStream:
        c = self.config
        return BlockStream(split, c.batch_size, c.seed, epochs=c.epochs, drop_last=False, rank=rank,
                           world_size=world_size)

    def total_blocks(self, n_train: int) -> int:
        return self.config.epochs * math.ceil(n_train / self.config.batch_size)

    def units(self, aug: Augmentation, num_classes: int) -> tuple[str, float, UnitFn]:
        """``(unit name, units per group, unit maker)`` for one DA."""
        return "group", 1, GroupUnits(num_classes)

    def after_block(self, collectors: Sequence, n_blocks: int, world_size: int) -> None:
        """The paper protocol runs every epoch."""

    def finish(self, collector) -> None:
        collector.converged = True

    def settings(self) -> dict[str, float]:
        return {"epochs": self.config.epochs}


class FastProtocol:
    name = "fast"

    def __init__(self, config: ScoreConfig):
        self.config = config

    def stream(self, split, rank: int, world_size: int) -> BlockStream:
        c = self.config
        return BlockStream(split, c.batch_size, c.seed, epochs=None, drop_last=True, rank=rank, world_size=world_size)

    def total_blocks(self, n_train: int) -> int:
        return math.ceil(self.config.max_images / self.config.batch_size)

    def units(self, aug: Augmentation, num_classes: int) -> tuple[str, float, UnitFn]:
        if aug.shared_randomness or aug.mixes or aug.batch_dependent:
            return "block", GROUP_SIZE / self.config.batch_size, block_units
        return "pair", GROUP_SIZE, pair_units

    def after_block(self, collectors: Sequence, n_blocks: int, world_size: int) -> None:
        """Stop DAs at their image budget (every block) or at the target precision (every few blocks)."""
        check = n_blocks % CHECK_EVERY == 0 and n_blocks * world_size >= MIN_BLOCKS
        for c in collectors:
            if c.done:
                continue
            if c.n_images * world_size >= self.config.max_images:
                c.done = True
            elif check and c.tstd.synced().compute().relative_half_width <= self.config.precision:
                c.done = c.converged = True

    def finish(self, collector) -> None:
        """A DA converged only if it reached the target precision."""

    def settings(self) -> dict[str, float]:
        return {"precision": self.config.precision, "max_images": self.config.max_images}


def make_protocol(config: ScoreConfig) -> PaperProtocol | FastProtocol:
    return {"paper": PaperProtocol, "fast": FastProtocol}[config.protocol](config)
