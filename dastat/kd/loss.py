"""The distillation loss of the paper's recipe (Hinton et al.'s KD, on two views).

For a batch ``x`` and its augmented view ``x_aug``:

    loss = gamma · CE(s(x), y) + alpha · [KL_T(t(x) ‖ s(x)) + KL_T(t(x_aug) ‖ s(x_aug))]

with ``KL_T`` the Kullback–Leibler divergence between the temperature-``T`` softmaxes,
multiplied by ``T²`` so its gradients keep their scale as ``T`` grows, and averaged over
the batch. ``alpha`` and ``gamma`` keep RepDistiller's names (``-a`` weighs the KD term,
``-r`` the cross-entropy); the paper uses ``gamma = 0.1``, ``alpha = 0.9``, ``T = 4``.

>>> s = torch.tensor([[1.0, 0.0]]); t = torch.tensor([[0.0, 1.0]])
>>> round(kd_divergence(s, t, temperature=1.0).item(), 4)   # KL([.27,.73] ‖ [.73,.27])
0.4621
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def kd_divergence(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T² · KL(softmax(t/T) ‖ softmax(s/T))``, averaged over the rows (RepDistiller's ``DistillKL``).

    Computed in float32 at least, whatever precision the logits came from.
    """
    t = float(temperature)
    log_ps = F.log_softmax(student_logits.float() / t, dim=-1)
    log_pt = F.log_softmax(teacher_logits.float() / t, dim=-1)
    return (log_pt.exp() * (log_pt - log_ps)).sum(-1).mean() * (t * t)


@dataclass
class LossParts:
    """The total loss (with its graph) and its three parts (detached, for logging)."""

    total: torch.Tensor
    ce: torch.Tensor
    kl_orig: torch.Tensor
    kl_view: torch.Tensor

    def detached(self) -> torch.Tensor:
        """``[total, ce, kl_orig, kl_view]`` as one detached float tensor (one device→host copy)."""
        return torch.stack([self.total.detach(), self.ce, self.kl_orig, self.kl_view])


def distillation_loss(
    student_orig: torch.Tensor,
    student_view: torch.Tensor,
    teacher_orig: torch.Tensor,
    teacher_view: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float = 4.0,
    alpha: float = 0.9,
    gamma: float = 0.1,
) -> LossParts:
    """The paper's loss on a batch: cross-entropy on the originals plus KD on both views.

    The labels enter only through the originals' cross-entropy: a mixed view is taught by
    the teacher alone (the paper re-runs the teacher on it rather than mixing labels).
    """
    ce = F.cross_entropy(student_orig.float(), labels)
    kl_orig = kd_divergence(student_orig, teacher_orig, temperature)
    kl_view = kd_divergence(student_view, teacher_view, temperature)
    total = gamma * ce + alpha * (kl_orig + kl_view)
    return LossParts(total, ce.detach(), kl_orig.detach(), kl_view.detach())
