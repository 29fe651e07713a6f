"""The KD trainer that checks a ranking: train a student with a given DA, log, checkpoint.

One step, on a batch of uint8 images already on the device::

    x  = base_view(batch)                 # the training loader's crop + flip, batched
    v  = DA(x)                            # the view; pick DAs also return teacher logits
    t  = teacher(x), teacher(v)           # no grad; skipped for v when the DA has them
    s  = student(x), student(v)           # one call per view (BatchNorm statistics per view)
    loss = gamma·CE(s_x, y) + alpha·[KL_T(t_x‖s_x) + KL_T(t_v‖s_v)]

Data stay in memory as uint8 and every transform is a batched tensor op, so no
DataLoader workers are needed; the student owns its normalisation (like a
:class:`~dastat.teacher.Teacher`), so its checkpoints load back as teachers.

A run directory holds ``config.json`` (the resolved config and the command line),
``metrics.csv`` / ``metrics.jsonl`` (one row per epoch), ``checkpoint.pt`` (everything
needed to resume, replaced atomically after every epoch), ``student_best.pth`` and
``student_final.pth`` (RepDistiller-style ``{'model', 'epoch', 'accuracy', 'arch',
'mean', 'std'}``) and ``tensorboard/`` when tensorboard is installed.

Under ``torchrun`` each process trains on its share of every epoch (a
``DistributedSampler``), gradients are averaged by DDP, and only rank 0 logs and writes.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import shlex
import signal
import sys
import time
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
import torch.distributed as dist
from torch import nn

from .. import models
from ..augment import AugmentContext, Augmentation, create as create_augmentation
from ..augment.functional import to_float
from ..data import ImageData
from ..distributed import init_from_env, process_group, resolve_device
from ..errors import UserError
from ..io import atomic_torch_save, atomic_write_text
from ..seeding import stable_seed
from ..teacher import Teacher, load_teacher, resolve_teacher_and_data
from .loss import distillation_loss
from .recipes import FIELDS, TrainConfig, differences, lr_factor, resolve_config

CHECKPOINT = "checkpoint.pt"
METRIC_COLUMNS = (
    "epoch", "steps", "lr", "train_loss", "train_ce", "train_kl_orig", "train_kl_view",
    "test_loss", "test_top1", "test_top5", "images_per_s", "train_images", "distinct_images",
    "epoch_seconds",
)


class TrainingDiverged(RuntimeError):
    """The loss stopped being finite; the last good checkpoint is kept."""


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT arrived; the run was saved where it stopped and can be resumed."""


@dataclass
class TrainResult:
    """What a finished run reports; the same facts are in its run directory."""

    run_dir: Path
    history: list[dict[str, Any]]
    best_top1: float
    best_epoch: int
    seconds: float
    is_main: bool = True  # rank 0 (the process that wrote the run folder)

    @property
    def final(self) -> dict[str, Any]:
        return self.history[-1]


class Student(nn.Module):
    """A trainable network that, like a Teacher, takes [0, 1] floats or uint8 and normalises itself."""

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float], *, channels_last: bool = False):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.channels_last = channels_last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float().div_(255) if x.dtype == torch.uint8 else x
        x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model(x)


# --- small helpers ---------------------------------------------------------------------


def _check_writable(folder: Path) -> None:
    """Fail early, with one sentence, when ``folder`` cannot hold the run."""
    probe = folder
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"cannot write the run to {folder}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"cannot write the run to {folder}: {probe} is not writable; choose another --out")


def _amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    if mode == "auto":
        if device.type != "cuda":
            return None  # CPU autocast is slower than float32 on most CPUs
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[mode]


# --- building the pieces ----------------------------------------------------------------


def _build_student(cfg: TrainConfig, data: ImageData, teacher: Teacher) -> tuple[nn.Module, str]:
    """A fresh zoo network (seeded), or one initialised from a checkpoint file."""
    if Path(cfg.student).is_file():
        loaded = load_teacher(cfg.student, data=data)
        net, arch = loaded.model, loaded.arch or Path(cfg.student).stem
        for p in net.parameters():
            p.requires_grad_(True)
    else:
        net, arch = models.create(cfg.student, num_classes=data.num_classes, in_channels=data.channels), cfg.student
    classes = _num_outputs(net, data)
    if classes != teacher.num_classes:
        raise UserError(f"the student {arch} has {classes} classes but the teacher {teacher.source} has "
                        f"{teacher.num_classes}; they must predict the same classes")
    return net, arch


def _num_outputs(net: nn.Module, data: ImageData) -> int:
    with torch.no_grad():
        was = net.training
        out = net.eval()(torch.zeros(1, data.channels, data.image_size, data.image_size))
        net.train(was)
    return int(out.shape[-1])


def _train_indices(cfg: TrainConfig, n: int) -> torch.Tensor:
    if cfg.subset is None or cfg.subset >= n:
        return torch.arange(n)
    g = torch.Generator().manual_seed(stable_seed("subset", cfg.seed))
    return torch.randperm(n, generator=g)[: cfg.subset].sort().values


def _epoch_indices(train_indices: torch.Tensor, cfg: TrainConfig, epoch: int, rank: int, world: int) -> torch.Tensor:
    """This process's share of the epoch: DistributedSampler over the (subset) indices."""
    sampler = torch.utils.data.DistributedSampler(
        range(len(train_indices)), num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed, drop_last=False)
    sampler.set_epoch(epoch)
    return train_indices[torch.tensor(list(sampler), dtype=torch.long)]


# --- the run directory ------------------------------------------------------------------


class RunDir:
    """Writes the run's files; a no-op on ranks other than 0."""

    def __init__(self, path: Path, active: bool):
        self.path, self.active = path, active
        self._tb = None

    def prepare(self) -> None:
        if not self.active:
            return
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create the run folder {self.path}: {exc.strerror}") from None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is optional
            return
        self._tb = SummaryWriter(str(self.path / "tensorboard"))

    def write_config(self, cfg: TrainConfig, meta: dict[str, Any]) -> None:
        if self.active:
            atomic_write_text(self.path / "config.json",
                              json.dumps({"config": dataclasses.asdict(cfg), **meta}, indent=2) + "\n")

    def write_metrics(self, history: list[dict[str, Any]]) -> None:
        """Rewrite both metric files from the history, so a resumed run never duplicates a row."""
        if not self.active:
            return
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(history)
        atomic_write_text(self.path / "metrics.csv", buf.getvalue())
        atomic_write_text(self.path / "metrics.jsonl", "".join(json.dumps(row) + "\n" for row in history))
        if self._tb is not None and history:
            row = history[-1]
            for key in METRIC_COLUMNS[2:]:
                self._tb.add_scalar(key, row[key], row["epoch"])
            self._tb.flush()

    def save(self, name: str, obj: Any) -> None:
        if self.active:
            atomic_torch_save(obj, self.path / name)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def _read_run(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The stored config and the training checkpoint of ``run_dir``."""
    if not run_dir.is_dir():
        raise UserError(f"cannot resume {run_dir}: no such run folder")
    config_path, ckpt_path = run_dir / "config.json", run_dir / CHECKPOINT
    if not config_path.is_file() or not ckpt_path.is_file():
        raise UserError(f"cannot resume {run_dir}: it holds no {'config.json' if not config_path.is_file() else CHECKPOINT} "
                        "(the run stopped before its first checkpoint; start it again)")
    try:
        stored = json.loads(config_path.read_text())["config"]
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    except (OSError, ValueError, KeyError, RuntimeError, EOFError) as exc:
        raise UserError(f"cannot resume {run_dir}: its files are unreadable ({exc})") from None
    return stored, ckpt


# --- the loop ----------------------------------------------------------------------------


class _StopFlag:
    """SIGINT or SIGTERM (a scheduler's pre-emption notice) set a flag the loop polls between steps.

    The loop then saves where it stands and stops; a second SIGINT aborts at once.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.set = False
        self._previous: dict[int, Any] = {}

    def __enter__(self):
        import threading

        if threading.current_thread() is threading.main_thread():  # signals can only be caught there
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def _handle(self, signum, frame):
        if self.set and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.set = True
        print("\ndastat: stopping after this step and saving a checkpoint (Ctrl-C again to abort)",
              file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        return False


def _rng_states(device: torch.device) -> dict[str, Any]:
    states = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


def _set_rng_states(states: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(states["torch"])
    if device.type == "cuda" and "cuda" in states:
        torch.cuda.set_rng_state(states["cuda"], device)


@torch.no_grad()
def evaluate(
    student: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, device: torch.device,
    batch_size: int = 500, amp_dtype: torch.dtype | None = None,
) -> tuple[float, float, float]:
    """(cross-entropy, top-1 %, top-5 %) of ``student`` on uint8 ``images``; sharded under torchrun."""
    rank, world = process_group()
    was = student.training
    student.eval()
    sums = torch.zeros(4, dtype=torch.float64, device=device)  # loss, top-1, top-5, count
    shard = torch.arange(rank, len(labels), world)
    for start in range(0, len(shard), batch_size):
        idx = shard[start : start + batch_size]
        x, y = images[idx].to(device, non_blocking=True), labels[idx].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = student(x)
        logits = logits.float()
        top = logits.topk(min(5, logits.shape[-1]), dim=-1).indices
        hits = top == y[:, None]
        sums += torch.stack([
            nn.functional.cross_entropy(logits, y, reduction="sum").double(),
            hits[:, 0].sum().double(), hits.any(1).sum().double(), torch.tensor(len(y), device=device).double()])
    if world > 1:
        dist.all_reduce(sums)
    student.train(was)
    loss, top1, top5, n = sums.tolist()
    return loss / n, 100 * top1 / n, 100 * top5 / n


def train(
    out: str | os.PathLike | None = None,
    *,
    resume: str | os.PathLike | None = None,
    recipe: str | None = None,
    teacher: Teacher | str | None = None,
    data: ImageData | str | None = None,
    da: str | Augmentation | None = None,
    device: str | torch.device | None = "auto",
    compile: bool = False,
    progress: bool = True,
    command: Sequence[str] | None = None,
    **options: Any,
) -> TrainResult:
    """Distil a teacher into a student with a DA; returns the per-epoch history.

    ``options`` are the fields of :class:`~dastat.kd.recipes.TrainConfig` (``student``,
    ``epochs``, ``lr``, ``batch_size``, ``temperature``, ``alpha``, ``gamma``, ...),
    overriding the ``recipe``'s defaults. ``resume=RUN_DIR`` continues a stopped run
    (options, if given, must agree with the stored config). ``teacher``, ``data`` and
    ``da`` are specs (recorded in the config) or ready objects (a Teacher, an ImageData,
    an Augmentation), which a resumed run must be given again.

    Example (a smoke test on the bundled default)::

        from dastat.kd import train
        result = train("runs/smoke", student="resnet8", da="cutmix", recipe="quick", max_steps=20)
        print(result.final["test_top1"])
    """
    t_start = time.perf_counter()
    # Specs are config (recorded, resumable); objects are used as they are.
    if teacher is not None and not isinstance(teacher, nn.Module):
        options["teacher"], teacher = str(teacher), None
    if data is not None and not isinstance(data, ImageData):
        options["data"], data = str(data), None
    custom_da = da if isinstance(da, Augmentation) else None
    if custom_da is not None:
        options["da"] = custom_da.spec
    elif da is not None:
        options["da"] = da

    # 1. The config: new, or the stored one (which the given options must not contradict).
    if resume is not None:
        run_dir = Path(resume)
        stored, ckpt = _read_run(run_dir)
        wanted = dict(options, recipe=recipe)
        diff = differences(stored, wanted)
        if diff:
            raise UserError(f"{run_dir} was made with a different config ({'; '.join(diff)}); "
                            "resume it with its own options or start a new run with another --out")
        cfg = TrainConfig(**{k: v for k, v in stored.items() if k in FIELDS})
        if out is not None and Path(out).resolve() != run_dir.resolve():
            raise UserError("pass either --out for a new run or --resume RUN_DIR, not both")
    else:
        cfg = resolve_config(recipe, **options)
        run_dir = Path(out) if out is not None else Path("runs") / time.strftime(
            f"%Y%m%d-%H%M%S-{cfg.student}-{''.join(c if c.isalnum() else '_' for c in cfg.da)[:40]}")
        if (run_dir / CHECKPOINT).exists():
            raise UserError(f"{run_dir} already holds a run; continue it with --resume {run_dir} "
                            "or choose another --out")
        ckpt = None
    _check_writable(run_dir)

    # 2. Devices and processes.
    dev = resolve_device(device)
    with init_from_env(dev):
        return _run(cfg, run_dir, ckpt, dev, teacher=teacher, data=data, custom_da=custom_da, compile=compile,
                    progress=progress, command=command, t_start=t_start)


def _run(cfg: TrainConfig, run_dir: Path, ckpt: dict[str, Any] | None, device: torch.device, *,
         teacher: Teacher | None, data: ImageData | None, custom_da: Augmentation | None, compile: bool,
         progress: bool, command: Sequence[str] | None, t_start: float) -> TrainResult:
    rank, world = process_group()
    main = rank == 0

    # 3. Data, teacher, student, DA: the shared layers, nothing of our own.
    teacher, data = resolve_teacher_and_data(teacher if teacher is not None else cfg.teacher,
                                             data if data is not None else cfg.data, arch=cfg.arch, mean=cfg.mean,
                                             std=cfg.std, trust=cfg.trust_checkpoint, device=device)
    if data.test is None or not hasattr(data.train, "images"):
        raise UserError(f"dastat train needs a dataset held in memory with a test split; {data.name} is not")
    torch.manual_seed(cfg.seed)
    net, arch = _build_student(cfg, data, teacher)
    mean = [float(v) for v in teacher.mean.flatten().tolist()]
    std = [float(v) for v in teacher.std.flatten().tolist()]
    channels_last = cfg.channels_last if cfg.channels_last is not None else device.type == "cuda"
    student = Student(net, mean, std, channels_last=channels_last).to(device)
    if channels_last:
        student = student.to(memory_format=torch.channels_last)
        teacher = teacher.to(memory_format=torch.channels_last)
    context = AugmentContext.from_data(data, teacher=teacher, student=student)
    aug = custom_da if custom_da is not None else create_augmentation(cfg.da, context)

    amp_dtype = _amp_dtype(cfg.amp, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    forward_student: nn.Module = torch.compile(student) if compile else student
    forward_teacher: nn.Module = torch.compile(teacher) if compile else teacher
    if world > 1:
        forward_student = nn.parallel.DistributedDataParallel(
            forward_student, device_ids=[device.index] if device.type == "cuda" else None)

    train_indices = _train_indices(cfg, len(data.train))
    steps_per_epoch = len(_epoch_indices(train_indices, cfg, 0, rank, world)) // cfg.batch_size
    if steps_per_epoch < 1:
        raise UserError(f"--batch-size {cfg.batch_size} is larger than the {len(train_indices) // world} training "
                        "images each process gets; lower it or enlarge --subset")
    optimizer = torch.optim.SGD(student.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                weight_decay=cfg.weight_decay, nesterov=cfg.nesterov)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, cfg, steps_per_epoch))
    n_test = len(data.test) if cfg.test_subset is None else min(cfg.test_subset, len(data.test))
    test_images, test_labels = data.test.images[:n_test], data.test.labels[:n_test]

    # 4. The run directory; on resume, every state where the checkpoint left it.
    runs = RunDir(run_dir, main)
    history: list[dict[str, Any]] = []
    start_epoch, skip_steps, partial = 0, 0, None
    best = {"top1": -1.0, "epoch": 0}
    if ckpt is not None:
        student.load_state_dict(ckpt["student"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        _set_rng_states(ckpt["rng"], device)
        history, best = list(ckpt["history"]), dict(ckpt["best"])
        start_epoch, skip_steps, partial = ckpt["epoch"], ckpt["step_in_epoch"], ckpt.get("partial")
    runs.prepare()
    runs.write_config(cfg, {
        "command": shlex.join(command) if command is not None else None,
        "resumed_from_epoch": start_epoch if ckpt is not None else None,
        "arch": arch, "mean": mean, "std": std, "teacher_source": teacher.source, "data": data.describe(),
        "device": str(device), "world_size": world, "amp": str(amp_dtype).replace("torch.", "") if amp_dtype else "off",
        "channels_last": channels_last, "compile": compile, "torch": torch.__version__,
    })

    def checkpoint(epoch: int, step_in_epoch: int, gen: torch.Generator | None, partial_state: Any) -> None:
        runs.save(CHECKPOINT, {
            "student": student.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "rng": _rng_states(device),
            "epoch": epoch, "step_in_epoch": step_in_epoch, "partial": partial_state,
            "generator": gen.get_state() if gen is not None else None,
            "history": history, "best": best, "config": dataclasses.asdict(cfg),
        })

    def zoo_checkpoint(name: str, epoch: int, top1: float) -> None:
        runs.save(name, {"model": net.state_dict(), "epoch": epoch, "accuracy": top1, "arch": arch,
                         "mean": mean, "std": std, "num_classes": data.num_classes, "in_channels": data.channels})

    total_steps = sum(int(r["steps"]) for r in history)
    stop = _StopFlag()
    bar = None
    try:
        with stop:
            for epoch in range(start_epoch, cfg.epochs):
                if cfg.max_steps is not None and total_steps >= cfg.max_steps:
                    break
                gen = torch.Generator(device=device).manual_seed(stable_seed("augment", cfg.seed, epoch, rank))
                sums = torch.zeros(4, dtype=torch.float64)  # loss, ce, kl_orig, kl_view summed over steps
                seen = torch.zeros(len(data.train), dtype=torch.int32)
                step, train_seconds, lr = 0, 0.0, optimizer.param_groups[0]["lr"]
                if partial is not None and skip_steps:
                    gen.set_state(ckpt["generator"])
                    sums, seen = partial["sums"].clone(), partial["seen"].clone()
                    step, train_seconds = skip_steps, float(partial["seconds"])
                partial, skip_steps_now, skip_steps = None, skip_steps, 0
                indices = _epoch_indices(train_indices, cfg, epoch, rank, world)
                batches: Iterator = data.train.batches(cfg.batch_size, indices=indices, drop_last=True)
                batches = islice(batches, skip_steps_now, None)
                if main and progress:
                    from tqdm.auto import tqdm

                    bar = tqdm(total=steps_per_epoch, initial=step, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                               leave=False, dynamic_ncols=True, file=sys.stderr)
                pending: list[torch.Tensor] = []
                sync_every = 1 if device.type == "cpu" else 25
                t0 = time.perf_counter()
                interrupted = False
                for x, y in batches:
                    lr = optimizer.param_groups[0]["lr"]
                    seen[indices[step * cfg.batch_size : (step + 1) * cfg.batch_size]] += 1
                    parts = _step(x, y, data=data, device=device, gen=gen, aug=aug, teacher=forward_teacher,
                                  student=forward_student, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
                                  amp_dtype=amp_dtype, cfg=cfg)
                    pending.append(parts)
                    step += 1
                    total_steps += 1
                    last = step == steps_per_epoch or (cfg.max_steps is not None and total_steps >= cfg.max_steps)
                    # Under torchrun every rank must reach the flag all-reduce at the same step,
                    # so a local signal waits for the common sync point.
                    if len(pending) >= sync_every or last or (stop.set and world == 1):
                        values = torch.stack(pending).double().cpu()
                        flags = torch.tensor([float(not torch.isfinite(values).all()), float(stop.set)], device=device)
                        if world > 1:
                            dist.all_reduce(flags, op=dist.ReduceOp.MAX)
                        if flags[0]:
                            bad = step - len(pending) + 1 + _first_bad(values)
                            where = f"epoch {epoch + 1}, step {bad}" if world == 1 else f"epoch {epoch + 1}, near step {bad}"
                            kept = (f"the last good checkpoint (epoch {history[-1]['epoch']}) is kept in {run_dir}"
                                    if history else "no epoch had finished, so there is no checkpoint")
                            raise TrainingDiverged(f"the loss became NaN or infinite at {where} "
                                                   f"(lr {optimizer.param_groups[0]['lr']:.3g}); {kept}; "
                                                   "lower --lr or try --amp off")
                        sums += values.sum(0)
                        pending.clear()
                        if bar is not None:
                            bar.update(len(values))
                            bar.set_postfix(loss=f"{sums[0].item() / step:.4f}", lr=f"{optimizer.param_groups[0]['lr']:.3g}")
                        if flags[1]:
                            interrupted = True
                            break
                    if last:
                        break
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                train_seconds += time.perf_counter() - t0
                if bar is not None:
                    bar.close()
                    bar = None
                if interrupted:
                    checkpoint(epoch, step, gen, {"sums": sums, "seen": seen, "seconds": train_seconds})
                    raise TrainingInterrupted(f"stopped at epoch {epoch + 1}, step {step}; continue with "
                                              f"dastat train --resume {run_dir}")

                # End of the epoch: global means, evaluation, files, checkpoint.
                counts = torch.tensor([float(step), train_seconds], dtype=torch.float64)
                if world > 1:
                    reduced = torch.cat([sums, counts, seen.double()]).to(device)
                    dist.all_reduce(reduced)
                    sums, counts, seen = reduced[:4].cpu(), reduced[4:6].cpu(), reduced[6:].cpu()
                    counts[1] /= world
                test_loss, top1, top5 = evaluate(student, test_images, test_labels, device=device,
                                                 amp_dtype=amp_dtype)
                n_images = int(seen.sum())
                mean_parts = (sums / max(counts[0].item(), 1)).tolist()
                row = {
                    "epoch": epoch + 1, "steps": step, "lr": lr,
                    "train_loss": mean_parts[0], "train_ce": mean_parts[1], "train_kl_orig": mean_parts[2],
                    "train_kl_view": mean_parts[3], "test_loss": test_loss, "test_top1": top1, "test_top5": top5,
                    "images_per_s": n_images / max(counts[1].item(), 1e-9), "train_images": n_images,
                    "distinct_images": int((seen > 0).sum()), "epoch_seconds": counts[1].item(),
                }
                history.append(row)
                if top1 > best["top1"]:
                    best = {"top1": top1, "epoch": epoch + 1}
                    zoo_checkpoint("student_best.pth", epoch + 1, top1)
                runs.write_metrics(history)
                checkpoint(epoch + 1, 0, None, None)
                if main:
                    print(f"epoch {epoch + 1}/{cfg.epochs}  loss {row['train_loss']:.4f}  test loss {test_loss:.4f}  "
                          f"top-1 {top1:.2f}  top-5 {top5:.2f}  lr {row['lr']:.3g}  "
                          f"{row['images_per_s']:.0f} img/s", flush=True)
    finally:
        if bar is not None:
            bar.close()
        runs.close()

    if not history:
        raise UserError("no epoch ran: the stored run had already finished")
    final = history[-1]
    zoo_checkpoint("student_final.pth", final["epoch"], final["test_top1"])
    return TrainResult(run_dir, history, best["top1"], best["epoch"], time.perf_counter() - t_start, main)


def _first_bad(values: torch.Tensor) -> int:
    bad = (~torch.isfinite(values)).any(1).nonzero()
    return int(bad[0]) if len(bad) else 0


def _step(x: torch.Tensor, y: torch.Tensor, *, data: ImageData, device: torch.device, gen: torch.Generator, aug: Augmentation,
          teacher: nn.Module, student: nn.Module, optimizer: torch.optim.Optimizer,
          scheduler: torch.optim.lr_scheduler.LRScheduler, scaler: torch.amp.GradScaler,
          amp_dtype: torch.dtype | None, cfg: TrainConfig) -> torch.Tensor:
    """One optimiser step; returns the detached ``[loss, ce, kl_orig, kl_view]`` (still on the device)."""
    x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    x = data.base_view(x, gen)
    result = aug(x, y, generator=gen)
    view = result.x
    if view.dtype != x.dtype:  # a DA may return floats from uint8: give both networks floats in [0, 1]
        x, view = to_float(x), to_float(view)
    with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        with torch.no_grad():
            if result.teacher_logits is not None:  # the DA ranked its pool with the teacher: reuse its logits
                t_orig, t_view = teacher(x).float(), result.teacher_logits.float()
            elif device.type == "cuda":  # one launch sequence for both views
                t_orig, t_view = teacher(torch.cat([x, view])).float().split(x.shape[0])
            else:  # on CPU two half-size passes keep activations in cache: about 30% faster
                t_orig, t_view = teacher(x).float(), teacher(view).float()
        # One student call per view, as in the reference code: BatchNorm normalises each view
        # with its own batch statistics.
        s_orig, s_view = student(x).float(), student(view).float()
    parts = distillation_loss(s_orig, s_view, t_orig, t_view, y, temperature=cfg.temperature,
                              alpha=cfg.alpha, gamma=cfg.gamma)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(parts.total).backward()
    scaler.step(optimizer)
    scaler.update()
    scheduler.step()
    return parts.detached()
