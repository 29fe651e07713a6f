"""Pick the most informative views: ``pick`` and the paper's CutMixPick.

``pick(base=SPEC, pool=K, criterion=...)`` runs any DA ``K`` times on the batch, forwards
the ``K·B`` views through the teacher (and the student when the criterion needs it)
and keeps the ``B`` views that score highest:

* ``t_entropy`` — the teacher's predictive entropy (the paper's CMP-T);
* ``s_entropy`` — the student's predictive entropy (CMP-S);
* ``kl`` — KL(teacher ‖ student), the other criterion of the paper's code.

``sample`` draws the base DA's params ``K`` times; ``apply`` makes the pool and ranks
it (deterministic given the params and the models). The teacher logits of the kept
views come back in ``result.teacher_logits``, so a training loop never forwards the
teacher twice on the same images, and ``result.forwards`` counts the images the
ranking cost. Soft labels are as wide as the models' outputs (or ``num_classes``),
whatever labels the batch happens to hold. Models are run under
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
from typing import Callable

import torch
from torch import nn

from ..errors import UserError
from . import functional as AF
from .base import AugmentContext, AugmentResult, Augmentation, is_int
from .mixing import CutMix
from .registry import create, register

CRITERIA = ("t_entropy", "s_entropy", "kl")


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Predictive entropy (nats) of the softmax of each row of ``logits``, in float32 at least."""
    logp = logits.float().log_softmax(-1)
    return -(logp.exp() * logp).sum(-1)


def kl_from_logits(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """KL(softmax(teacher) ‖ softmax(student)) per row, in nats."""
    lt = teacher_logits.float().log_softmax(-1)
    ls = student_logits.float().log_softmax(-1)
    return (lt.exp() * (lt - ls)).sum(-1)


def forward_model(model: nn.Module, x: torch.Tensor, features=None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``model(x)`` in eval mode under inference mode, restoring the model's mode afterwards.

    With ``features`` (a callable on the model's input, or ``"penultimate"`` for the input
    of the model's last linear layer) the features come back too, else ``None``.
    """
    inputs = AF.to_float(x)  # a teacher scales uint8 the same way itself
    was_training = model.training
    model.eval()
    captured: list[torch.Tensor] = []
    hook = None
    if features == "penultimate":
        hook = _last_linear(model).register_forward_pre_hook(lambda _, args: captured.append(args[0]))
    try:
        with torch.inference_mode():
            logits = model(inputs)
            if callable(features):
                captured.append(features(inputs))
        return logits, (captured[-1].clone() if captured else None)
    finally:
        model.train(was_training)
        if hook is not None:
            hook.remove()


def _last_linear(model: nn.Module) -> nn.Module:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise UserError("the teacher has no linear layer to take features from: pass features=callable")
    return linears[-1]


def _per_view(value, n: int, device) -> torch.Tensor | None:
    if isinstance(value, (int, float)):
        return torch.full((n,), float(value), device=device)
    if isinstance(value, torch.Tensor) and value.ndim == 1 and value.shape[0] == n:
        return value.to(device)
    return None


def _widen(labels: torch.Tensor, k: int, name: str) -> torch.Tensor:
    """Soft labels padded with zero columns to the models' ``k`` classes (hard labels pass)."""
    if labels.ndim != 2 or labels.shape[1] == k:
        return labels
    if labels.shape[1] > k:
        raise UserError(f"{name}'s labels have {labels.shape[1]} classes but the models predict {k}: pass num_classes={k}")
    return torch.nn.functional.pad(labels, (0, k - labels.shape[1]))


@register
class Pick(Augmentation):
    """Run a DA pool times and keep the batch-size views that score highest (teacher/student entropy or KL)."""

    name = "pick"
    # The defaults (base cutmix): views mix, one draw per batch, and survive by rank.
    mixes = True
    shared_randomness = True
    batch_dependent = True
    #: Teacher features to return with the kept views (see :class:`CutMixPick`).
    features = None

    def __init__(
        self,
        base: str | Augmentation = "cutmix",
        pool: int = 2,
        criterion: str = "t_entropy",
        *,
        context: AugmentContext | None = None,
    ):
        super().__init__(context)
        self.require(is_int(pool, 1), "pool", "a positive integer", pool)
        self.require(criterion in CRITERIA, "criterion", f"one of {', '.join(CRITERIA)}", criterion)
        if self.context.teacher is None:
            raise UserError(f"{self.name} ranks views by the teacher's outputs: give it a teacher")
        if criterion in ("s_entropy", "kl") and self.context.student is None:
            raise UserError(f"{self.name} needs a student: pass --student SPEC")
        self.base = create(base, self.context) if isinstance(base, str) else base
        self.pool, self.criterion = pool, criterion
        self.mixes = self.base.mixes
        self.shared_randomness = self.base.shared_randomness

    def score(self, teacher_logits: torch.Tensor, student_logits: torch.Tensor | None) -> torch.Tensor:
        """The criterion of each view (higher is kept)."""
        if self.criterion == "t_entropy":
            return entropy_from_logits(teacher_logits)
        if self.criterion == "s_entropy":
            return entropy_from_logits(student_logits)
        return kl_from_logits(teacher_logits, student_logits)

    def sample(self, x, y=None, *, generator=None):
        return {"draws": [self.base.sample(x, y, generator=generator) for _ in range(self.pool)]}

    def apply(self, x, y, params):
        n = x.shape[0]
        draws = [self.base.apply(x, y, p) for p in params["draws"]]
        pool_x = torch.cat([d.x for d in draws])
        student_logits = None
        forwards = 0
        if self.criterion != "t_entropy":
            student_logits, _ = forward_model(self.context.student, pool_x)
            forwards += pool_x.shape[0]
        # Ranking by the student alone needs the teacher only on the views it keeps.
        teacher_logits, features = (None, None) if self.criterion == "s_entropy" else (
            forward_model(self.context.teacher, pool_x, self.features))
        scores = self.score(teacher_logits, student_logits)
        # Keep the top B, listed in pool order so picked views stay aligned with draws.
        picked = torch.topk(scores, n, sorted=False).indices.sort().values
        kept = picked.to(pool_x.device)
        # Indexing or cloning outside inference mode yields ordinary tensors a loss may save for backward.
        if teacher_logits is None:
            logits, features = forward_model(self.context.teacher, pool_x[kept], self.features)
            logits = logits.clone()
            forwards += n
        else:
            logits, features = teacher_logits[kept], None if features is None else features[kept]
            forwards += pool_x.shape[0]
        out_params = {**params, "picked": picked, "draw": picked // n, "source": picked % n,
                      "scores": scores[picked].clone(), "pool_scores": scores.clone(), "criterion": self.criterion}
        out_params["draws"] = [d.params for d in draws]
        for key in ("lam", "perm"):
            per_draw = [_per_view(d.params.get(key), n, x.device) for d in draws]
            if all(v is not None for v in per_draw):
                out_params[key] = torch.cat(per_draw)[picked.to(x.device)]
        return AugmentResult(
            pool_x[kept], self._labels(draws, y, picked, logits.shape[-1]), out_params, teacher_logits=logits,
            student_logits=None if student_logits is None else student_logits[picked.to(student_logits.device)],
            teacher_features=features, forwards=forwards,
        )

    def _labels(self, draws: list[AugmentResult], y, picked: torch.Tensor, k: int) -> torch.Tensor | None:
        """The kept views' labels, soft ones as wide as the models' ``k`` classes."""
        if y is None:
            return None
        labels = [d.y for d in draws]
        if any(lab.ndim == 2 for lab in labels):
            labels = [_widen(AF.soft_labels(lab, self.context.num_classes or k), k, self.name) for lab in labels]
        pool_y = torch.cat(labels)
        return pool_y[picked.to(pool_y.device)]


class CutMixPick(Pick):
    """CutMix ``pool`` times and keep the batch-size views ranked highest by ``criterion``.

    A drop-in for a training loop::

        pick = CutMixPick(teacher, pool=2, criterion="t_entropy")
        out = pick(x, y)                  # out.x, out.y (soft), out.teacher_logits

    ``student`` is needed for ``s_entropy`` and ``kl``. Soft labels are as wide as the
    teacher's logits (or ``num_classes``, when given), never the largest label of a batch.
    ``return_features=True`` also returns the teacher's features on the kept views in
    ``out.teacher_features``: ``features(x)`` when given, else the input of the
    teacher's last linear layer (its penultimate features), for feature-based KD.
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
        num_classes: int | None = None,
        return_features: bool = False,
        features: Callable[[torch.Tensor], torch.Tensor] | None = None,
        context: AugmentContext | None = None,
    ):
        context = context or AugmentContext()
        self.require(num_classes is None or is_int(num_classes, 1), "num_classes", "a positive integer", num_classes)
        context = replace(context, teacher=teacher or context.teacher, student=student or context.student,
                          num_classes=num_classes or context.num_classes)
        super().__init__(CutMix(alpha, per_sample, context=context), pool, criterion, context=context)
        if return_features:
            self.features = features if features is not None else "penultimate"
            if self.features == "penultimate":
                _last_linear(self.context.teacher)  # fail now, not at the first batch


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
