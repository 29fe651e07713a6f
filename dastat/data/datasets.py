"""The datasets dastat knows by name, in one table, and how a data spec names one.

:data:`DATASETS` says what each family is before a file is read: its classes and
channels (when fixed), its normalisation, its training split's base view, and the
defaults its DAs take from it (the AutoAugment policy learned on such data, the
paper's Cutout side). :class:`DataOptions` carries the keywords that say how to read a
spec (``--download``, ``--size``, ``--resize``, ``--base-view``, ``--workers``).

>>> parse_spec("cifar100:/data/cifar")
('cifar100', '/data/cifar')
>>> DATASETS["cifar10"].title, dataset_of_shape(100, 3)
('CIFAR-10', 'cifar100')
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import UserError

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
IMAGENET_GRAY = ((0.449,), (0.226,))  # ImageNet's constants averaged over channels, for grayscale folders


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset family; ``num_classes``/``channels`` are None when its folders decide them."""

    name: str
    title: str
    num_classes: int | None
    channels: int | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    base_view: str = "pad-crop-flip"
    autoaugment_policy: str = "cifar10"
    cutout_size: int | None = None  # None: a quarter of the image side


#: Every dataset a spec may name, in the order errors list them.
DATASETS = {info.name: info for info in (
    DatasetInfo("fashion-mnist", "Fashion-MNIST", 10, 1, (0.2860,), (0.3530,)),
    DatasetInfo("cifar10", "CIFAR-10", 10, 3, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), cutout_size=16),
    DatasetInfo("cifar100", "CIFAR-100", 100, 3, (0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)),
    DatasetInfo("tinyimagenet", "Tiny ImageNet", None, None, *IMAGENET, autoaugment_policy="imagenet"),
    # Inception's random resized crop for photographs of any size.
    DatasetInfo("imagefolder", "image folder", None, None, *IMAGENET, base_view="resized-crop-flip",
                autoaugment_policy="imagenet"),
)}


@dataclass(frozen=True)
class DataOptions:
    """How to read a data spec; ``size``/``resize``/``workers`` concern image folders only."""

    download: bool = False  # let torchvision fetch a missing dataset
    size: int | None = None  # the crop the network sees
    resize: int | None = None  # the shorter side before the centre crop
    base_view: str | None = None  # one of folders.BASE_VIEWS; None: the family's
    workers: int | None = None  # decoding processes


def parse_spec(spec: str) -> tuple[str, str | None]:
    """Split ``name[:ROOT]`` into the dataset name and its root (or None)."""
    name, _, root = spec.partition(":")
    name = name.strip().lower().replace("_", "-")
    if name in ("fashionmnist", "fmnist"):
        name = "fashion-mnist"
    if name in ("cifar-10", "cifar-100"):
        name = name.replace("-", "")
    if name not in DATASETS:
        raise UserError(f"unknown dataset {spec!r}; choose one of: " + ", ".join(DATASETS))
    return name, (root or None)


def dataset_of_shape(num_classes: int, channels: int) -> str | None:
    """The first dataset of fixed shape with these classes and channels (None if none fits)."""
    return next((d.name for d in DATASETS.values() if (d.num_classes, d.channels) == (num_classes, channels)), None)


def data_root_from_env() -> str | None:
    """``$DASTAT_DATA`` with ``~`` and ``$VARS`` expanded as a shell would, or None when it is unset or empty."""
    value = os.environ.get("DASTAT_DATA")
    return os.path.expandvars(os.path.expanduser(value)) if value else None
