"""Train the bundled Fashion-MNIST teacher and write it, with its manifest, into dastat/zoo/.

The teacher is a CIFAR-style resnet20 taking Fashion-MNIST images as they are
(N×1×28×28 floats in [0, 1]); normalisation is stored in the manifest (and in the
safetensors metadata, so the file also loads on its own with ``--teacher FILE``) and
applied by :class:`dastat.teacher.Teacher`. Training is seeded, so anyone can rerun it:

    python scripts/train_teacher.py --epochs 15 --seed 0

``--arch`` trains another zoo architecture the same way (``--out`` elsewhere than the
package: only the resnet20 is bundled), e.g. the second teacher of the strength sweep's
out-of-sample check:

    python scripts/train_teacher.py --arch vgg8 --epochs 5 --out benchmarks/results/strengths_oos/teacher

Plain cross-entropy on the paper's base view (random crop with padding 4, flip),
SGD with Nesterov momentum and a cosine schedule after one warm-up epoch.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dastat.augment.functional import base_view, to_float  # noqa: E402
from dastat.data import load_data  # noqa: E402
from dastat.models import create_model  # noqa: E402


def evaluate(model, split, mean, std, batch_size=500):
    model.eval()
    correct, loss, n = 0, 0.0, 0
    with torch.inference_mode():
        for x, y in split.batches(batch_size):
            logits = model((to_float(x) - mean) / std)
            loss += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
            n += len(y)
    return correct / n, loss / n


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="resnet20", help="any zoo architecture (default: resnet20, the bundled one)")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-steps", type=int, default=None, help="stop each epoch after this many steps (smoke tests)")
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "dastat" / "zoo"))
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    data = load_data("fashion-mnist")
    mean = torch.tensor(data.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.std).view(1, -1, 1, 1)
    model = create_model(args.arch, num_classes=data.num_classes, in_channels=data.channels)
    name = f"fashion_mnist_{args.arch}"
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0}],
                          lr=args.lr, momentum=0.9, nesterov=True)
    steps_per_epoch = math.ceil(len(data.train) / args.batch_size)
    total = args.epochs * steps_per_epoch

    def lr_at(step):
        if step < steps_per_epoch:
            return args.lr * (step + 1) / steps_per_epoch
        t = (step - steps_per_epoch) / max(1, total - steps_per_epoch)
        return 0.5 * args.lr * (1 + math.cos(math.pi * t))

    gen = torch.Generator().manual_seed(args.seed)
    step, start = 0, time.time()
    for epoch in range(args.epochs):
        model.train()
        running, seen = 0.0, 0
        for x, y in data.train.batches(args.batch_size, shuffle=True, generator=gen):
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            x = (to_float(base_view(x, gen)) - mean) / std
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running += loss.item() * len(y)
            seen += len(y)
            step += 1
            if args.max_steps is not None and seen >= args.max_steps * args.batch_size:
                break
        acc, test_loss = evaluate(model, data.test, mean, std)
        print(f"epoch {epoch + 1}/{args.epochs}  train loss {running / seen:.4f}  test loss {test_loss:.4f}  "
              f"test top-1 {100 * acc:.2f}%  ({time.time() - start:.0f} s)", flush=True)

    from safetensors.torch import save_file

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"{name}.safetensors"
    tmp = weights.with_suffix(".tmp")
    metadata = {"arch": args.arch, "dataset": "fashion-mnist", "num_classes": str(data.num_classes),
                "mean": json.dumps(list(data.mean)), "std": json.dumps(list(data.std))}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp), metadata=metadata)
    os.replace(tmp, weights)
    manifest = {
        "name": name,
        "arch": args.arch,
        "dataset": "fashion-mnist",
        "num_classes": data.num_classes,
        "in_channels": data.channels,
        "image_size": data.image_size,
        "mean": list(data.mean),
        "std": list(data.std),
        "test_top1": round(100 * acc, 2),
        "test_loss": round(test_loss, 4),
        "epochs": args.epochs,
        "seed": args.seed,
        "train_seconds": round(time.time() - start),
        "command": "python scripts/train_teacher.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "torch": torch.__version__,
        "file": weights.name,
        "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
    }
    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps({name: manifest}, indent=2) + "\n")
    os.replace(tmp, out / "manifest.json")
    print(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main()
