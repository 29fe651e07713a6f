"""What a data spec resolves to: :class:`ImageData`, its splits (:class:`Split` in memory, or a streamed
:class:`~dastat.data.folders.FolderSplit`) and the facts a network and its DAs need."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterator

import torch

from ..augment.base import AugmentContext
from ..augment.functional import base_view as padded_crop_flip
from ..errors import UserError
from .datasets import DATASETS
from .folders import FolderSplit


@dataclass
class Split:
    """One split held in memory: ``images`` uint8 N×C×H×W and ``labels`` int64 N."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return self.images.shape[0]

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        indices: torch.Tensor | None = None,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(images, labels)`` batches of one pass over the split (or ``indices``)."""
        order = torch.arange(len(self)) if indices is None else indices
        if shuffle:
            order = order[torch.randperm(len(order), generator=generator)]
        stop = len(order) - (len(order) % batch_size if drop_last else 0)
        for start in range(0, stop, batch_size):
            idx = order[start : start + batch_size]
            yield self.images[idx], self.labels[idx]


@dataclass
class ImageData:
    """A dataset resolved from a spec: its splits and the facts a teacher needs."""

    name: str
    train: Split | FolderSplit
    test: Split | FolderSplit | None
    num_classes: int
    channels: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: list[str]
    spec: str = ""
    train_view: str = "pad-crop-flip"  # the training split's base view, one of BASE_VIEWS
    resize: int | None = None  # folders: the shorter side before the centre crop
    interpolation: str | None = None  # folders: how images are resized

    def subset(self, train: int | None = None, test: int | None = None, *, seed: int = 0) -> "ImageData":
        """The same dataset with a random ``train``/``test`` images kept.

        >>> small = load_data().subset(train=1000)  # doctest: +SKIP
        """
        def cut(split, n):
            if n is None or split is None:
                return split
            if not 0 < n <= len(split):
                raise UserError(f"cannot keep {n} of {len(split)} images")
            keep = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))[:n].sort().values
            return split.subset(keep) if isinstance(split, FolderSplit) else Split(split.images[keep], split.labels[keep])

        return dataclasses.replace(self, train=cut(self.train, train), test=cut(self.test, test),
                                   spec=f"{self.spec}[{train or 'all'}/{test or 'all'}]")

    def base_view(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The training split's base view of a batch: the paper's padded crop and flip, batched on
        ``x``'s device, or ``x`` itself when there is none or the folder's decoding made it."""
        return x if self.train_view != "pad-crop-flip" else padded_crop_flip(x, generator)

    def augment_context(self, **models) -> AugmentContext:
        """What a DA may know about this data (``teacher=``/``student=`` added): shape, normalisation, and
        the defaults its family gives DAs."""
        info = DATASETS.get(self.name)
        return AugmentContext(num_classes=self.num_classes, image_size=self.image_size, channels=self.channels,
                              mean=tuple(self.mean), std=tuple(self.std),
                              autoaugment_policy=info and info.autoaugment_policy,
                              cutout_size=info and info.cutout_size, **models)

    def describe_preprocessing(self) -> dict:
        """How images reach the network (JSON-ready): resolution, resize, interpolation, base views."""
        folder = isinstance(self.train, FolderSplit)
        return {"resolution": self.image_size, "resize": self.resize if folder else None,
                "interpolation": self.interpolation if folder else None, "base_view": self.train_view,
                "test_view": "resize+center-crop" if folder else "as stored"}

    def describe(self) -> str:
        n_test = len(self.test) if self.test is not None else 0
        return (
            f"{self.name}: {len(self.train)} train / {n_test} test images, {self.num_classes} classes, "
            f"{self.channels}×{self.image_size}×{self.image_size}"
        )
