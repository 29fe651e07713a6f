"""Knowledge distillation: the trainer that checks a DA ranking by training students.

>>> from dastat.kd import resolve_config
>>> resolve_config("quick").schedule
'cosine'

``train(out, student=..., da=..., recipe="paper" | "quick", **overrides)`` runs one KD
training and returns its per-epoch history; ``dastat train`` is its command line. See
``docs/training.md``.
"""

from __future__ import annotations

from .engine import evaluate, train_one_epoch
from .loss import LossParts, distillation_loss, kd_divergence
from .recipes import RECIPES, TrainConfig, lr_factor, resolve_config
from .trainer import TrainingDiverged, TrainingInterrupted, TrainResult, train

__all__ = [
    "LossParts", "RECIPES", "TrainConfig", "TrainResult", "TrainingDiverged", "TrainingInterrupted",
    "distillation_loss", "evaluate", "kd_divergence", "lr_factor", "resolve_config", "train", "train_one_epoch",
]
