"""Batched DAs against torchvision applied image by image in a Python loop.

For a 64-image batch of the bundled data (Fashion-MNIST, uint8 1×28×28), each
built-in with per-image draws is timed beside the equivalent torchvision transform
called once per image, in the same run, and the speed ratio is printed with its
target (≥ 5× for flip, crop, cutout, mixup and cutmix; ≥ 2× for the policies).

    python benchmarks/bench_augment.py [--device cpu|cuda] [--threads 1] [--repeats 30]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from dastat.augment import create
from dastat.augment import functional as AF


def _time(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Median seconds of ``fn`` over ``repeats`` runs, after two warm-up runs."""
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _loop(transform: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: torch.stack([transform(img) for img in x])


def _loop_cutout(x: torch.Tensor, size: int = 7) -> torch.Tensor:
    out = []
    h, w = x.shape[-2:]
    for img in x:
        cy, cx = int(torch.randint(h, ())), int(torch.randint(w, ()))
        top, left = max(cy - size // 2, 0), max(cx - size // 2, 0)
        bottom, right = min(cy + size // 2, h), min(cx + size // 2, w)
        out.append(TF.erase(img, top, left, bottom - top, right - left, torch.tensor(73, dtype=img.dtype)))
    return torch.stack(out)


_BETA = torch.distributions.Beta(torch.tensor(1.0), torch.tensor(1.0))


def _loop_mixup(x: torch.Tensor) -> torch.Tensor:
    perm = torch.randperm(x.shape[0])
    out = []
    for i, img in enumerate(x):
        lam = float(_BETA.sample())
        out.append((lam * img.float() + (1 - lam) * x[perm[i]].float()).round().to(x.dtype))
    return torch.stack(out)


def _loop_cutmix(x: torch.Tensor) -> torch.Tensor:
    perm = torch.randperm(x.shape[0])
    h, w = x.shape[-2:]
    out = []
    for i, img in enumerate(x):
        lam = float(_BETA.sample())
        r = (1 - lam) ** 0.5
        ch, cw = int(h * r), int(w * r)
        cy, cx = int(torch.randint(h, ())), int(torch.randint(w, ()))
        top, bottom = max(cy - ch // 2, 0), min(cy + ch // 2, h)
        left, right = max(cx - cw // 2, 0), min(cx + cw // 2, w)
        view = img.clone()
        view[:, top:bottom, left:right] = x[perm[i], :, top:bottom, left:right]
        out.append(view)
    return torch.stack(out)


def cases(context) -> list[tuple[str, Callable, Callable, float]]:
    """(name, batched function, image-by-image torchvision loop, target ratio)."""

    def da(spec):
        aug = create(spec, context)
        return lambda x, g: aug(x, generator=g).x

    return [
        ("flip (per image coin)", lambda x, g: AF.random_hflip(x, g, per_sample=True), _loop(v2.RandomHorizontalFlip()), 5),
        ("crop (padding 4)", lambda x, g: AF.random_crop(x, 4, g, per_sample=True), _loop(v2.RandomCrop(28, padding=4)), 5),
        ("crop_flip(per_sample=True)", da("crop_flip(per_sample=True)"),
         _loop(v2.Compose([v2.RandomCrop(28, padding=4), v2.RandomHorizontalFlip()])), 5),
        ("cutout(per_sample=True)", da("cutout(per_sample=True)"), _loop_cutout, 5),
        ("mixup(per_sample=True)", da("mixup(per_sample=True)"), _loop_mixup, 5),
        ("cutmix(per_sample=True)", da("cutmix(per_sample=True)"), _loop_cutmix, 5),
        ("autoaugment(per_sample=True)", da("autoaugment(per_sample=True)"),
         _loop(v2.AutoAugment(v2.AutoAugmentPolicy.CIFAR10)), 2),
        ("randaugment(2, 9, per_sample=True)", da("randaugment(num_ops=2,magnitude=9,per_sample=True)"),
         _loop(v2.RandAugment(num_ops=2, magnitude=9)), 2),
        ("trivialaugment(per_sample=True)", da("trivialaugment(per_sample=True)"), _loop(v2.TrivialAugmentWide()), 2),
        ("augmix(per_sample=True)", da("augmix(per_sample=True)"), _loop(v2.AugMix()), None),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    from dastat.data import load_data

    data = load_data("fashion-mnist")
    x = data.train.images[: args.batch].to(device)
    context = data.augment_context()
    g = torch.Generator(device=device).manual_seed(0)

    print(f"{args.batch} Fashion-MNIST images {tuple(x.shape[1:])} uint8 on {device}, {args.threads} thread(s), "
          f"median of {args.repeats}")
    print(f"{'DA':<36}{'batched ms':>12}{'loop ms':>10}{'speed-up':>10}{'target':>8}")
    failed = 0
    for name, batched, loop, target in cases(context):
        t_batched = _time(lambda: batched(x, g), args.repeats, device)
        t_loop = _time(lambda: loop(x), args.repeats, device)
        ratio = t_loop / t_batched
        verdict = "" if target is None else (f"≥{target}×" + (" ok" if ratio >= target else " MISSED"))
        failed += target is not None and ratio < target
        print(f"{name:<36}{t_batched * 1e3:>12.3f}{t_loop * 1e3:>10.3f}{ratio:>9.1f}×{verdict:>11}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
