"""Image folders by spec, ``imagefolder:PATH[,size=N][,resize=N]`` and ``tinyimagenet:ROOT``: the
resolution they are read at and the splits they hold (streamed by :mod:`dastat.data.folders`)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UserError
from .datasets import IMAGENET, IMAGENET_GRAY
from .folders import FolderSplit, Resolution, tinyimagenet_samples
from .types import ImageData


def _folder_options(spec_root: str) -> tuple[str, dict[str, int]]:
    """``PATH[,size=N][,resize=N]`` → the path and its integer options."""
    path, _, opts = spec_root.partition(",")
    options = {}
    for opt in filter(None, opts.split(",")):
        key, _, value = (part.strip() for part in opt.partition("="))
        if key not in ("size", "resize") or not value.lstrip("-").isdigit():
            raise UserError(f"unknown image folder option {opt!r}; the options are size=PIXELS and resize=PIXELS")
        options[key] = int(value)
    return path, options


def _folder_resolution(options: dict[str, int], given: Resolution | None, native: int) -> Resolution:
    """The spec's size/resize, else the given (teacher's) resolution, else ``native`` pixels."""
    if "size" not in options:
        base = given or Resolution(native)
        return Resolution(base.size, options.get("resize", base.resize), base.interpolation)
    size = options["size"]
    resize = options.get("resize")
    if resize is None and given is not None and given.resize and size > 0:
        resize = max(size, round(size * given.resize / given.size))  # keep the teacher's crop ratio
    return Resolution(size, resize, given.interpolation if given else "bilinear")


def load_folders(name: str, spec_root: str, resolution: Resolution | None, given: dict[str, int],
                 channels: int | None, workers: int | None, view: str) -> ImageData:
    path, options = _folder_options(spec_root)
    options.update(given)
    res = _folder_resolution(options, resolution, 64)
    root, channels = Path(path), channels or 3
    if channels not in (1, 3):
        raise UserError(f"image folders are read as RGB or grayscale, not as {channels}-channel images")
    workers = min(4, os.cpu_count() or 1) if workers is None else workers
    common = dict(size=res.size, resize=res.resize, interpolation=res.interpolation, channels=channels, workers=workers)
    if name == "tinyimagenet":
        if not root.is_dir():
            raise UserError(f"Tiny ImageNet was not found at {root}; unpack tiny-imagenet-200.zip and pass "
                            "--data tinyimagenet:PATH/tiny-imagenet-200")
        classes, train_samples, val_samples = tinyimagenet_samples(root)
        train = FolderSplit(root / "train", samples=train_samples, class_names=classes,
                            random_crop=view == "resized-crop-flip", **common)
        test = FolderSplit(root / "val", samples=val_samples, class_names=classes, **common)
    else:  # a missing root is the listing's to report (folders._scan), in the same sentence
        train_dir = root / "train" if (root / "train").is_dir() else root
        test_dir = next((root / d for d in ("val", "test") if (root / d).is_dir()), None)
        train = FolderSplit(train_dir, random_crop=view == "resized-crop-flip", **common)
        test = FolderSplit(test_dir, **common) if test_dir is not None else None
        if test is not None and test.classes != train.classes:
            raise UserError(f"{test_dir} and {train_dir} have different class folders")
    mean, std = IMAGENET if channels == 3 else IMAGENET_GRAY
    return ImageData(name=name, train=train, test=test, num_classes=len(train.classes), channels=channels,
                     image_size=res.size, mean=mean, std=std, classes=train.classes, resize=res.shorter_side,
                     interpolation=res.interpolation)
