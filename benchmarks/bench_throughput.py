"""Throughput of ``dastat score`` against a bare ``torch.inference_mode()`` forward loop.

Both sides use the same teacher, device and batch size and run back to back in one
process, so the ratio is measured side by side:

* bare  — the teacher forwarded on preloaded, already-float tensors, nothing else;
* score — ``dastat.score`` end to end: batching, the base view, the DA, both forwards,
  softmax and every statistic (T. stddev, entropy, cross-entropy (co)variances,
  affinity, KL, order violations). Its throughput counts the teacher forwards it made.

    python benchmarks/bench_throughput.py [--da cutmix] [--images 16384] [--threads 2]

Target: score / bare ≥ 0.85.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

import dastat
from dastat.data import load_data
from dastat.distributed import resolve_device


def bare_loop(teacher, x: torch.Tensor, batch_size: int) -> float:
    """Forwards per second of the teacher alone on preloaded float tensors."""
    with torch.inference_mode():
        teacher(x[:batch_size])  # warm-up
        start = time.perf_counter()
        for i in range(0, x.shape[0] - batch_size + 1, batch_size):
            teacher(x[i : i + batch_size])
        return (x.shape[0] // batch_size) * batch_size / (time.perf_counter() - start)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--da", default="cutmix")
    p.add_argument("--images", type=int, default=16384, help="training images the score run uses")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--repeats", type=int, default=2, help="alternate bare/score runs this many times; best of each")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    data = load_data()
    teacher = dastat.load_teacher(None, data=data).to(device)
    x = data.train.images[: 2 * args.images].to(device).float().div(255)

    bare, scored = [], []
    for _ in range(args.repeats):
        bare.append(bare_loop(teacher, x, args.batch_size))
        start = time.perf_counter()
        result = dastat.score(args.da, teacher, data, max_images=args.images, precision=1e-9,
                              batch_size=args.batch_size, device=device)
        scored.append(result.n_forward / (time.perf_counter() - start))
    b, s = max(bare), max(scored)
    print(f"device {device}, {torch.get_num_threads()} threads, batch {args.batch_size}, DA {args.da}, "
          f"{args.images} images per score run, best of {args.repeats}")
    print(f"bare inference_mode loop : {b:9.0f} forwards/s")
    print(f"dastat score             : {s:9.0f} forwards/s")
    print(f"ratio score / bare       : {s / b:9.3f}   (target ≥ 0.85)")
    return 0 if s / b >= 0.85 else 1


if __name__ == "__main__":
    sys.exit(main())
