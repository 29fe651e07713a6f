"""Datasets by spec: ``fashion-mnist``, ``cifar10[:ROOT]``, ``cifar100[:ROOT]``,
``tinyimagenet:ROOT``, ``imagefolder:PATH[,size=N]``.

A spec resolves to a :class:`ImageData`: the train and test splits as sources of
uint8 batches (N×C×H×W) plus what a teacher needs to know about them (class count,
image size, channels, normalisation, base view). Small datasets live in memory as one
uint8 tensor, so a batch is a single index operation; folders of image files are
streamed by :mod:`dastat.data.folders` at the teacher's resolution. The training
split's base view depends on the data family (``--base-view``): the paper's random
crop with zero padding of 1/8 of the side and a flip, batched on the device by
:func:`dastat.augment.functional.base_view` (Fashion-MNIST, CIFAR, Tiny ImageNet), or
a random resized crop and flip made per image when a folder is decoded (other image
folders). CIFAR's default root is ``$DASTAT_DATA``, else ``./data``.

>>> parse_spec("cifar100:/data/cifar")
('cifar100', '/data/cifar')
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ..errors import UserError
from .folders import BASE_VIEWS, FolderSplit, Resolution, tinyimagenet_samples

FASHION_MNIST_DIRS = ("/usr/share/datasets/fashion-mnist",)
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

#: Normalisation constants by dataset family (mean, std per channel).
NORMALIZATION = {
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "imagenet-gray": ((0.449,), (0.226,)),  # ImageNet's constants averaged over channels, for grayscale folders
}

FULL_NAMES = {"fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
DATASET_NAMES = ("fashion-mnist", "cifar10", "cifar100", "tinyimagenet", "imagefolder")
#: The default base view of each family: the paper's for small datasets, Inception's for ImageNet-style folders.
FAMILY_BASE_VIEW = {"imagefolder": "resized-crop-flip"}


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
        import dataclasses

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
        if self.train_view != "pad-crop-flip":
            return x
        from ..augment.functional import base_view

        return base_view(x, generator)

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


def parse_spec(spec: str) -> tuple[str, str | None]:
    """Split ``name[:ROOT]`` into the dataset name and its root (or None)."""
    name, _, root = spec.partition(":")
    name = name.strip().lower().replace("_", "-")
    if name in ("fashionmnist", "fmnist"):
        name = "fashion-mnist"
    if name in ("cifar-10", "cifar-100"):
        name = name.replace("-", "")
    if name not in DATASET_NAMES:
        raise UserError(f"unknown dataset {spec!r}; choose one of: " + ", ".join(DATASET_NAMES))
    return name, (root or None)


def load_data(spec: str | None = None, *, download: bool = False, resolution: Resolution | None = None,
              size: int | None = None, resize: int | None = None, channels: int | None = None,
              workers: int | None = None, base_view: str | None = None) -> ImageData:
    """Resolve a data spec (``None`` means Fashion-MNIST) to an :class:`ImageData`.

    For image folders, ``resolution`` (usually the teacher's) sets the decoded size
    unless ``size``/``resize`` or the spec's ``size=``/``resize=`` do (a new size alone
    keeps the resolution's crop ratio), ``channels`` the channels they are read in (the
    teacher's), ``workers`` the decoding processes; ``base_view`` (one of
    :data:`BASE_VIEWS`) overrides the family's training view.
    """
    if base_view is not None and base_view not in BASE_VIEWS:
        raise UserError(f"unknown base view {base_view!r}; choose one of: " + ", ".join(BASE_VIEWS))
    name, root = parse_spec(spec or "fashion-mnist")
    view = base_view or FAMILY_BASE_VIEW.get(name, "pad-crop-flip")
    if name == "fashion-mnist":
        data = _load_fashion_mnist(root, download)
    elif name in ("cifar10", "cifar100"):
        data = _load_cifar(name, root, download)
    else:
        if root is None:
            raise UserError(f"{name} needs a path: --data {name}:PATH")
        given = {k: v for k, v in (("size", size), ("resize", resize)) if v is not None}
        data = _load_folders(name, root, resolution, given, channels, workers, view)
    if (size or resize) and not isinstance(data.train, FolderSplit):
        raise UserError(f"--size and --resize apply to image folders; {name} is used at its own resolution")
    if view == "resized-crop-flip" and not isinstance(data.train, FolderSplit):
        raise UserError(f"--base-view resized-crop-flip is made while decoding image folders; {name} is held in "
                        "memory, so choose pad-crop-flip or none")
    data.spec, data.train_view = spec or "fashion-mnist", view
    return data


# --- Fashion-MNIST (IDX files) -------------------------------------------------


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
    for candidate in (root / stem, root / f"{stem}.gz", root / "FashionMNIST" / "raw" / stem,
                      root / "FashionMNIST" / "raw" / f"{stem}.gz"):
        if candidate.exists():
            return candidate
    return None


def _load_fashion_mnist(root: str | None, download: bool) -> ImageData:
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
            return _load_fashion_mnist(root, download=False)
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

    mean, std = NORMALIZATION["fashion-mnist"]
    return ImageData(
        name="fashion-mnist",
        train=split("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        test=split("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
        num_classes=10, channels=1, image_size=28, mean=mean, std=std,
        classes=list(FASHION_MNIST_CLASSES),
    )


# --- CIFAR-10 / CIFAR-100 (torchvision's python pickles) ----------------------


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles the CIFAR batches (dicts of lists, bytes and numpy arrays) and nothing else.

    A CIFAR batch is a pickle, and a pickle may run code; this one only rebuilds
    numpy arrays and plain containers, so a tampered file fails instead of running.
    Batches re-saved by Python 3 are read as torchvision reads them: protocol 2 spells
    bytes as ``_codecs.encode(text, "latin1")`` (a global torch's weights-only
    unpickler allows too), protocol 5 rebuilds arrays with numpy's ``_frombuffer``.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("copyreg", "_reconstructor"),
        ("builtins", "object"),
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            obj = _ArrayUnpickler(io.BytesIO(f.read()), encoding="latin1").load()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise UserError(f"{path} is not a CIFAR batch file ({exc})") from None
    if not isinstance(obj, dict):
        raise UserError(f"{path} is not a CIFAR batch file")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _cifar_arrays(path: Path, entry: dict, name: str, label_key: str,
                  num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """A batch's images (N×3×32×32 uint8) and labels, checked against what the rest of the run assumes."""
    if "data" not in entry or label_key not in entry:
        raise UserError(f"{path} lacks the 'data' and '{label_key}' entries of a {name} batch")
    try:
        data = np.asarray(entry["data"])
        labels = np.asarray(entry[label_key])
    except (ValueError, TypeError):
        raise UserError(f"{path} is not a {name} batch: its 'data' or '{label_key}' is not an array") from None
    if data.dtype.kind in "iu" and data.size and 0 <= data.min() and data.max() <= 255:
        data = data.astype(np.uint8)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise UserError(f"{path} holds images of shape {data.shape[1:]} and type {data.dtype}, "
                        "not 3×32×32 bytes")
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or len(labels) != len(data):
        raise UserError(f"{path} holds {len(data)} images but its '{label_key}' is not {len(data)} integer labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        bad = int(labels.max() if labels.max() >= num_classes else labels.min())
        raise UserError(f"{path} holds the label {bad}, outside the {num_classes} classes of {name} "
                        f"(0 to {num_classes - 1}); the file is not a {name} batch or is corrupt")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def data_root_from_env() -> str | None:
    """``$DASTAT_DATA`` with ``~`` and ``$VARS`` expanded as a shell would, or None when it is unset or empty."""
    value = os.environ.get("DASTAT_DATA")
    return os.path.expandvars(os.path.expanduser(value)) if value else None


def _load_cifar(name: str, root: str | None, download: bool) -> ImageData:
    folder, train_files, test_files, meta_file, label_key, names_key = {
        "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"],
                    "batches.meta", "labels", "label_names"),
        "cifar100": ("cifar-100-python", ["train"], ["test"], "meta", "fine_labels", "fine_label_names"),
    }[name]
    env = data_root_from_env()
    where = root or env or "./data"
    root_path = Path(where)
    if env and where == env:  # the root came from the environment (directly, or as the inferred spec's root)
        where = f"{where} (the folder the DASTAT_DATA environment variable names)"
    base = root_path / folder if (root_path / folder).is_dir() else root_path
    if not (base / train_files[0]).exists():
        if download:
            from torchvision import datasets

            cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
            cls(str(root_path), train=True, download=True)
            cls(str(root_path), train=False, download=True)
            return _load_cifar(name, root, download=False)
        raise UserError(
            f"{name} was not found under {where} (expected {folder}/ in torchvision's format); "
            f"pass --data {name}:ROOT, or add --download to fetch it"
        )

    num_classes = 10 if name == "cifar10" else 100

    def split(files) -> Split:
        images, labels = [], []
        for fname in files:
            x, y = _cifar_arrays(base / fname, _unpickle(base / fname), name, label_key, num_classes)
            images.append(x)
            labels.append(y)
        return Split(torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels)))

    classes = [str(i) for i in range(num_classes)]
    if (base / meta_file).exists():
        meta = _unpickle(base / meta_file)
        classes = [c.decode() if isinstance(c, bytes) else str(c) for c in meta.get(names_key, classes)]
    test = split(test_files) if all((base / f).exists() for f in test_files) else None
    mean, std = NORMALIZATION[name]
    return ImageData(name=name, train=split(train_files), test=test, num_classes=num_classes, channels=3,
                     image_size=32, mean=mean, std=std, classes=classes)


# --- folders of images --------------------------------------------------------


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


def _load_folders(name: str, spec_root: str, resolution: Resolution | None, given: dict[str, int],
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
    else:
        if not root.is_dir():
            raise UserError(f"image folder {root} does not exist")
        train_dir = root / "train" if (root / "train").is_dir() else root
        test_dir = next((root / d for d in ("val", "test") if (root / d).is_dir()), None)
        train = FolderSplit(train_dir, random_crop=view == "resized-crop-flip", **common)
        test = FolderSplit(test_dir, **common) if test_dir is not None else None
        if test is not None and test.classes != train.classes:
            raise UserError(f"{test_dir} and {train_dir} have different class folders")
    mean, std = NORMALIZATION["imagenet" if channels == 3 else "imagenet-gray"]
    return ImageData(name=name, train=train, test=test, num_classes=len(train.classes), channels=channels,
                     image_size=res.size, mean=mean, std=std, classes=train.classes, resize=res.shorter_side,
                     interpolation=res.interpolation)
