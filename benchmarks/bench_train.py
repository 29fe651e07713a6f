"""Training throughput of ``dastat train`` against two baselines, measured side by side.

(a) ``loop``: a KD loop written the way the CRD/RepDistiller code does it — per-image PIL
    transforms (RandomCrop with padding, flip, ToTensor, Normalize) in a DataLoader with
    workers, the DA applied per batch, the teacher and the student forwarded on each
    view separately. Target: dastat ≥ 1.5× its images/s.
(b) ``bare``: the same forward/backward passes as dastat (teacher and student on both
    views, the KD loss, an SGD step) on two preloaded tensors: the cost of the compute
    alone. Target: dastat ≥ 0.8× its images/s.

Same teacher (the bundled resnet20, or a resnet20 of the same shape when the zoo has no
weights yet: throughput does not depend on them), student (resnet8), DA (cutmix) and
batch size (64). Rounds alternate the three so that a machine's load drifts over all of
them alike; the medians are compared.

    python benchmarks/bench_train.py            # about a minute on 2 CPU cores
    python benchmarks/bench_train.py --device cuda --steps 200
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dastat import models  # noqa: E402
from dastat.augment import create  # noqa: E402
from dastat.data import load_data  # noqa: E402
from dastat.errors import UserError  # noqa: E402
from dastat.kd import distillation_loss, train  # noqa: E402
from dastat.teacher import Teacher, load_teacher  # noqa: E402


def get_teacher(data, device) -> Teacher:
    try:
        return load_teacher(None, data=data, device=device)
    except UserError:
        net = models.create_model("resnet20", num_classes=data.num_classes, in_channels=data.channels)
        return Teacher(net, data.mean, data.std, num_classes=data.num_classes, in_channels=data.channels,
                       arch="resnet20", source="fresh resnet20").to(device)


def bench_dastat(teacher, data, args) -> float:
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        result = train(Path(tmp) / "run", teacher=teacher, data=data, student="resnet8", da=args.da, recipe="paper",
                       batch_size=args.batch_size, max_steps=args.steps, subset=args.steps * args.batch_size,
                       test_subset=args.batch_size, device=args.device, progress=False, seed=0)
    return result.final["images_per_s"]


class _PILDataset(torch.utils.data.Dataset):
    """The in-memory images served one PIL image at a time, as torchvision's datasets do."""

    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images.numpy(), labels, transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image

        img = self.images[i]
        img = Image.fromarray(img[0]) if img.shape[0] == 1 else Image.fromarray(img.transpose(1, 2, 0))
        return self.transform(img), int(self.labels[i])


def bench_loop(teacher, data, args) -> float:
    from torchvision import transforms

    device = torch.device(args.device)
    pad = max(1, round(data.image_size / 8))
    transform = transforms.Compose([transforms.RandomCrop(data.image_size, padding=pad),
                                    transforms.RandomHorizontalFlip(), transforms.ToTensor(),
                                    transforms.Normalize(data.mean, data.std)])
    n = (args.steps + args.warmup) * args.batch_size
    loader = torch.utils.data.DataLoader(_PILDataset(data.train.images[:n], data.train.labels[:n], transform),
                                         batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
                                         drop_last=True, pin_memory=device.type == "cuda")
    aug = create(args.da, data.augment_context(teacher=teacher))
    t_net = teacher.model
    student = models.create_model("resnet8", num_classes=data.num_classes, in_channels=data.channels).to(device).train()
    opt = torch.optim.SGD(student.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    g = torch.Generator(device=device).manual_seed(0)
    start, seen = None, 0
    for i, (x, y) in enumerate(loader):
        if i == args.warmup:
            _sync(device)
            start = time.perf_counter()
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        x_aug = aug(x, y, generator=g).x
        with torch.no_grad():
            t, t_aug = t_net(x), t_net(x_aug)
        s, s_aug = student(x), student(x_aug)
        loss = distillation_loss(s, s_aug, t, t_aug, y).total
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if start is not None:
            seen += len(y)
    _sync(device)
    return seen / (time.perf_counter() - start)


def bench_bare(teacher, data, args) -> float:
    device = torch.device(args.device)
    b, n_steps = args.batch_size, args.warmup + args.steps
    mean = torch.tensor(data.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(data.std, device=device).view(1, -1, 1, 1)
    # Distinct batches, preloaded and normalised: repeating one batch would let the student
    # memorise it, and the tiny gradients that follow run slowly (denormals) on CPUs.
    images = data.train.images[: 2 * b * n_steps].to(device).float().div_(255).sub_(mean).div_(std)
    views, labels = images.view(n_steps, 2 * b, *images.shape[1:]), data.train.labels[: 2 * b * n_steps:2].to(device)
    t_net = teacher.model
    student = models.create_model("resnet8", num_classes=data.num_classes, in_channels=data.channels).to(device).train()
    opt = torch.optim.SGD(student.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    for i in range(n_steps):
        if i == args.warmup:
            _sync(device)
            start = time.perf_counter()
        both, y = views[i], labels[i * b : (i + 1) * b]
        with torch.no_grad():  # the passes dastat makes: see dastat.kd.engine.train_step
            t, t_aug = t_net(both).split(b) if device.type == "cuda" else (t_net(both[:b]), t_net(both[b:]))
        s, s_aug = student(both[:b]), student(both[b:])
        loss = distillation_loss(s, s_aug, t, t_aug, y).total
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    _sync(device)
    return args.steps * b / (time.perf_counter() - start)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30, help="timed steps per measurement")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before each baseline measurement")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers of the baseline loop")
    p.add_argument("--da", default="cutmix")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    data = load_data("fashion-mnist")
    teacher = get_teacher(data, args.device)
    print(f"teacher {teacher.arch} ({teacher.source}), student resnet8, DA {args.da}, batch {args.batch_size}, "
          f"device {args.device}, {torch.get_num_threads()} threads, loop workers {args.workers}")
    results = {"dastat": [], "loop": [], "bare": []}
    runners = {"dastat": bench_dastat, "loop": bench_loop, "bare": bench_bare}
    # One short untimed pass of each first: the first calls pay for kernel selection and
    # allocator growth, which would otherwise fall on whichever runs first.
    short = argparse.Namespace(**{**vars(args), "steps": 3, "warmup": 1})
    for fn in runners.values():
        fn(teacher, data, short)
    for r in range(args.rounds):
        for name, fn in runners.items():
            results[name].append(fn(teacher, data, args))
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.0f} img/s" for k, v in results.items()), flush=True)
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"\nmedian images/s: dastat {med['dastat']:.0f}, CRD-style loop {med['loop']:.0f}, bare compute {med['bare']:.0f}")
    print(f"dastat / CRD-style loop = {med['dastat'] / med['loop']:.2f}x (target >= 1.5x)")
    print(f"dastat / bare compute   = {med['dastat'] / med['bare']:.2f}x (target >= 0.8x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
