"""``a+b``: DAs applied one after the other.

The composite's labels are those of the last step (a mixing step mixes the soft labels
it is given); ``params["steps"]`` holds every step's draws, and the last mixing step's
``lam``, ``perm`` and ``box`` are also lifted to the top level.

>>> import torch
>>> from dastat.augment import create
>>> out = create("flip+flip")(torch.rand(2, 1, 4, 4))
>>> len(out.params["steps"])
2
"""

from __future__ import annotations

from typing import Sequence

from .base import AugmentContext, AugmentResult, Augmentation


class Compose(Augmentation):
    """Apply the steps left to right."""

    name = "compose"

    def __init__(self, steps: Sequence[Augmentation], context: AugmentContext | None = None):
        super().__init__(context)
        self.steps = list(steps)
        self.name = "+".join(s.name for s in self.steps)
        self.spec = "+".join(s.spec for s in self.steps)
        self.mixes = any(s.mixes for s in self.steps)
        self.batch_dependent = any(s.batch_dependent for s in self.steps)
        self.shared_randomness = any(s.shared_randomness for s in self.steps)
        self.deterministic = all(s.deterministic for s in self.steps)

    def forward(self, x, y, generator):
        params: dict = {"steps": []}
        forwards = 0
        logits = None
        for step in self.steps:
            out = step(x, y, generator=generator)
            if out.x is not x or out.teacher_logits is not None:
                logits = out.teacher_logits  # logits describe the latest views only
            x, y = out.x, out.y
            forwards += out.forwards
            params["steps"].append(out.params)
            params.update({k: out.params[k] for k in ("lam", "perm", "box") if k in out.params})
        return AugmentResult(x, y, params, teacher_logits=logits, forwards=forwards)
