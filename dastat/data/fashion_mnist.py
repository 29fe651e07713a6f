"""Fashion-MNIST's IDX files (gzipped or not) from a root, torchvision's ``FashionMNIST/raw/`` under it,
``$DASTAT_FASHION_MNIST`` or the Debian package's folder."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from .datasets import DATASETS
from .types import ImageData, Split

FASHION_MNIST_DIRS = ("/usr/share/datasets/fashion-mnist",)
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise UserError(f"{path} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    body = raw[4 + 4 * ndim :]
    if len(body) != int(np.prod(dims)):
        raise UserError(f"{path} is truncated: expected {int(np.prod(dims))} bytes of data, found {len(body)}")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def _find_idx(root: Path, stem: str) -> Path | None:
    folders = (root, root / "FashionMNIST" / "raw")
    return next((p for folder in folders for p in (folder / stem, folder / f"{stem}.gz") if p.exists()), None)


def load_fashion_mnist(root: str | None, download: bool) -> ImageData:
    roots = [Path(root)] if root else [Path(d) for d in FASHION_MNIST_DIRS]
    if os.environ.get("DASTAT_FASHION_MNIST"):
        roots.insert(0, Path(os.environ["DASTAT_FASHION_MNIST"]))
    for r in roots:
        files = {stem: _find_idx(r, stem) for stem in (
            "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
        if all(files.values()):
            break
    else:
        if download and root:
            from torchvision import datasets

            datasets.FashionMNIST(root, train=True, download=True)
            datasets.FashionMNIST(root, train=False, download=True)
            return load_fashion_mnist(root, download=False)
        where = root or FASHION_MNIST_DIRS[0]
        raise UserError(
            f"Fashion-MNIST was not found in {where}; install it with "
            "'apt-get install dataset-fashion-mnist', or pass --data fashion-mnist:ROOT "
            "pointing to the IDX files (add --download to fetch them with torchvision)"
        )

    def split(images, labels) -> Split:
        x = torch.from_numpy(_read_idx(files[images]).copy()).unsqueeze(1)
        y = torch.from_numpy(_read_idx(files[labels]).astype(np.int64))
        if x.shape[0] != y.shape[0]:
            raise UserError(f"{files[images]} and {files[labels]} hold different numbers of items")
        return Split(x, y)

    info = DATASETS["fashion-mnist"]
    return ImageData(name=info.name, train=split("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                     test=split("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"), num_classes=info.num_classes,
                     channels=info.channels, image_size=28, mean=info.mean, std=info.std, classes=list(CLASSES))
