"""The two scoring protocols: what a run walks, what a T. stddev unit is, and when a DA stops.

* :class:`PaperProtocol` — the paper's procedure: ``epochs`` passes over the training
  split (the last short batch kept), groups of 5 whole batches and their views
  (:class:`~dastat.stats.PaperGroups`, running on across epoch ends), T. stddev =
  the sd of the group means; it never stops early.
* :class:`FastProtocol` — the unit is the image pair when a DA's views are
  independent given their images; a DA that draws once per batch or mixes pairs gets
  ``draws`` draws on each block, and its image and draw components are estimated
  apart (:class:`~dastat.stats.SplitTStddev`; with ``draws=1``, or for a DA whose
  views depend on the whole batch, the unit is the draw block); a DA stops when its
  95% interval's relative half-width is at most ``precision`` (a split estimate not before
  ``MIN_SPLIT_BLOCKS`` blocks) or when it has used ``max_images`` originals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from ..augment.base import Augmentation
from ..distributed import process_group
from ..stats import GROUP_SIZE, PaperGroups, SplitTStddev, Statistic, TStddev
from .config import ScoreConfig
from .stream import BlockStream

CHECK_EVERY = 16  # blocks between stopping checks
MIN_BLOCKS = 32  # blocks before the first stopping check
#: Blocks before a split estimate may stop early: until a heavy-tailed draw effect's rare large draws have had
#: their chance to appear, its estimate reads low with a narrow interval (docs/calibration.md measures the coverage).
MIN_SPLIT_BLOCKS = 192


@dataclass
class Views:
    """One block's teacher probabilities: the originals (n×C) and each draw's views (R of n×C) with its params."""

    p_orig: torch.Tensor
    p_views: list[torch.Tensor]
    params: list[dict]


@dataclass
class Units:
    """What one DA's T. stddev is made of: the unit's name, the draws per block, the statistic, how a block feeds it."""

    name: str
    statistic: Statistic
    feed: Callable[[Statistic, int, Views], None]
    draws: int = 1


def feed_pairs(stat: TStddev, k: int, v: Views) -> None:
    stat.update((v.p_orig.double() + v.p_views[0].double()) / 2, k)


def feed_blocks(stat: TStddev, k: int, v: Views) -> None:
    stat.update(((v.p_orig.double() + v.p_views[0].double()) / 2).mean(0, keepdim=True), k)


def feed_split(stat: SplitTStddev, k: int, v: Views) -> None:
    """Each image's share ``s`` under each draw: its pair mean, or for a mixing DA its original's half plus
    its own view and the view it is the partner in (so that ``E[s | x]`` carries both of its roles)."""
    p = v.p_orig.double()
    shares, means = [], []
    for u, params in zip(v.p_views, v.params):
        u = u.double()
        if "perm" in params:
            partner_view = torch.empty_like(params["perm"])
            partner_view[params["perm"]] = torch.arange(len(params["perm"]), device=params["perm"].device)
            shares.append(p / 2 + (u + u[partner_view]) / 2)
        else:
            shares.append((p + u) / 2)
        means.append((p + u).mean(0) / 2)
    partners = {}
    if stat.partners:  # the derangement correction also needs the originals, the views and the partners
        partners = {"originals": p, "views": torch.stack([u.double() for u in v.p_views]),
                    "perms": torch.stack([params["perm"] for params in v.params])}
    stat.update(torch.stack(shares), torch.stack(means), k, **partners)


def partner_scheme(aug: Augmentation) -> str | None:
    """How the DA picks each image's partner, for the split estimate's correction: ``"derangement"`` when it
    mixes with a partner that is never the image itself (CutMix, alone or in a composition, see
    :func:`~dastat.augment.functional.derangement`), ``"permutation"`` for Mixup alone (a uniform permutation;
    an image mixed with itself is itself), None for a DA that does not mix. A composition ending in Mixup
    (its own partner is a transformed image, not the original) is not corrected (docs/protocols.md)."""
    mixers = [s for s in getattr(aug, "steps", [aug]) if s.mixes]
    if any(s.partners == "derangement" for s in mixers):
        return "derangement"
    return "permutation" if aug.mixes and aug.partners == "permutation" else None


def splittable(aug: Augmentation) -> bool:
    """Whether the split estimate applies: a draw per batch (or pairs from the batch) and nothing else shared;
    a mixing DA must declare how it picks its one partner per image (``Augmentation.partners``) and name it in
    ``params['perm']``."""
    if aug.batch_dependent or not (aug.shared_randomness or aug.mixes):
        return False
    mixers = [s for s in getattr(aug, "steps", [aug]) if s.mixes]
    return not mixers or (len(mixers) == 1 and mixers[0].partners is not None)


def budget_blocks(config: ScoreConfig, draws: int) -> int:
    """The blocks a DA with ``draws`` views per original may use within the budget.

    >>> budget_blocks(ScoreConfig(max_images=32768), 1), budget_blocks(ScoreConfig(max_images=32768), 4)
    (512, 204)
    """
    per_block = config.batch_size
    return int(config.max_images // max(per_block, per_block * (1 + draws) / 2))


class GroupUnits:
    """The paper's groups as units (:class:`~dastat.stats.PaperGroups`): numbered by their place in the
    global stream, and given to the statistic at the end of the run, once every process's batches are in."""

    def __init__(self, num_classes: int):
        self.groups = PaperGroups(num_classes)

    def __call__(self, stat: TStddev, k: int, v: Views) -> None:
        self.groups.push(k, v.p_orig, v.p_views[0])

    def finish(self, stat: TStddev) -> None:
        means, self.groups = self.groups.means(), PaperGroups(self.groups.num_classes)
        if process_group()[0] == 0:  # the statistic is summed over processes later: one process holds the groups
            for g, mean in means:
                stat.update(mean.unsqueeze(0), g)


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

    def units(self, aug: Augmentation, num_classes: int) -> Units:
        return Units("group", TStddev(num_classes, 1), GroupUnits(num_classes))

    def after_block(self, collectors: Sequence, n_blocks: int, world_size: int) -> None:
        """The paper protocol runs every epoch."""

    def finish(self, collector) -> None:
        collector.units.feed.finish(collector.tstd)
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

    def units(self, aug: Augmentation, num_classes: int) -> Units:
        c = self.config
        # A split estimate needs two blocks within the budget of 2 × max_images forwards.
        partners = partner_scheme(aug)
        if (c.draws > 1 and splittable(aug) and c.max_images >= (1 + c.draws) * c.batch_size
                and (partners is None or c.batch_size >= 5)):
            return Units("split", SplitTStddev(num_classes, c.draws, c.batch_size, partners=partners), feed_split,
                         c.draws)
        if aug.shared_randomness or aug.mixes or aug.batch_dependent:
            return Units("block", TStddev(num_classes, GROUP_SIZE / c.batch_size), feed_blocks)
        return Units("pair", TStddev(num_classes, GROUP_SIZE), feed_pairs)

    def after_block(self, collectors: Sequence, n_blocks: int, world_size: int) -> None:
        """Stop DAs at their budget or at the target precision (checked every ``CHECK_EVERY`` blocks).

        Every decision counts blocks over all processes (``n_blocks`` of this process's are
        ``n_blocks × world_size`` in all): a DA's budget is a number of blocks of the global stream
        (:meth:`budget_index`; a process skips the DA on blocks at or past it, so a round of processes
        may end part-way), and the precision is checked when the global count passes a multiple of
        ``CHECK_EVERY``. With a ``world_size`` that divides ``CHECK_EVERY`` the checks fall where one
        process makes them, so N processes stop where one does.
        """
        done_blocks = n_blocks * world_size
        check = done_blocks >= MIN_BLOCKS and done_blocks // CHECK_EVERY > (done_blocks - world_size) // CHECK_EVERY
        for c in collectors:
            if c.done:
                continue
            c.stop_index = self.budget_index(c)
            if done_blocks >= c.stop_index:
                c.done = True
            elif (check and done_blocks >= (MIN_SPLIT_BLOCKS if c.draws > 1 else MIN_BLOCKS)
                  and c.tstd.synced().compute().relative_half_width <= self.config.precision):
                c.done = c.converged = True

    def budget_index(self, c) -> int:
        """The global blocks a DA may use: each makes ``batch_size`` originals and the DA's forwards per block
        (as counted so far; before its first block, one view per draw), and together they stay within budget."""
        bs = self.config.batch_size
        blocks_seen = c.n_images // bs
        per_block = c.n_forward / blocks_seen if blocks_seen else bs * (1 + c.draws)
        return int(self.config.max_images // max(bs, per_block / 2))

    def finish(self, collector) -> None:
        """A DA converged only if it reached the target precision."""

    def settings(self) -> dict[str, float]:
        return {"precision": self.config.precision, "max_images": self.config.max_images, "draws": self.config.draws}


def make_protocol(config: ScoreConfig) -> PaperProtocol | FastProtocol:
    return {"paper": PaperProtocol, "fast": FastProtocol}[config.protocol](config)
