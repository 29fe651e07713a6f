"""Teachers: a frozen network that takes images in [0, 1] and normalises them itself.

Files are read by :mod:`.checkpoints`, hub names by :mod:`.hub`; pairing a teacher with its
data and a student is :mod:`dastat.setting`'s.

:func:`load_teacher` accepts what people already have:

- ``None`` or ``"bundled"``: the bundled Fashion-MNIST resnet20;
- a RepDistiller / CRD checkpoint (``{'model': state_dict, 'epoch': …}``), a plain state
  dict (with or without DataParallel's ``module.`` prefix or ``num_batches_tracked``
  buffers) or a safetensors file, for any architecture of :mod:`dastat.models`, which is
  recognised from the weights;
- a TorchScript archive;
- ``torchvision:NAME[:WEIGHTS]`` and ``timm:NAME[:WEIGHTS]``, where ``WEIGHTS`` is a
  local file (or, for torchvision, a weights name such as ``IMAGENET1K_V1``); without
  it the library's pretrained weights are downloaded.

Files are read with ``torch.load(weights_only=True)``, which rebuilds tensors and plain
containers only. A fully pickled ``nn.Module`` needs ``trust=True``
(``--trust-checkpoint``), because unpickling it can run any code the file names.

The teacher's normalisation is, in order of precedence: ``mean``/``std`` given here,
the one stored with the checkpoint, the defaults of the data it will see.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any, Sequence

import torch

from .. import models
from ..data import DATASETS, dataset_of_shape, load_data, parse_spec
from ..errors import UserError
from .checkpoints import BUNDLED, bundled_manifest, load_bundled, load_path
from .hub import load_timm, load_torchvision
from .model import Loaded, Teacher

__all__ = ["BUNDLED", "Teacher", "bundled_manifest", "inspect_checkpoint", "load_teacher"]


def resolve_spec(spec: str | Path | None, arch: str | None, trust: bool) -> Loaded:
    """The network a spec names, by its prefix or (a file) its contents; its normalisation is not settled yet."""
    if spec is None or str(spec) in ("bundled", BUNDLED):
        return load_bundled()
    text = str(spec)
    if text.startswith("torchvision:"):
        return load_torchvision(text, trust)
    if text.startswith("timm:"):
        return load_timm(text, trust)
    if arch is not None:
        models.create_meta(arch)  # an unknown name is the user's first mistake to hear about
    with warnings.catch_warnings():
        # torch's notes on its own internals (legacy storages, TorchScript's deprecation) are not the user's concern.
        warnings.simplefilter("ignore", UserWarning)
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.", category=FutureWarning)
        return load_path(Path(spec), arch, trust)


def _data_facts(data: Any) -> tuple[str, int | None, int | None, Sequence[float] | None, Sequence[float] | None]:
    """(name, classes, channels, mean, std) of an ``ImageData`` or a data spec, without loading CIFAR."""
    if isinstance(data, str):
        info = DATASETS[parse_spec(data)[0]]
        if info.num_classes is not None:
            return info.name, info.num_classes, info.channels, info.mean, info.std
        data = load_data(data)  # an image folder: its classes are its sub-folders
    return data.name, data.num_classes, data.channels, data.mean, data.std


def _check_normalisation(mean: Sequence[float], std: Sequence[float], channels: int, origin: str,
                         source: str) -> None:
    """Check a normalisation, blaming where it came from: the flags, the checkpoint, or the data."""
    where = {"given": "{flag}", "checkpoint": f"the {{name}} stored in the checkpoint {source}"}.get(
        origin, f"the {{name}} of the data ({origin})")
    for flag, name, values in (("--mean", "mean", mean), ("--std", "std", std)):
        label = where.format(flag=flag, name=name)
        if len(values) not in (1, channels):
            raise UserError(f"{label} has {len(values)} values but the teacher takes {channels} channels")
        try:
            numbers = [float(v) for v in values]
        except (TypeError, ValueError):
            raise UserError(f"{label} must be numbers, not {list(values)}") from None
        if not all(math.isfinite(v) for v in numbers):
            raise UserError(f"{label} must be finite numbers, not {numbers}")
    if any(float(s) <= 0 for s in std):
        label = where.format(flag="--std", name="std")
        raise UserError(f"every value of {label} must be positive, not {[float(s) for s in std]}"
                        + ("; pass --mean and --std to override it" if origin == "checkpoint" else ""))


def load_teacher(
    spec: str | Path | None = None,
    *,
    arch: str | None = None,
    data: Any = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    num_classes: int | None = None,
    in_channels: int | None = None,
    trust: bool = False,
    device: str | torch.device | None = None,
) -> Teacher:
    """Load a teacher from ``spec`` (see the module docstring), frozen and in eval mode.

    ``data`` (an ``ImageData`` or a data spec such as ``"cifar100:ROOT"``) supplies the
    default normalisation and is checked against the teacher's classes and channels;
    without it, a teacher whose normalisation is not stored gets that of the data its
    shape implies (100 classes × 3 channels: CIFAR-100; 10 × 3: CIFAR-10; 10 × 1:
    Fashion-MNIST). ``num_classes``/``in_channels``, when given, are checked against the weights.
    """
    if (mean is None) != (std is None):
        raise UserError("pass --mean and --std together")
    loaded = resolve_spec(spec, arch, trust)
    for label, wanted, found in (("classes", num_classes, loaded.num_classes),
                                 ("input channels", in_channels, loaded.in_channels)):
        if wanted is not None and wanted != found:
            raise UserError(f"the teacher {loaded.source} has {found} {label}, not the {wanted} asked for")
    teacher = build_teacher(loaded, data, mean, std)
    return teacher.to(device) if device is not None else teacher


def build_teacher(loaded: Loaded, data: Any, mean: Sequence[float] | None, std: Sequence[float] | None) -> Teacher:
    """Settle the normalisation of a network read from a spec: given, stored, the data's, or inferred."""
    data_mean = data_std = None
    if data is not None:
        name, classes, channels, data_mean, data_std = _data_facts(data)
        if classes is not None and classes != loaded.num_classes:
            raise UserError(f"the teacher {loaded.source} has {loaded.num_classes} classes but {name} has {classes}; "
                            "pass a teacher trained on this data")
        if channels is not None and channels != loaded.in_channels:
            raise UserError(f"the teacher {loaded.source} takes {loaded.in_channels}-channel images but {name} "
                            f"has {channels} channels; pass a teacher trained on this data")
    inferred = dataset_of_shape(loaded.num_classes, loaded.in_channels)
    if mean is not None and std is not None:
        norm, origin = (list(mean), list(std)), "given"
    elif loaded.mean is not None and loaded.std is not None:
        norm, origin = (list(loaded.mean), list(loaded.std)), "checkpoint"
    elif data_mean is not None and data_std is not None:
        norm, origin = (list(data_mean), list(data_std)), "data"
    elif inferred is not None:
        norm, origin = tuple(map(list, _data_facts(inferred)[3:])), f"inferred ({inferred})"
    else:
        raise UserError(f"the normalisation of {loaded.source} is unknown: pass --data, or --mean and --std "
                        "as used in its training")
    _check_normalisation(*norm, loaded.in_channels, origin, loaded.source)
    meta = dict(loaded.meta)
    meta.update(format=loaded.format, extras=loaded.extras, ignored=loaded.ignored, normalisation=origin,
                preprocessing=loaded.preprocessing)
    return Teacher(loaded.model, *norm, num_classes=loaded.num_classes, in_channels=loaded.in_channels,
                   arch=loaded.arch, source=loaded.source, meta=meta)


def inspect_checkpoint(path: str | Path, *, trust: bool = False) -> dict[str, Any]:
    """Describe a teacher file (or any ``load_teacher`` spec) without needing data.

    Returns ``format``, ``arch``, ``num_classes``, ``in_channels``, ``params``,
    ``mean``/``std`` (when stored with it, else None), ``extras`` (scalar entries such
    as ``epoch`` and ``accuracy``) and ``ignored`` (other entries, e.g. ``optimizer``).
    """
    loaded = resolve_spec(path, None, trust)
    info = {
        "source": loaded.source,
        "format": loaded.format,
        "arch": loaded.arch,
        "num_classes": loaded.num_classes,
        "in_channels": loaded.in_channels,
        "params": sum(p.numel() for p in loaded.model.parameters()),
        "mean": None if loaded.mean is None else [float(v) for v in loaded.mean],
        "std": None if loaded.std is None else [float(v) for v in loaded.std],
        "extras": dict(loaded.extras),
        "ignored": list(loaded.ignored),
    }
    if loaded.meta.get("stripped_prefix"):
        info["stripped_prefix"] = loaded.meta["stripped_prefix"]
    return info
