"""The setting of a run: a teacher, the data it is run on (:func:`resolve_teacher_and_data`, checked once
by :func:`check_compatible`) and the student beside it (:func:`load_student`, the one reading of a
student spec for scoring, the trainer and the command line)."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from . import models
from .data import DATASETS, DataOptions, ImageData, Resolution, data_root_from_env, dataset_of_shape, load_data
from .errors import UserError, blaming
from .teacher import BUNDLED, Teacher, build_teacher, load_teacher, resolve_spec


def _data_for(num_classes: int, in_channels: int, source: str, announce: bool) -> str:
    """The data spec implied by a teacher's shape, said on stderr (one line)."""
    name = dataset_of_shape(num_classes, in_channels)
    if name is None:
        raise UserError(f"the teacher {source} predicts {num_classes} classes from {in_channels}-channel images, "
                        "which matches no built-in dataset; pass --data SPEC (e.g. imagefolder:PATH)")
    if name == "fashion-mnist":
        return name  # the default data anyway: nothing new to say
    root = data_root_from_env() or "./data"
    where = f"{root} (from DASTAT_DATA)" if data_root_from_env() else root
    if announce:
        print(f"dastat: no --data given; the teacher has {num_classes} classes and {in_channels} channels, "
              f"so the data is {DATASETS[name].title} under {where} ({name}:{root})", file=sys.stderr)
    return f"{name}:{root}"


def resolve_teacher_and_data(
    teacher: Any = None,
    data: Any = None,
    *,
    options: DataOptions | None = None,
    arch: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    trust: bool = False,
    device: str | torch.device | None = None,
    announce: bool = True,
) -> tuple[Teacher, Any]:
    """The teacher and the data it is run on, each settled by the other (the one place this happens).

    ``teacher`` is a spec or a loaded network, ``data`` a spec, an ``ImageData`` or None.
    Without data, the data is inferred from the teacher's classes and channels (said on
    stderr when ``announce``); image folders are read at the teacher's own resolution
    (its weights' metadata; ``options.size``/``options.resize`` override it) and in its channel count.
    Returns ``(teacher, data)``, checked to fit each other.
    """
    if (mean is None) != (std is None):
        raise UserError("pass --mean and --std together")
    with blaming("--teacher"):
        loaded = None if isinstance(teacher, nn.Module) else resolve_spec(teacher, arch, trust)
    classes = loaded.num_classes if loaded else getattr(teacher, "num_classes", None)
    channels = loaded.in_channels if loaded else getattr(teacher, "in_channels", None)
    if data is None and (teacher is None or str(teacher) in ("bundled", BUNDLED)):
        data = "fashion-mnist"
    elif data is None:
        if classes is None or channels is None:
            raise UserError("the teacher does not say its classes and channels; pass --data SPEC")
        data = _data_for(classes, channels, loaded.source if loaded else getattr(teacher, "source", "given"), announce)
    if not isinstance(data, ImageData):
        prep = (loaded.preprocessing if loaded else getattr(teacher, "meta", {}).get("preprocessing")) or {}
        res = Resolution(prep["size"], prep.get("resize"), prep.get("interpolation") or "bilinear") if prep else None
        with blaming("--data"):
            data = load_data(data, options, resolution=res, channels=channels)
    if loaded is not None:
        teacher = build_teacher(loaded, data, mean, std)
    check_compatible(teacher, data)
    return (teacher.to(device) if device is not None else teacher), data


def describe_inputs(teacher: Any, data: Any) -> dict[str, Any]:
    """What a result should record about its inputs: the data's preprocessing and the teacher's normalisation."""
    out = dict(data.describe_preprocessing()) if hasattr(data, "describe_preprocessing") else {}
    for key in ("mean", "std"):
        value = getattr(teacher, key, None)
        out[key] = [round(float(v), 6) for v in value.flatten().tolist()] if isinstance(value, torch.Tensor) else None
    return out


def check_compatible(teacher: "Teacher", data: Any) -> None:
    """Raise a UserError unless ``teacher`` takes ``data``'s images and predicts its classes (the one place this is checked)."""
    classes = getattr(teacher, "num_classes", None)
    if classes is not None and classes != data.num_classes:
        raise UserError(f"the teacher predicts {classes} classes but {data.name} has {data.num_classes}; "
                        "pass the --data the teacher was trained on")
    channels = getattr(teacher, "in_channels", None)
    if channels is not None and channels != data.channels:
        raise UserError(f"the teacher takes {channels}-channel images but {data.name} has {data.channels} channels")
    # Zoo networks pool adaptively and take any image size; other networks are tried on two images.
    x = data.train.images[:2] if hasattr(data.train, "images") else None
    if x is not None and getattr(teacher, "arch", None) not in models.list_models():
        try:
            with torch.inference_mode():
                out = teacher(x.to(next(teacher.parameters()).device))
        except RuntimeError as exc:
            raise UserError(f"the teacher cannot take {data.name}'s {tuple(x.shape[1:])} images "
                            f"({str(exc).splitlines()[0]})") from None
        if out.ndim != 2 or out.shape[1] != data.num_classes:
            raise UserError(f"the teacher returns outputs of shape {tuple(out.shape)}, not N×{data.num_classes} logits")


def student_kind(spec: str) -> str:
    """``"zoo"`` (a fresh network of that architecture) or ``"checkpoint"`` (a file or a hub name), checked
    before anything is loaded; anything else is a UserError."""
    names = models.list_models()
    if spec in names:
        return "zoo"
    if Path(spec).exists() or ":" in spec:
        return "checkpoint"
    close = difflib.get_close_matches(spec, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UserError(f"the student {spec!r} is neither a file nor a zoo architecture{hint}; "
                    "pass a checkpoint or a name from 'dastat zoo list'", flag="--student")


def load_student(spec: str | None, data: ImageData, *, seed: int = 0, device=None, trust: bool = False):
    """The one reading of a student spec (scoring, the trainer and the CLI): a zoo name gives a fresh
    network seeded with ``seed``, anything else loads as a teacher spec would. Frozen, like a teacher."""
    if spec is None:
        return None
    if student_kind(spec) == "zoo":
        torch.manual_seed(seed)
        net = models.create_model(spec, num_classes=data.num_classes, in_channels=data.channels)
        student = Teacher(net, data.mean, data.std, num_classes=data.num_classes, in_channels=data.channels,
                          arch=spec, source=f"{spec} (fresh, seed {seed})")
    else:
        with blaming("--student"):
            student = load_teacher(spec, data=data, trust=trust)
    return student.to(device) if device is not None else student
