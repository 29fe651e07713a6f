"""Training recipes: every knob of a KD run in one dataclass, and the named presets.

``paper`` is the recipe of the paper's §5 (the one that validates a ranking);
``quick`` is sized for a 2-core CPU on the bundled Fashion-MNIST default, so a ranking
can be checked in minutes. A recipe is only a set of defaults: any field can be
overridden, and the resolved :class:`TrainConfig` is what a run records and resumes.

>>> cfg = resolve_config("paper", student="MobileNetV2")
>>> cfg.epochs, cfg.lr, cfg.milestones, cfg.temperature
(240, 0.01, [150, 180, 210], 4.0)
>>> resolve_config("quick", epochs=1).schedule
'cosine'
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import UserError

#: Students the paper trains at lr 0.01 instead of 0.05 (as RepDistiller does).
SMALL_LR_STUDENTS = ("MobileNetV2", "ShuffleV1", "ShuffleV2")


@dataclass
class TrainConfig:
    """Everything that determines a KD run's numbers (the device aside)."""

    student: str = "resnet8"
    teacher: str | None = None  # a load_teacher spec; None = the bundled Fashion-MNIST resnet20
    arch: str | None = None
    trust_checkpoint: bool = False
    mean: list[float] | None = None
    std: list[float] | None = None
    data: str | None = None  # a data spec; None = fashion-mnist
    da: str = "identity"
    recipe: str = "paper"
    # Optimisation (the paper's §5 by default).
    epochs: int = 240
    batch_size: int = 64  # per process under torchrun
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    schedule: str = "multistep"  # multistep | cosine
    milestones: list[int] = field(default_factory=lambda: [150, 180, 210])
    lr_decay: float = 0.1
    warmup_epochs: float = 0.0
    # The loss: gamma·CE + alpha·(KL(orig) + KL(view)) at temperature T.
    temperature: float = 4.0
    alpha: float = 0.9
    gamma: float = 0.1
    # Scope and reproducibility.
    seed: int = 0
    subset: int | None = None  # train on this many training images (a fixed random subset)
    test_subset: int | None = None  # evaluate on the first N test images
    max_steps: int | None = None  # stop after this many optimiser steps in all (smoke tests)
    # Numerics that change results (unlike the device, they must match on resume).
    amp: str = "auto"  # auto | off | bf16 | fp16
    channels_last: bool | None = None  # None = on for CUDA


RECIPES: dict[str, dict[str, Any]] = {
    # The paper's §5 recipe (Wang et al., NeurIPS 2022), i.e. RepDistiller's train_student.py with the paper's two-view KD loss.
    "paper": {},
    # The paper's optimiser and loss for 2 epochs, with a per-step cosine decay to zero
    # (a step schedule needs far more epochs to pay off): about 70 s an epoch of
    # Fashion-MNIST on 2 idle CPU cores with the bundled resnet20 teacher and a resnet8
    # student (about 870 images/s), a few times that on cores shared with other work.
    "quick": dict(epochs=2, schedule="cosine", milestones=[]),
}

SCHEDULES = ("multistep", "cosine")
AMP_MODES = ("auto", "off", "bf16", "fp16")

FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig))


def resolve_config(recipe: str | None = None, **overrides: Any) -> TrainConfig:
    """The config of ``recipe`` (default ``paper``) with ``overrides`` (``None`` values ignored)."""
    recipe = recipe or "paper"
    if recipe not in RECIPES:
        raise UserError(f"unknown recipe {recipe!r}; choose one of: {', '.join(RECIPES)}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    unknown = [k for k in overrides if k not in FIELDS]
    if unknown:
        close = difflib.get_close_matches(unknown[0], FIELDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UserError(f"unknown training option {unknown[0]!r}{hint}")
    values = {**RECIPES[recipe], **overrides, "recipe": recipe}
    if recipe == "paper" and "lr" not in overrides and values.get("student", "resnet8") in SMALL_LR_STUDENTS:
        values["lr"] = 0.01
    if "milestones" in values:
        values["milestones"] = sorted(int(m) for m in values["milestones"])
    for key in ("mean", "std"):
        if values.get(key) is not None:
            values[key] = [float(v) for v in values[key]]
    cfg = TrainConfig(**values)
    validate(cfg)
    return cfg


def _non_negative(value: float) -> bool:
    return math.isfinite(value) and value >= 0


def validate(cfg: TrainConfig) -> None:
    """Reject values no run could use, with one sentence naming the option."""
    checks = [
        (cfg.epochs >= 1, "--epochs must be at least 1"),
        (cfg.batch_size >= 2, "--batch-size must be at least 2 (BatchNorm and mixing DAs need pairs)"),
        (cfg.lr > 0 and math.isfinite(cfg.lr), "--lr must be a positive number"),
        (cfg.temperature > 0 and math.isfinite(cfg.temperature), "--temperature must be a positive number"),
        (_non_negative(cfg.alpha) and _non_negative(cfg.gamma), "--alpha and --gamma must be non-negative numbers"),
        (0 <= cfg.momentum < 1, f"--momentum must be at least 0 and below 1, not {cfg.momentum}"),
        (_non_negative(cfg.weight_decay), f"--weight-decay must be 0 or more, not {cfg.weight_decay}"),
        (0 < cfg.lr_decay <= 1, f"--lr-decay must be above 0 and at most 1, not {cfg.lr_decay}"),
        (all(m >= 1 for m in cfg.milestones), "--milestones must be epochs of 1 or more, not "
         + " ".join(str(m) for m in cfg.milestones)),
        (_non_negative(cfg.warmup_epochs), f"--warmup-epochs must be 0 or more, not {cfg.warmup_epochs}"),
        (all(math.isfinite(v) for v in (*(cfg.mean or ()), *(cfg.std or ()))),
         "--mean and --std must be finite numbers"),
        (cfg.schedule in SCHEDULES, f"--schedule must be one of {', '.join(SCHEDULES)}"),
        (cfg.amp in AMP_MODES, f"--amp must be one of {', '.join(AMP_MODES)}"),
        (cfg.subset is None or cfg.subset >= 1, "--subset must be a positive number of images"),
        (cfg.test_subset is None or cfg.test_subset >= 1, "--test-subset must be a positive number of images"),
        (cfg.max_steps is None or cfg.max_steps >= 1, "--max-steps must be at least 1"),
        (not cfg.warmup_epochs >= cfg.epochs, "--warmup-epochs must be less than --epochs"),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(message)


def lr_factor(step: int, cfg: TrainConfig, steps_per_epoch: int) -> float:
    """The learning rate at optimiser ``step`` as a fraction of ``cfg.lr``.

    Multistep decays by ``lr_decay`` at each milestone epoch (RepDistiller adjusts the
    rate at epoch boundaries); cosine decays per step to zero over the whole run.
    A linear warm-up, when asked for, scales either.

    >>> cfg = resolve_config("paper")
    >>> [lr_factor(e * 10, cfg, 10) for e in (0, 149, 150, 180, 239)]
    [1.0, 1.0, 0.1, 0.010000000000000002, 0.0010000000000000002]
    """
    total = cfg.epochs * steps_per_epoch
    warmup = cfg.warmup_epochs * steps_per_epoch
    if cfg.schedule == "cosine":
        factor = 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
    else:
        epoch = step // steps_per_epoch
        factor = cfg.lr_decay ** sum(epoch >= m for m in cfg.milestones)
    if warmup > 0 and step < warmup:
        factor *= (step + 1) / warmup
    return factor


def differences(stored: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """``name: stored → wanted`` for every field that ``wanted`` sets to another value."""
    return [f"{key} {stored[key]!r} vs {value!r}" for key, value in wanted.items()
            if value is not None and key in stored and _normal(stored[key]) != _normal(value)]


def _normal(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_normal(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value
