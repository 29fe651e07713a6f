"""CIFAR-10 and CIFAR-100 from torchvision's python pickles, read without running any code they hold."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from .datasets import DATASETS, data_root_from_env
from .types import ImageData, Split


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


def load_cifar(name: str, root: str | None, download: bool) -> ImageData:
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
            return load_cifar(name, root, download=False)
        raise UserError(
            f"{name} was not found under {where} (expected {folder}/ in torchvision's format); "
            f"pass --data {name}:ROOT, or add --download to fetch it"
        )

    info = DATASETS[name]
    num_classes = info.num_classes

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
    return ImageData(name=name, train=split(train_files), test=test, num_classes=num_classes, channels=3,
                     image_size=32, mean=info.mean, std=info.std, classes=classes)
