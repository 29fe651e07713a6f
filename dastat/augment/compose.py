"""``a+b``: DAs applied one after the other.

The composite's labels are those of the last step (a mixing step mixes the soft labels
it is given); ``params["steps"]`` holds every step's draws (all drawn before any step
is applied), and the last mixing step's
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

    def sample(self, x, y=None, *, generator=None):
        # Steps keep the batch's shape, dtype and device, all that sampling reads, so every
        # step draws from the input batch, in step order, as when the steps ran one by one.
        return {"steps": [step.sample(x, y, generator=generator) for step in self.steps]}

    def apply(self, x, y, params):
        out_params: dict = {"steps": []}
        forwards = 0
        logits = None
        for step, step_params in zip(self.steps, params["steps"]):
            out = step.apply(x, y, step_params)
            if out.x is not x or out.teacher_logits is not None:
                logits = out.teacher_logits  # logits describe the latest views only
            x, y = out.x, out.y
            forwards += out.forwards
            out_params["steps"].append(out.params)
            out_params.update({k: out.params[k] for k in ("lam", "perm", "box") if k in out.params})
        return AugmentResult(x, y, out_params, teacher_logits=logits, forwards=forwards)
