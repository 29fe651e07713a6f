"""The KD trainer that checks a ranking: build, restore, then train and evaluate epoch by epoch.

One step, on a batch of uint8 images already on the device::

    x  = base_view(batch)                 # the training loader's crop + flip, batched
    v  = DA(x)                            # the view; pick DAs also return teacher logits
    t  = teacher(x), teacher(v)           # no grad; skipped for v when the DA has them
    s  = student(x), student(v)           # one call per view (BatchNorm statistics per view)
    loss = gamma·CE(s_x, y) + alpha·[KL_T(t_x‖s_x) + KL_T(t_v‖s_v)]

The shape is that of torchvision's classification reference script: :func:`train`
builds the pieces (data, teacher, student, DA, optimiser, scheduler), restores them
from a checkpoint when resuming, then alternates
:func:`~dastat.kd.engine.train_one_epoch` and :func:`~dastat.kd.engine.evaluate`. The
run folder lives in :mod:`~dastat.kd.rundir`, the signal handling and RNG states in
:mod:`~dastat.kd.signals`. The student owns its normalisation (the same
:class:`~dastat.models.normalize.Normalized` wrapper a teacher is), so its checkpoints
load back as teachers.

Under ``torchrun`` each process trains on its share of every epoch (a
``DistributedSampler``), gradients are averaged by DDP, and only rank 0 logs and writes.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from ..augment import Augmentation, create as create_augmentation
from ..data import DataOptions, ImageData
from ..distributed import init_from_env, process_group, resolve_device
from ..errors import UserError
from ..models.normalize import Normalized
from ..provenance import provenance
from ..seeding import stable_seed
from ..setting import load_student, resolve_teacher_and_data
from ..teacher import Teacher
from .engine import (EpochState, Setup, TrainingDiverged, TrainingInterrupted, epoch_indices, epoch_row, evaluate,
                     train_one_epoch)
from .recipes import FIELDS, TrainConfig, differences, lr_factor, resolve_config
from .rundir import CHECKPOINT, RunDir, check_new_run_folder, check_writable, read_run, run_lock
from .signals import StopFlag, rng_states, set_rng_states

__all__ = ["RunOptions", "TrainResult", "TrainingDiverged", "TrainingInterrupted", "evaluate", "train"]


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


@dataclass
class RunOptions:
    """How :func:`train` was called besides its config: ready objects (a resumed run is given them again),
    and switches that do not change what is learnt."""

    teacher: Teacher | None = None
    data: ImageData | None = None
    custom_da: Augmentation | None = None
    compile: bool = False
    progress: bool = True
    command: str | None = None
    workers: int | None = None
    on_step: Callable[[int, int], None] | None = None


@dataclass
class _Run:
    """The student being trained, its run folder, and the history so far."""

    model: Normalized
    arch: str
    runs: RunDir
    test_size: int
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=lambda: {"top1": -1.0, "epoch": 0})

    def checkpoint(self, s: Setup, epoch: int, state: EpochState | None = None) -> None:
        """Everything needed to resume: after an epoch (``state`` None) or mid-epoch."""
        self.runs.save(CHECKPOINT, {
            "student": self.model.state_dict(), "optimizer": s.optimizer.state_dict(),
            "scheduler": s.scheduler.state_dict(), "scaler": s.scaler.state_dict(), "rng": rng_states(s.device),
            "epoch": epoch, "step_in_epoch": state.step if state else 0,
            "partial": state.partial() if state else None,
            "generator": state.generator.get_state() if state else None,
            "history": self.history, "best": self.best, "config": dataclasses.asdict(s.cfg),
        })

    def save_student(self, name: str, epoch: int, top1: float) -> None:
        """A RepDistiller-style checkpoint that loads back as a teacher or a student."""
        m = self.model
        self.runs.save(name, {"model": m.model.state_dict(), "epoch": epoch, "accuracy": top1, "arch": self.arch,
                              "mean": m.mean.flatten().tolist(), "std": m.std.flatten().tolist(),
                              "num_classes": m.num_classes, "in_channels": m.in_channels})


# --- building the pieces ----------------------------------------------------------------


def build_inputs(cfg: TrainConfig, teacher: Teacher | None, data: ImageData | None, workers: int | None,
                 device: torch.device) -> tuple[Teacher, ImageData]:
    """The teacher and its data (in memory or streamed from files), settled together and checked."""
    if workers is not None and workers < 0:
        raise UserError("--workers must be 0 (decode in this process) or more")
    teacher, data = resolve_teacher_and_data(teacher if teacher is not None else cfg.teacher,
                                             data if data is not None else cfg.data, options=DataOptions(workers=workers),
                                             arch=cfg.arch, mean=cfg.mean, std=cfg.std, trust=cfg.trust_checkpoint,
                                             device=device)
    if data.test is None:
        raise UserError(f"dastat train needs a test split, and {data.name} has none; for an image folder add "
                        "a val/ or test/ folder beside train/")
    for split in (data.train, data.test):
        if workers is not None and hasattr(split, "workers"):
            split.workers = workers
    return teacher.to(device), data


def build_student(cfg: TrainConfig, data: ImageData, teacher: Teacher, device: torch.device,
                  channels_last: bool) -> tuple[Normalized, str]:
    """The student spec read as scoring reads it (a fresh seeded zoo network, a checkpoint, a hub name),
    made trainable and normalising like the teacher."""
    torch.manual_seed(cfg.seed)
    loaded = load_student(cfg.student, data, seed=cfg.seed)
    net, arch = loaded.model, loaded.arch or Path(cfg.student).stem
    for p in net.parameters():
        p.requires_grad_(True)
    with torch.no_grad():
        classes = int(net.eval()(torch.zeros(1, data.channels, data.image_size, data.image_size)).shape[-1])
    if classes != teacher.num_classes:
        raise UserError(f"the student {arch} has {classes} classes but the teacher {teacher.source} has "
                        f"{teacher.num_classes}; they must predict the same classes")
    student = Normalized(net.train(), teacher.mean.flatten().tolist(), teacher.std.flatten().tolist(),
                         channels_last=channels_last)
    student.num_classes, student.in_channels = classes, data.channels
    student = student.to(device)
    return (student.to(memory_format=torch.channels_last) if channels_last else student), arch


def _amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    if mode == "auto":
        if device.type != "cuda":
            return None  # CPU autocast is slower than float32 on most CPUs
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[mode]


def _train_indices(cfg: TrainConfig, n: int) -> torch.Tensor:
    if cfg.subset is not None and cfg.subset > n:
        raise UserError(f"--subset {cfg.subset} is more images than the training split holds ({n:,}); "
                        f"give at most {n}")
    if cfg.subset is None or cfg.subset == n:
        return torch.arange(n)
    g = torch.Generator().manual_seed(stable_seed("subset", cfg.seed))
    return torch.randperm(n, generator=g)[: cfg.subset].sort().values


def build_setup(cfg: TrainConfig, data: ImageData, device: torch.device, teacher: Teacher, student: Normalized,
                aug: Augmentation, compile: bool) -> Setup:
    """The optimiser, scheduler and scaler, the forward paths (compiled, DDP) and the epoch's size."""
    rank, world = process_group()
    amp_dtype = _amp_dtype(cfg.amp, device)
    forward_student: nn.Module = torch.compile(student) if compile else student
    forward_teacher: nn.Module = torch.compile(teacher) if compile else teacher
    if world > 1:
        forward_student = nn.parallel.DistributedDataParallel(
            forward_student, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = torch.optim.SGD(student.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                weight_decay=cfg.weight_decay, nesterov=cfg.nesterov)
    s = Setup(cfg, data, device, forward_teacher, forward_student, aug, optimizer, None,
              torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16), amp_dtype,
              _train_indices(cfg, len(data.train)), 0, rank, world)
    s.steps_per_epoch = len(epoch_indices(s, 0)) // cfg.batch_size
    if s.steps_per_epoch < 1:
        raise UserError(f"--batch-size {cfg.batch_size} is larger than the {len(s.train_indices) // world} training "
                        "images each process gets; lower it or enlarge --subset")
    s.scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, cfg, s.steps_per_epoch))
    return s


def restore(s: Setup, run: _Run, ckpt: dict[str, Any]) -> tuple[int, tuple | None]:
    """Put every state back where the checkpoint left it; returns (epoch, mid-epoch state or None)."""
    run.model.load_state_dict(ckpt["student"])
    s.optimizer.load_state_dict(ckpt["optimizer"])
    s.scheduler.load_state_dict(ckpt["scheduler"])
    s.scaler.load_state_dict(ckpt["scaler"])
    set_rng_states(ckpt["rng"], s.device)
    run.history, run.best = list(ckpt["history"]), dict(ckpt["best"])
    step = ckpt["step_in_epoch"]
    partial = (step, ckpt["partial"], ckpt["generator"]) if step and ckpt.get("partial") is not None else None
    return ckpt["epoch"], partial


# --- the run's record -------------------------------------------------------------------


def _config_record(s: Setup, run: _Run, teacher: Teacher, stored: dict[str, Any] | None, start: tuple[int, int],
                   command: str | None, compile: bool) -> dict[str, Any]:
    """``config.json``: new, or the stored one with this resume added (its command is kept)."""
    cfg, device = s.cfg, s.device
    if stored is not None:
        resumes = list(stored.get("resumes", []))
        resumes.append({"command": command, "epoch": start[0], "step_in_epoch": start[1], "device": str(device),
                        "world_size": s.world, "compile": compile})
        return {**stored, "resumed_from_epoch": start[0], "resumes": resumes}
    amp = str(s.amp_dtype).replace("torch.", "") if s.amp_dtype else "off"
    return {
        "config": dataclasses.asdict(cfg), "command": command, "resumed_from_epoch": None, "resumes": [],
        "arch": run.arch, "mean": run.model.mean.flatten().tolist(), "std": run.model.std.flatten().tolist(),
        "teacher_source": teacher.source, "data": s.data.describe(), "device": str(device), "world_size": s.world,
        "amp": amp, "channels_last": run.model.channels_last, "compile": compile, "torch": torch.__version__,
        "provenance": provenance(command=command, device=device, seed=cfg.seed, batch_size=cfg.batch_size,
                                 teacher=teacher, data=s.data.spec or s.data.name, student=cfg.student,
                                 recipe=cfg.recipe, da=cfg.da, world_size=s.world, amp=amp),
    }


# --- the loop ----------------------------------------------------------------------------


def _fit(s: Setup, run: _Run, start_epoch: int, partial: tuple | None, *, progress: bool,
         on_step: Callable[[int, int], None] | None) -> None:
    """Train from ``start_epoch`` (and a mid-epoch state) to the end of the run, or until stopped."""
    cfg, main = s.cfg, s.rank == 0
    total_steps = sum(int(r["steps"]) for r in run.history) + (partial[0] if partial else 0)
    with StopFlag() as stop:
        for epoch in range(start_epoch, cfg.epochs):
            if cfg.max_steps is not None and total_steps >= cfg.max_steps:
                break
            state = EpochState.start(s, epoch)
            if partial is not None:
                state.restore(*partial)
                partial = None
            try:
                interrupted, total_steps = train_one_epoch(s, epoch, state, stop=stop, total_steps=total_steps,
                                                           progress=progress, on_step=on_step)
            except TrainingDiverged as exc:
                kept = (f"the last good checkpoint (epoch {run.history[-1]['epoch']}) is kept in {run.runs.path}"
                        if run.history else "no epoch had finished, so there is no checkpoint")
                raise TrainingDiverged(f"{exc}; {kept}; lower --lr or try --amp off") from None
            if interrupted:
                run.checkpoint(s, epoch, state)
                raise TrainingInterrupted(f"stopped at epoch {epoch + 1}, step {state.step}; continue with "
                                          f"dastat train --resume {run.runs.path}")
            row = epoch_row(s, epoch, state, run.model, run.test_size)
            run.history.append(row)
            if row["test_top1"] > run.best["top1"]:
                run.best = {"top1": row["test_top1"], "epoch": epoch + 1}
                run.save_student("student_best.pth", epoch + 1, row["test_top1"])
            run.runs.write_metrics(run.history)
            run.checkpoint(s, epoch + 1)
            if main:
                print(f"epoch {epoch + 1}/{cfg.epochs}  loss {row['train_loss']:.4f}  test loss {row['test_loss']:.4f}"
                      f"  top-1 {row['test_top1']:.2f}  top-5 {row['test_top5']:.2f}  lr {row['lr']:.3g}  "
                      f"{row['images_per_s']:.0f} img/s", flush=True)


def _run(cfg: TrainConfig, run_dir: Path, stored: dict[str, Any] | None, ckpt: dict[str, Any] | None,
         device: torch.device, opts: RunOptions, t_start: float) -> TrainResult:
    teacher, data = build_inputs(cfg, opts.teacher, opts.data, opts.workers, device)
    channels_last = cfg.channels_last if cfg.channels_last is not None else device.type == "cuda"
    student, arch = build_student(cfg, data, teacher, device, channels_last)
    if channels_last:
        teacher = teacher.to(memory_format=torch.channels_last)
    context = data.augment_context(teacher=teacher, student=student)
    aug = opts.custom_da if opts.custom_da is not None else create_augmentation(cfg.da, context)
    s = build_setup(cfg, data, device, teacher, student, aug, opts.compile)
    test_size = len(data.test) if cfg.test_subset is None else min(cfg.test_subset, len(data.test))
    run = _Run(student, arch, RunDir(run_dir, s.rank == 0), test_size)
    start_epoch, partial = restore(s, run, ckpt) if ckpt is not None else (0, None)
    run.runs.prepare()
    try:
        run.runs.write_config(_config_record(s, run, teacher, stored, (start_epoch, partial[0] if partial else 0),
                                             opts.command, opts.compile))
        _fit(s, run, start_epoch, partial, progress=opts.progress, on_step=opts.on_step)
    finally:
        run.runs.close()
    if not run.history:
        raise UserError("no epoch ran: the stored run had already finished")
    final = run.history[-1]
    run.save_student("student_final.pth", final["epoch"], final["test_top1"])
    return TrainResult(run_dir, run.history, run.best["top1"], run.best["epoch"], time.perf_counter() - t_start,
                       s.rank == 0)


# --- the entry point ---------------------------------------------------------------------


def _resolve_specs(options: dict[str, Any], teacher: Any, data: Any, da: Any) -> tuple[Any, Any, Any]:
    """Specs become config (recorded, resumable); ready objects are used as they are."""
    if teacher is not None and not isinstance(teacher, nn.Module):
        options["teacher"], teacher = str(teacher), None
    if data is not None and not isinstance(data, ImageData):
        options["data"], data = str(data), None
    custom_da = da if isinstance(da, Augmentation) else None
    if custom_da is not None:
        options["da"] = custom_da.spec
    elif da is not None:
        options["da"] = da
    return teacher, data, custom_da


def _resumed_config(run_dir: Path, out: Any, recipe: str | None,
                    options: dict[str, Any]) -> tuple[TrainConfig, dict[str, Any], dict[str, Any]]:
    """The stored config (which the given options must not contradict) and the checkpoint."""
    if out is not None and Path(out).resolve() != run_dir.resolve():
        raise UserError("pass either --out for a new run or --resume RUN_DIR, not both")
    stored, ckpt = read_run(run_dir)
    diff = differences(stored["config"], dict(options, recipe=recipe))
    if diff:
        raise UserError(f"{run_dir} was made with a different config ({'; '.join(diff)}); "
                        "resume it with its own options or start a new run with another --out")
    try:
        cfg = TrainConfig(**{k: v for k, v in stored["config"].items() if k in FIELDS})
    except TypeError:
        raise UserError(f"{run_dir / 'config.json'} is not the config of a dastat training run; "
                        f"delete {run_dir} to start the run over") from None
    steps = sum(int(r["steps"]) for r in ckpt["history"])
    if ckpt["epoch"] >= cfg.epochs or (cfg.max_steps is not None and steps >= cfg.max_steps):
        raise UserError(f"{run_dir} has already finished ({len(ckpt['history'])} epochs); its results are in "
                        f"{run_dir / 'metrics.csv'}")
    return cfg, stored, ckpt


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
    command: str | Sequence[str] | None = None,
    workers: int | None = None,
    on_step: Callable[[int, int], None] | None = None,
    **options: Any,
) -> TrainResult:
    """Distil a teacher into a student with a DA; returns the per-epoch history.

    ``options`` are the fields of :class:`~dastat.kd.recipes.TrainConfig` (``student``,
    ``epochs``, ``lr``, ``batch_size``, ``temperature``, ``alpha``, ``gamma``, ...),
    overriding the ``recipe``'s defaults. ``resume=RUN_DIR`` continues a stopped run
    (options, if given, must agree with the stored config). ``teacher``, ``data`` and
    ``da`` are specs (recorded in the config) or ready objects (a Teacher, an ImageData,
    an Augmentation), which a resumed run must be given again. ``workers`` sets the
    decoding processes of data read from files; ``on_step(epoch, step)`` is called after
    every optimiser step (``epoch`` counts from 0, ``step`` within the epoch from 1).

    Example (a smoke test on the bundled default)::

        from dastat.kd import train
        result = train("runs/smoke", student="resnet8", da="cutmix", recipe="quick", max_steps=20)
        print(result.final["test_top1"])
    """
    t_start = time.perf_counter()
    teacher, data, custom_da = _resolve_specs(options, teacher, data, da)
    stored = ckpt = None
    if resume is not None:
        run_dir = Path(resume)
        cfg, stored, ckpt = _resumed_config(run_dir, out, recipe, options)
    else:
        cfg = resolve_config(recipe, **options)
        run_dir = Path(out) if out is not None else Path("runs") / time.strftime(
            f"%Y%m%d-%H%M%S-{cfg.student}-{''.join(c if c.isalnum() else '_' for c in cfg.da)[:40]}")
        check_new_run_folder(run_dir)
    check_writable(run_dir)
    dev = resolve_device(device)
    with run_lock(run_dir, active=os.environ.get("RANK", "0") == "0"), init_from_env(dev):
        opts = RunOptions(teacher, data, custom_da, compile, progress,
                          command if command is None or isinstance(command, str) else shlex.join(command),
                          workers, on_step)
        return _run(cfg, run_dir, stored, ckpt, dev, opts, t_start)
