"""Pick the most informative views: ``pick`` and the paper's CutMixPick.

``pick(base=SPEC, pool=K, criterion=...)`` runs any DA ``K`` times on the batch, forwards
the ``K·B`` views through the teacher (and the student when the criterion needs it)
and keeps the ``B`` views that score highest:

* ``t_entropy`` — the teacher's predictive entropy (the paper's CMP-T);
* ``s_entropy`` — the student's predictive entropy (CMP-S);
* ``kl`` — KL(teacher ‖ student), the other criterion of the paper's code.

The teacher logits of the kept views come back in ``result.teacher_logits``, so a
training loop never forwards the teacher twice on the same images, and
``result.forwards`` counts the images the ranking cost. Models are run under
``torch.inference_mode()`` in eval mode (their mode is restored afterwards, so ranking
never updates a student's BatchNorm statistics).

>>> import torch
>>> teacher = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
>>> pick = CutMixPick(teacher, pool=2)
>>> out = pick(torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 0]), generator=torch.Generator().manual_seed(0))
>>> out.x.shape, out.teacher_logits.shape, out.forwards
(torch.Size([4, 1, 8, 8]), torch.Size([4, 3]), 8)
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from ..errors import UserError
from . import functional as AF
from .base import AugmentContext, AugmentResult, Augmentation
from .mixing import CutMix
from .registry import create, register

CRITERIA = ("t_entropy", "s_entropy", "kl")


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Predictive entropy (nats) of each row of ``logits``, computed in float32 at least."""
    logp = logits.float().log_softmax(-1)
    return -(logp.exp() * logp).sum(-1)


def kl_divergence(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """KL(teacher ‖ student) per row, in nats."""
    lt = teacher_logits.float().log_softmax(-1)
    ls = student_logits.float().log_softmax(-1)
    return (lt.exp() * (lt - ls)).sum(-1)


def forward_model(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``model(x)`` in eval mode under inference mode, restoring the model's mode afterwards."""
    from ..teacher import Teacher

    # A Teacher normalises uint8 itself; any other module gets floats in [0, 1].
    inputs = x if (x.is_floating_point() or isinstance(model, Teacher)) else AF.to_float(x)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return model(inputs)
    finally:
        model.train(was_training)


def _per_view(value, n: int, device) -> torch.Tensor | None:
    if isinstance(value, (int, float)):
        return torch.full((n,), float(value), device=device)
    if isinstance(value, torch.Tensor) and value.ndim == 1 and value.shape[0] == n:
        return value.to(device)
    return None


@register
class Pick(Augmentation):
    """Run a DA pool times and keep the batch-size views that score highest (teacher/student entropy or KL)."""

    name = "pick"

    def __init__(
        self,
        base: str | Augmentation = "cutmix",
        pool: int = 2,
        criterion: str = "t_entropy",
        *,
        context: AugmentContext | None = None,
    ):
        super().__init__(context)
        if not isinstance(pool, int) or isinstance(pool, bool) or pool < 1:
            raise ValueError(f"pool must be a positive integer, got {pool!r}")
        if criterion not in CRITERIA:
            raise ValueError(f"criterion must be one of {', '.join(CRITERIA)}, got {criterion!r}")
        if self.context.teacher is None:
            raise UserError(f"{self.name} ranks views by the teacher's outputs: give it a teacher")
        if criterion in ("s_entropy", "kl") and self.context.student is None:
            raise UserError(f"{self.name} needs a student: pass --student SPEC")
        self.base = create(base, self.context) if isinstance(base, str) else base
        self.pool, self.criterion = pool, criterion
        self.mixes = self.base.mixes
        self.shared_randomness = self.base.shared_randomness
        # Which views survive depends on how they rank against the rest of the batch.
        self.batch_dependent = True

    def score(self, teacher_logits: torch.Tensor, student_logits: torch.Tensor | None) -> torch.Tensor:
        """The criterion of each view (higher is kept)."""
        if self.criterion == "t_entropy":
            return entropy(teacher_logits)
        if self.criterion == "s_entropy":
            return entropy(student_logits)
        return kl_divergence(teacher_logits, student_logits)

    def forward(self, x, y, generator):
        n = x.shape[0]
        draws = [self.base(x, y, generator=generator) for _ in range(self.pool)]
        pool_x = torch.cat([d.x for d in draws])
        pool_y = None
        if y is not None:
            labels = [d.y for d in draws]
            if any(lab.ndim == 2 for lab in labels):
                k = self.num_classes(y)
                labels = [AF.soft_labels(lab, k) for lab in labels]
            pool_y = torch.cat(labels)
        student_logits = None
        forwards = 0
        if self.criterion != "t_entropy":
            student_logits = forward_model(self.context.student, pool_x)
            forwards += pool_x.shape[0]
        # Ranking by the student alone needs the teacher only on the views it keeps.
        teacher_logits = None if self.criterion == "s_entropy" else forward_model(self.context.teacher, pool_x)
        scores = self.score(teacher_logits, student_logits)
        # Keep the top B, listed in pool order so picked views stay aligned with draws.
        picked = torch.topk(scores, n, sorted=False).indices.sort().values
        # Indexing or cloning outside inference mode yields ordinary tensors a loss may save for backward.
        if teacher_logits is None:
            logits = forward_model(self.context.teacher, pool_x[picked.to(pool_x.device)]).clone()
            forwards += n
        else:
            logits = teacher_logits[picked.to(teacher_logits.device)]
            forwards += pool_x.shape[0]
        params = {
            "picked": picked,
            "draw": picked // n,
            "source": picked % n,
            "scores": scores[picked].clone(),
            "pool_scores": scores.clone(),
            "draws": [d.params for d in draws],
        }
        for key in ("lam", "perm"):
            per_draw = [_per_view(d.params.get(key), n, x.device) for d in draws]
            if all(v is not None for v in per_draw):
                params[key] = torch.cat(per_draw)[picked.to(x.device)]
        return AugmentResult(
            pool_x[picked.to(pool_x.device)],
            None if pool_y is None else pool_y[picked.to(pool_y.device)],
            params,
            teacher_logits=logits,
            student_logits=None if student_logits is None else student_logits[picked.to(student_logits.device)],
            forwards=forwards,
        )


class CutMixPick(Pick):
    """CutMix ``pool`` times and keep the batch-size views ranked highest by ``criterion``.

    A drop-in for a training loop::

        pick = CutMixPick(teacher, pool=2, criterion="t_entropy")
        out = pick(x, y)                  # out.x, out.y (soft), out.teacher_logits

    ``student`` is needed for ``s_entropy`` and ``kl``.
    """

    name = "cutmix_pick"

    def __init__(
        self,
        teacher: nn.Module | None = None,
        pool: int = 2,
        criterion: str = "t_entropy",
        *,
        student: nn.Module | None = None,
        alpha: float = 1.0,
        per_sample: bool = False,
        context: AugmentContext | None = None,
    ):
        context = context or AugmentContext()
        context = replace(context, teacher=teacher or context.teacher, student=student or context.student)
        super().__init__(CutMix(alpha, per_sample, context=context), pool, criterion, context=context)


@register
class CutMixPickT(CutMixPick):
    """CutMix pool times (2B views) and keep the B with the highest teacher entropy (the paper's CMP-T)."""

    name = "cutmix_pick_t"

    def __init__(self, pool: int = 2, alpha: float = 1.0, per_sample: bool = False, *, context: AugmentContext | None = None):
        super().__init__(None, pool, "t_entropy", alpha=alpha, per_sample=per_sample, context=context)


@register
class CutMixPickS(CutMixPick):
    """CutMix pool times (2B views) and keep the B with the highest student entropy (the paper's CMP-S)."""

    name = "cutmix_pick_s"

    def __init__(self, pool: int = 2, alpha: float = 1.0, per_sample: bool = False, *, context: AugmentContext | None = None):
        super().__init__(None, pool, "s_entropy", alpha=alpha, per_sample=per_sample, context=context)
