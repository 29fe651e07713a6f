"""A teacher whose outputs carry no information: found on the first few blocks, said once, and cut short.

A teacher that puts all its probability on one class for every image (saturated
logits: images normalised with the wrong mean/std, or broken weights), or that gives
every image the same probabilities (a constant output), has a T. stddev of about zero
for every DA. Its interval then never narrows to ±1% of zero, so the fast protocol
would run to its full budget for a result that means nothing. :class:`DegeneracyProbe`
looks at the teacher's probabilities on the originals of the first :data:`PROBE_BLOCKS`
blocks; when they are degenerate, one :class:`DegenerateTeacherWarning` names the
likely causes and the engine stops every DA there.
"""

from __future__ import annotations

import warnings

import torch

from ..distributed import all_reduce
from ..errors import DastatWarning

#: Blocks of originals looked at before deciding (256 images at the default batch size).
PROBE_BLOCKS = 4
#: An image's probabilities are saturated when its top class has at least ``1 - SATURATED``.
SATURATED = 1e-6
#: The output is constant when no class's probability varies across images by more than this (sd).
CONSTANT = 1e-6


class DegenerateTeacherWarning(DastatWarning):
    """The teacher's outputs are saturated or constant: its T. stddev carries no information."""


def degenerate_reason(p: torch.Tensor) -> str | None:
    """Why the probabilities ``p`` (images × classes) are degenerate, or None when they are not.

    >>> degenerate_reason(torch.eye(4)[[0, 2, 1, 3]]), degenerate_reason(torch.full((5, 4), 0.25))
    ('saturated', 'constant')
    >>> degenerate_reason(torch.softmax(torch.randn(8, 4, generator=torch.Generator().manual_seed(0)), 1)) is None
    True
    """
    p = p.double()
    if p.shape[0] > 1 and float(p.std(0).max()) <= CONSTANT:
        return "constant"
    if bool((p.max(1).values >= 1 - SATURATED).all()):
        return "saturated"
    return None


def explain(reason: str, images: int) -> str:
    """The one warning: what the teacher did, what usually causes it, and what dastat did about it."""
    what = ("puts all its probability on one class for every image" if reason == "saturated"
            else "gives every image the same probabilities")
    return (f"the teacher {what} (on the first {images:,} images), so its T. stddev is about zero for every DA and "
            "says nothing; likely causes: images normalised with the wrong mean/std (check --mean/--std or the "
            "checkpoint's), or broken or mismatched weights (check with 'dastat evaluate'); scoring stopped there")


class DegeneracyProbe:
    """Collects the teacher's probabilities on the first blocks' originals and decides once."""

    def __init__(self, blocks: int = PROBE_BLOCKS):
        self.blocks, self._seen, self.reason, self.decided = blocks, [], None, False

    def add(self, p: torch.Tensor) -> None:
        if not self.decided:
            self._seen.append(p.detach().float().cpu())

    def decide(self, n_blocks: int, *, last: bool = False) -> str | None:
        """After ``n_blocks`` blocks (or the stream's ``last``): the reason, decided once, synced over processes."""
        if self.decided or not (last or n_blocks >= self.blocks) or not self._seen:
            return None
        self.decided = True
        p = torch.cat(self._seen)
        self._seen = []
        reasons = ("saturated", "constant")
        found = degenerate_reason(p)
        flags = torch.tensor([float(found == r) for r in reasons], dtype=torch.float64)
        flags = _all_processes_agree(flags)
        self.reason = next((r for r, f in zip(reasons, flags.tolist()) if f == 1.0), None)
        if self.reason is not None:
            warnings.warn(explain(self.reason, p.shape[0]), DegenerateTeacherWarning, stacklevel=3)
        return self.reason


def _all_processes_agree(flags: torch.Tensor) -> torch.Tensor:
    """Each flag set only where every process set it, so every process stops (or goes on) together."""
    return all_reduce(flags, "min")
