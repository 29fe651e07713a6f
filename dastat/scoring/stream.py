"""The seeded, shardable stream of blocks that every scoring run walks.

Block ``k`` is the ``k``-th batch of ``batch_size`` images of the training split,
shuffled per epoch by a generator seeded with ``(seed, "epoch", epoch)``, numbered
across epochs. Its randomness (the base view, each DA's draw) comes from
:meth:`Block.generator`, seeded by ``(seed, k, ...)``. So block ``k`` depends only on
``(seed, k)``, and under ``torchrun`` process ``r`` of ``N`` takes blocks
``r, r + N, …`` and the union over processes is the single-process stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator

import torch

from ..errors import UserError
from ..seeding import generator, stable_seed


@dataclass
class Block:
    """One batch of the stream: its global index, uint8 images and labels."""

    index: int
    x: torch.Tensor
    y: torch.Tensor
    seed: int

    def generator(self, *salt: Any) -> torch.Generator:
        """A CPU generator for this block's randomness, seeded by ``(seed, index, *salt)``."""
        return generator(self.seed, self.index, *salt)


@dataclass
class BlockStream:
    """Blocks of a split over ``epochs`` shuffled passes (endless when ``epochs`` is None)."""

    split: Any
    batch_size: int
    seed: int = 0
    epochs: int | None = None
    drop_last: bool = True
    rank: int = 0
    world_size: int = 1

    @property
    def blocks_per_epoch(self) -> int:
        n = len(self.split)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __len__(self) -> int:
        """Blocks in the whole stream, over all processes (an endless stream has no length)."""
        if self.epochs is None:
            raise TypeError("an endless block stream has no length")
        return self.epochs * self.blocks_per_epoch

    def __iter__(self) -> Iterator[Block]:
        if self.blocks_per_epoch == 0:
            raise UserError(f"the training split has {len(self.split)} images, fewer than one batch of "
                            f"{self.batch_size}")
        k, epoch = 0, 0
        while self.epochs is None or epoch < self.epochs:
            shuffle = torch.Generator().manual_seed(stable_seed(self.seed, "epoch", epoch))
            for x, y in self.split.batches(self.batch_size, shuffle=True, generator=shuffle,
                                           drop_last=self.drop_last):
                if k % self.world_size == self.rank:
                    yield Block(k, x, y, self.seed)
                k += 1
            epoch += 1
