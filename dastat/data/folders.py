"""Folders of image files, decoded on demand: ``imagefolder:PATH`` and ``tinyimagenet:ROOT``.

A :class:`FolderSplit` keeps only the list of (path, label) pairs; a ``DataLoader``
decodes each batch with workers, so memory does not grow with the number of images.
Every image is read at the network's resolution: its shorter side resized to
``resize`` and the centre ``size``×``size`` crop kept (the evaluation transform of
torchvision and timm), or, for a training split whose base view is
``resized-crop-flip``, a random resized crop and flip. That randomness comes from a
seed per image derived from the batch generator's seed and the image's position in
the pass (:func:`dastat.seeding.stable_seed`), never from a worker's RNG state, so
the same seed gives the same images whatever the number of workers.

Every file is checked before it is decoded: its declared size against Pillow's
decompression-bomb limit and against :data:`PIXEL_BUDGET` once resized (a 1×1,000,000
image resized to a shorter side of 64 would take gigabytes); 16-bit images are brought
to 8 bits by their high byte, as torchvision converts them, never clipped. A file that
fails is named in one sentence with its own reason: missing, over a limit, in a pixel
format without an 8-bit reading, or corrupt. Decoding workers die with the process
that started them (``PR_SET_PDEATHSIG`` on Linux), so a run killed for memory leaves
none behind.
"""

from __future__ import annotations

import functools
import math
import os
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ..errors import UserError
from ..seeding import stable_seed

#: Base views of a training split: the paper's padded crop and flip (batched, on the
#: device), Inception-style random resized crop and flip (per image, at decode time), none.
BASE_VIEWS = ("pad-crop-flip", "resized-crop-flip", "none")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
MAX_SIZE = 4096
#: The most pixels an image may take once resized for the network (about 200 MB as RGB bytes).
PIXEL_BUDGET = 64 * 2**20
#: The most decoding processes a split starts.
MAX_WORKERS = 64
#: Why a file could not be read, as the worker reports it (0: it could).
OK, CORRUPT, MISSING, BOMB, OVER_BUDGET, PIXEL_FORMAT = range(6)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class Resolution:
    """How a folder's images are brought to the network: ``size`` crop of a ``resize`` shorter side."""

    size: int
    resize: int | None = None
    interpolation: str = "bilinear"

    def __post_init__(self):
        for label, value in (("size", self.size), ("resize", self.resize)):
            if value is not None and not 8 <= value <= MAX_SIZE:
                raise UserError(f"the image {label} must be between 8 and {MAX_SIZE} pixels, not {value}")
        if self.resize is not None and self.resize < self.size:
            raise UserError(f"the resize ({self.resize}) must be at least the crop size ({self.size})")
        if self.interpolation not in INTERPOLATIONS:
            raise UserError(f"unknown interpolation {self.interpolation!r}; choose one of: " + ", ".join(INTERPOLATIONS))

    @property
    def shorter_side(self) -> int:
        return self.resize or self.size


def resized_crop_box(width: int, height: int, rng: random.Random,
                     scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
    """torchvision's ``RandomResizedCrop`` box ``(left, top, right, bottom)``, drawn from ``rng``."""
    area, log_ratio = width * height, (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            left, top = rng.randint(0, width - w), rng.randint(0, height - h)
            return left, top, left + w, top + h
    # torchvision's fallback: the central crop of the extreme allowed aspect ratio
    if width / height < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif width / height > ratio[1]:
        w, h = round(height * ratio[1]), height
    else:
        w, h = width, height
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


class _Decoded(torch.utils.data.Dataset):
    """One pass over a split in a fixed order: item ``i`` is the ``i``-th image of the pass.

    Item ``i`` is ``(image, label, problem)``; a file that cannot be read comes back with
    a non-zero ``problem`` (one of the codes above), so the main process can name it in
    one sentence (an exception raised in a worker would arrive wrapped in a traceback).
    """

    def __init__(self, split: "FolderSplit", order: torch.Tensor, seed: int):
        self.samples, self.order, self.seed = split.samples, order.tolist(), seed
        self.res, self.random_crop = split.resolution, split.random_crop
        self.mode = "L" if split.channels == 1 else "RGB"

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        path, label = self.samples[self.order[i]]
        img, problem = self._open(path)
        if problem:
            return torch.zeros(len(self.mode), self.res.size, self.res.size, dtype=torch.uint8), label, problem
        if self.random_crop:
            img = self._random_view(img, random.Random(stable_seed(self.seed, i)))
        else:
            img = self._eval_view(img)
        arr = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy())
        return (arr.unsqueeze(0) if arr.ndim == 2 else arr.permute(2, 0, 1).contiguous()), label, OK

    def _open(self, path: str):
        """The decoded image in ``self.mode``, or ``(None, problem)``; sizes are checked before decoding."""
        import warnings

        from PIL import Image

        try:
            with warnings.catch_warnings():  # our own sentence says it, once, for the whole batch
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                img = Image.open(path)
            with img:
                problem = self._size_problem(img.width, img.height)
                if problem:
                    return None, problem
                if img.mode in ("I", "F") or img.mode.startswith("I;16"):
                    return _eight_bit(img, self.mode)
                return img.convert(self.mode), OK  # decodes the whole file: truncation shows here
        except FileNotFoundError:
            return None, MISSING
        except Image.DecompressionBombError:
            return None, BOMB
        except (OSError, ValueError, SyntaxError):
            return None, CORRUPT

    def _size_problem(self, width: int, height: int) -> int:
        from PIL import Image

        limit = Image.MAX_IMAGE_PIXELS
        if limit and width * height > limit:
            return BOMB
        if self.random_crop:  # a crop of the image, resized to size×size: decoding is the cost
            return OK
        side = self.res.shorter_side
        return OVER_BUDGET if side * side * max(width, height) / max(1, min(width, height)) > PIXEL_BUDGET else OK


    def _resample(self):
        from PIL import Image

        return getattr(Image.Resampling, self.res.interpolation.upper())

    def _random_view(self, img, rng: random.Random):
        from PIL import Image

        box = resized_crop_box(img.width, img.height, rng)
        img = img.resize((self.res.size, self.res.size), self._resample(), box=box)
        return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else img

    def _eval_view(self, img):
        # torchvision's Resize(shorter side) then CenterCrop, with its rounding.
        w, h, side, size = img.width, img.height, self.res.shorter_side, self.res.size
        new = (side, int(side * h / w)) if w <= h else (int(side * w / h), side)
        if new != (w, h):
            img = img.resize(new, self._resample())
        left, top = int(round((new[0] - size) / 2.0)), int(round((new[1] - size) / 2.0))
        return img.crop((left, top, left + size, top + size))


def _eight_bit(img, mode: str):
    """A 16-bit image at 8 bits by its high byte (as torchvision converts uint16 to uint8); other
    integer or float pixels have no one 8-bit reading and are refused."""
    from PIL import Image

    sixteen = img.mode.startswith("I;16") or (img.mode == "I" and img.format == "PNG")
    if not sixteen:
        return None, PIXEL_FORMAT
    arr = np.asarray(img).astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() > 65535):
        return None, PIXEL_FORMAT
    return Image.fromarray((arr >> 8).astype(np.uint8), mode="L").convert(mode), OK


def _die_with_parent(parent: int, _worker_id: int) -> None:
    """Make this decoding worker die when the process that started it dies (Linux), even mid-decode."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the call above took effect
        os._exit(1)


def _problem_sentence(problem: int, paths: list[str], res: Resolution) -> str:
    """One sentence naming the files a batch could not read and why."""
    from PIL import Image

    files = f"image file{'s' if len(paths) > 1 else ''} {', '.join(paths)}"
    if problem == MISSING:
        return f"the {files} {'are' if len(paths) > 1 else 'is'} missing (listed, but not on disk); restore it or the folder"
    if problem == BOMB:
        return (f"the {files} declares more pixels than Pillow's decompression-bomb limit of "
                f"{Image.MAX_IMAGE_PIXELS:,}; shrink it or remove it (refused as a possible decompression bomb)")
    if problem == OVER_BUDGET:
        return (f"the {files} has so extreme a shape that resizing its shorter side to {res.shorter_side} pixels "
                f"would take more than {PIXEL_BUDGET:,} pixels; crop or remove it")
    if problem == PIXEL_FORMAT:
        return f"the {files} holds 32-bit integer or floating-point pixels, which have no 8-bit reading; convert it to 8 or 16 bits"
    return f"cannot decode the {files} (corrupt or truncated); remove or replace it"


@dataclass
class FolderSplit:
    """A split read from image files on demand, at ``size``×``size`` (see the module docstring).

    ``root`` is scanned like torchvision's ``ImageFolder`` (one sub-folder per class)
    unless ``samples`` (``(path, label)`` pairs) and ``class_names`` are given.
    """

    root: Path
    size: int
    workers: int = 2
    resize: int | None = None
    interpolation: str = "bilinear"
    channels: int = 3
    random_crop: bool = False
    samples: list[tuple[str, int]] | None = field(default=None, repr=False)
    class_names: list[str] | None = None

    def __post_init__(self):
        self.resolution = Resolution(self.size, self.resize, self.interpolation)
        if not 0 <= self.workers <= MAX_WORKERS:
            raise UserError(f"--workers must be between 0 and {MAX_WORKERS}, not {self.workers}")
        if self.samples is None:
            self.class_names, self.samples = _scan(Path(self.root))

    @property
    def classes(self) -> list[str]:
        return list(self.class_names)

    @property
    def labels(self) -> torch.Tensor:
        return torch.tensor([label for _, label in self.samples], dtype=torch.long)

    def __len__(self) -> int:
        return len(self.samples)

    def subset(self, keep: torch.Tensor) -> "FolderSplit":
        """The same split with only the images at positions ``keep``."""
        import dataclasses

        return dataclasses.replace(self, samples=[self.samples[i] for i in keep.tolist()])

    def batches(self, batch_size, *, shuffle=False, generator=None, drop_last=False,
                indices=None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(images, labels)`` uint8 batches of one pass, decoded by ``workers`` processes.

        The order comes from ``generator``; random crops from its seed and each image's
        position, so the batches do not depend on the number of workers.
        """
        order = torch.arange(len(self)) if indices is None else torch.as_tensor(indices)
        if shuffle:
            order = order[torch.randperm(len(order), generator=generator)]
        decoded = _Decoded(self, order, generator.initial_seed() if generator is not None else 0)
        loader = torch.utils.data.DataLoader(
            decoded, batch_size=batch_size, shuffle=False, drop_last=drop_last, num_workers=self.workers,
            pin_memory=torch.cuda.is_available(), prefetch_factor=4 if self.workers else None,
            worker_init_fn=functools.partial(_die_with_parent, os.getpid()) if self.workers else None)
        start = 0
        for x, y, problem in loader:
            if problem.any():
                first = int(problem[problem > 0][0])
                where = (start + torch.nonzero(problem == first).flatten()[:3]).tolist()
                bad = [self.samples[decoded.order[i]][0] for i in where]
                raise UserError(_problem_sentence(first, bad, self.resolution))
            start += len(y)
            yield x, y


def _scan(root: Path) -> tuple[list[str], list[tuple[str, int]]]:
    """``ImageFolder``'s listing: sorted class folders, and every image file under each."""
    if not root.is_dir():
        raise UserError(f"image folder {root} does not exist")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise UserError(f"{root} is not an image folder: it needs one sub-folder of images per class")
    samples = []
    for label, name in enumerate(classes):
        files = sorted(p for p in (root / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise UserError(f"the class folder {root / name} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
        samples += [(str(p), label) for p in files]
    return classes, samples


def _layout_text(path: Path, root: Path, layout: str) -> str:
    """The text of one of Tiny ImageNet's listing files, or one sentence on why it cannot be read."""
    if not path.is_file():
        what = "a folder" if path.is_dir() else "not a regular file"
        raise UserError(f"{root} is not Tiny ImageNet: {path} is {what}, not a text file ({layout})")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a text file (not UTF-8); Tiny ImageNet lists its classes as plain text "
                        f"({layout})") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None


def tinyimagenet_samples(root: Path) -> tuple[list[str], list[tuple[str, int]], list[tuple[str, int]]]:
    """Tiny ImageNet's classes (sorted wnids), training and validation samples, from its own layout."""
    wnids_file, annotations = root / "wnids.txt", root / "val" / "val_annotations.txt"
    layout = "expected tiny-imagenet-200/ with wnids.txt, train/<wnid>/images/ and val/val_annotations.txt"
    for needed in (wnids_file, root / "train", annotations):
        if not needed.exists():
            raise UserError(f"{root} is not Tiny ImageNet: {needed} is missing ({layout})")
    if not (root / "train").is_dir():
        raise UserError(f"{root} is not Tiny ImageNet: {root / 'train'} is a file, not a folder ({layout})")
    classes = sorted(set(_layout_text(wnids_file, root, layout).split()))
    if not classes:
        raise UserError(f"{wnids_file} names no class; it should list one wnid per line ({layout})")
    index = {wnid: i for i, wnid in enumerate(classes)}
    train = [(str(p), index[w]) for w in classes
             for p in sorted((root / "train" / w / "images").glob("*")) if p.suffix.lower() in IMAGE_SUFFIXES]
    val = []
    for line in _layout_text(annotations, root, layout).splitlines():
        parts = line.split("\t")
        if len(parts) < 2 or parts[1] not in index:
            raise UserError(f"{annotations} has a line that names no class of wnids.txt: {line[:80]!r}")
        val.append((str(root / "val" / "images" / parts[0]), index[parts[1]]))
    if not train:
        raise UserError(f"{root / 'train'} holds no images under <wnid>/images/")
    return classes, train, val
