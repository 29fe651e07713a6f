"""Streaming image folders: ``dastat score`` throughput and peak memory on a folder of JPEGs.

It writes its own folder (``--images`` JPEGs, and a copy with ×10 as many), then prints,
side by side in one run:

* throughput — ``dastat.score`` on the folder (decoded by DataLoader workers, random
  resized crop + flip per image) against a bare ``inference_mode`` forward loop of the
  same teacher on preloaded float tensors at the same resolution; both count teacher
  forwards per second. Target: score / bare ≥ 0.9.
* memory — the peak resident memory (VmHWM) of a fresh process that scores the same
  number of images from the folder and from the ×10 folder (its largest decoding worker
  shown too). Target: within 10%, i.e. memory does not grow with the folder.

    python benchmarks/bench_folder.py [--images 2000] [--size 64] [--arch resnet20] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import dastat
from dastat import models
from dastat.data import DataOptions
from dastat.setting import resolve_teacher_and_data

CLASSES = 10


def write_folder(root: Path, n: int, source: int, seed: int = 0) -> Path:
    """``n`` random-texture JPEGs of ``source``×``source`` px in ``CLASSES`` class folders."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        folder = root / "train" / f"c{i % CLASSES}"
        folder.mkdir(parents=True, exist_ok=True)
        low = rng.integers(0, 256, size=(source // 8, source // 8, 3), dtype=np.uint8)
        Image.fromarray(low).resize((source, source), Image.Resampling.BILINEAR).save(folder / f"{i}.jpg", quality=90)
    return root


def write_teacher(path: Path, arch: str) -> Path:
    torch.manual_seed(0)
    torch.save({"model": models.create_model(arch, num_classes=CLASSES).state_dict(),
                "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}, path)
    return path


def bare_loop(teacher, x: torch.Tensor, batch_size: int) -> float:
    """Forwards per second of the teacher alone on preloaded float tensors."""
    with torch.inference_mode():
        teacher(x[:batch_size])
        start = time.perf_counter()
        for i in range(0, x.shape[0] - batch_size + 1, batch_size):
            teacher(x[i : i + batch_size])
        return (x.shape[0] // batch_size) * batch_size / (time.perf_counter() - start)


def score_rate(teacher, data, args) -> float:
    start = time.perf_counter()
    result = dastat.score(args.da, teacher, data, max_images=args.score_images, precision=1e-9,
                          batch_size=args.batch_size, device="cpu")
    return result.n_forward / (time.perf_counter() - start)


def peak_memory_child(args) -> int:
    """Run in a fresh process: score ``--score-images`` from the folder, print peak RSS (kB) as JSON."""
    torch.set_num_threads(args.threads)
    teacher, data = resolve_teacher_and_data(args.teacher, f"imagefolder:{args.folder},size={args.size}",
                                             options=DataOptions(workers=args.workers), announce=False)
    dastat.score(args.da, teacher, data, max_images=args.score_images, batch_size=args.batch_size, device="cpu")
    status = Path("/proc/self/status").read_text()
    hwm = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"main_kb": hwm, "worker_kb": worker, "images": len(data.train)}))
    return 0


def measure_memory(folder: Path, args) -> dict:
    cmd = [sys.executable, __file__, "--child", "--folder", str(folder), "--teacher", str(args.teacher),
           "--size", str(args.size), "--da", args.da, "--score-images", str(args.score_images),
           "--batch-size", str(args.batch_size), "--threads", str(args.threads), "--workers", str(args.workers)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ).stdout
    return json.loads(out.strip().splitlines()[-1])


def throughput(folder: Path, args) -> tuple[float, float]:
    teacher, data = resolve_teacher_and_data(args.teacher, f"imagefolder:{folder},size={args.size}",
                                             options=DataOptions(workers=args.workers), announce=False)
    x = torch.rand(2 * args.score_images, 3, args.size, args.size)
    bare, scored = [], []
    for _ in range(args.repeats):
        bare.append(bare_loop(teacher, x, args.batch_size))
        scored.append(score_rate(teacher, data, args))
    return max(bare), max(scored)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=2000, help="JPEGs in the folder (the ×10 folder has ten times more)")
    p.add_argument("--source", type=int, default=80, help="side of the JPEGs on disk")
    p.add_argument("--size", type=int, default=64, help="resolution the teacher sees")
    p.add_argument("--arch", default="resnet20", help="zoo architecture of the (random) teacher")
    p.add_argument("--da", default="cutmix")
    p.add_argument("--score-images", type=int, default=2000, help="training images per score run")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2, help="alternate bare/score runs; best of each")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--teacher", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return peak_memory_child(args)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        args.teacher = write_teacher(tmp / "teacher.pth", args.arch)
        small = write_folder(tmp / "small", args.images, args.source)
        large = write_folder(tmp / "large", 10 * args.images, args.source, seed=1)
        b, s = throughput(small, args)
        mem_small, mem_large = measure_memory(small, args), measure_memory(large, args)
    ratio, growth = s / b, mem_large["main_kb"] / mem_small["main_kb"]
    print(f"{os.cpu_count()} CPUs, {args.threads} threads, {args.workers} workers, {args.arch} at {args.size} px, "
          f"batch {args.batch_size}, DA {args.da}, {args.score_images} images per score run, best of {args.repeats}")
    print(f"bare inference_mode loop (preloaded) : {b:9.0f} forwards/s")
    print(f"dastat score on the JPEG folder      : {s:9.0f} forwards/s")
    print(f"ratio score / bare                   : {ratio:9.3f}   (target ≥ 0.9)")
    for label, mem in ((f"{args.images:,} images", mem_small), (f"{10 * args.images:,} images", mem_large)):
        print(f"peak RSS, folder of {label:>14}: {mem['main_kb'] / 1024:7.1f} MiB (largest worker "
              f"{mem['worker_kb'] / 1024:.1f} MiB)")
    print(f"ratio ×10 folder / folder            : {growth:9.3f}   (target ≤ 1.10)")
    return 0 if ratio >= 0.9 and growth <= 1.10 else 1


if __name__ == "__main__":
    sys.exit(main())
