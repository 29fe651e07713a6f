"""Turning what the user named into what a scoring run uses: teacher, data, student, device, DAs."""

from __future__ import annotations

from typing import Sequence

import torch

from .. import augment as augment_lib
from ..augment.base import Augmentation
from ..data import ImageData
from ..distributed import resolve_device
from ..errors import UserError
from ..setting import load_student, resolve_teacher_and_data


def default_das(student: bool) -> list[str]:
    """The paper's nine DAs, less ``cutmix_pick_s`` when there is no student."""
    return [d for d in augment_lib.PAPER_DAS if student or d != "cutmix_pick_s"]


def resolve_inputs(teacher, data, student, device, seed: int = 0):
    """``(teacher, data, student, device)`` ready to score: specs loaded, models on the device in eval mode."""
    device = resolve_device(device)
    teacher, data = resolve_teacher_and_data(teacher, data)
    if student is not None and not isinstance(student, torch.nn.Module):
        student = load_student(student, data, seed=seed)
    teacher = teacher.to(device).eval()
    if student is not None:
        student = student.to(device).eval()
    return teacher, data, student, device


def build_das(das: Sequence[str | Augmentation], data: ImageData, teacher, student) -> list[Augmentation]:
    """The DAs to score (the paper's nine when none are given), built for this teacher and data."""
    context = data.augment_context(teacher=teacher, student=student)
    built = [d if isinstance(d, Augmentation) else augment_lib.create(d, context)
             for d in (list(das) or default_das(student is not None))]
    seen: set[str] = set()
    for aug in built:
        if aug.spec in seen:
            raise UserError(f"the DA {aug.spec!r} is listed twice")
        seen.add(aug.spec)
    return built
