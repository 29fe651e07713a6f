"""One epoch of KD training and one evaluation, in the shape of torchvision's reference scripts.

:func:`train_one_epoch` runs the optimiser steps of an epoch (or the rest of one, after a
resume) and :func:`evaluate` measures the student on the test split. Both take any split
that offers ``len()`` and ``batches(batch_size, indices=..., drop_last=...)``: images
held in memory or decoded from files as they stream by. On CUDA batches are copied
from pinned memory without blocking.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from ..augment import Augmentation
from ..augment.functional import to_float
from ..data import ImageData
from ..distributed import all_reduce, process_group
from ..seeding import generator
from .loss import distillation_loss
from .recipes import TrainConfig
from .signals import StopFlag


class TrainingDiverged(RuntimeError):
    """The loss stopped being finite; the last good checkpoint is kept."""


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; the run was saved where it stopped and can be resumed."""


@dataclass
class Setup:
    """What every step of a run uses, built once (see :mod:`dastat.kd.trainer`)."""

    cfg: TrainConfig
    data: ImageData
    device: torch.device
    teacher: nn.Module  # what the step calls: maybe compiled
    student: nn.Module  # what the step calls: maybe compiled and wrapped in DDP
    aug: Augmentation
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype | None
    train_indices: torch.Tensor
    steps_per_epoch: int
    rank: int = 0
    world: int = 1


@dataclass
class EpochState:
    """Where an epoch stands; a checkpoint taken mid-epoch stores it whole."""

    generator: torch.Generator
    sums: torch.Tensor  # loss, ce, kl_orig, kl_view summed over the steps
    seen: torch.Tensor  # how often each training image was drawn
    step: int = 0
    seconds: float = 0.0
    lr: float = 0.0

    @classmethod
    def start(cls, s: Setup, epoch: int) -> "EpochState":
        gen = generator("augment", s.cfg.seed, epoch, s.rank, device=s.device)
        return cls(gen, torch.zeros(4, dtype=torch.float64), torch.zeros(len(s.data.train), dtype=torch.int32),
                   lr=s.optimizer.param_groups[0]["lr"])

    def partial(self) -> dict[str, Any]:
        return {"sums": self.sums, "seen": self.seen, "seconds": self.seconds}

    def restore(self, step: int, partial: dict[str, Any], generator_state: torch.Tensor) -> None:
        self.generator.set_state(generator_state)
        self.sums, self.seen = partial["sums"].clone(), partial["seen"].clone()
        self.step, self.seconds = step, float(partial["seconds"])


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``t`` on ``device``; on CUDA through pinned memory, so the copy does not block."""
    if device.type == "cuda" and not t.is_pinned():
        t = t.pin_memory()
    return t.to(device, non_blocking=True)


def epoch_indices(s: Setup, epoch: int) -> torch.Tensor:
    """This process's share of the epoch: DistributedSampler over the (subset) indices."""
    sampler = torch.utils.data.DistributedSampler(
        range(len(s.train_indices)), num_replicas=s.world, rank=s.rank, shuffle=True, seed=s.cfg.seed,
        drop_last=False)
    sampler.set_epoch(epoch)
    return s.train_indices[torch.tensor(list(sampler), dtype=torch.long)]


def train_one_epoch(s: Setup, epoch: int, state: EpochState, *, stop: StopFlag, total_steps: int,
                    progress: bool = True, on_step: Callable[[int, int], None] | None = None) -> tuple[bool, int]:
    """Run the steps of ``epoch`` from ``state.step`` on; returns (interrupted, total steps so far).

    ``on_step(epoch, step)`` is called after every optimiser step (``step`` counts from 1).
    """
    from ..progress import progress_bar

    cfg, bs = s.cfg, s.cfg.batch_size
    indices = epoch_indices(s, epoch)
    batches = s.data.train.batches(bs, indices=indices[state.step * bs:], drop_last=True)
    bar = progress_bar(s.steps_per_epoch, f"epoch {epoch + 1}/{cfg.epochs}", enabled=progress and s.rank == 0,
                       initial=state.step)
    pending: list[torch.Tensor] = []
    sync_every = 1 if s.device.type == "cpu" else 25
    interrupted, t0 = False, time.perf_counter()
    try:
        for x, y in batches:
            state.lr = s.optimizer.param_groups[0]["lr"]
            state.seen[indices[state.step * bs : (state.step + 1) * bs]] += 1
            pending.append(train_step(s, x, y, state.generator))
            state.step += 1
            total_steps += 1
            if on_step is not None:
                on_step(epoch, state.step)
            last = state.step == s.steps_per_epoch or (cfg.max_steps is not None and total_steps >= cfg.max_steps)
            # Under torchrun every rank must reach the flag all-reduce at the same step,
            # so a local signal waits for the common sync point.
            if len(pending) >= sync_every or last or (stop.set and s.world == 1):
                interrupted = _sync(s, epoch, state, pending, stop, bar)
            if interrupted or last:
                break
    finally:
        if bar is not None:
            bar.close()
    if s.device.type == "cuda":
        torch.cuda.synchronize(s.device)
    state.seconds += time.perf_counter() - t0
    return interrupted, total_steps


def _sync(s: Setup, epoch: int, state: EpochState, pending: list[torch.Tensor], stop: StopFlag, bar) -> bool:
    """Add the pending steps' losses to the sums; raise on NaN; return whether a process was signalled."""
    values = torch.stack(pending).double().cpu()
    flags = torch.tensor([float(not torch.isfinite(values).all()), float(stop.set)], device=s.device)
    all_reduce(flags, "max")
    if flags[0]:
        bad = (~torch.isfinite(values)).any(1).nonzero()
        step = state.step - len(pending) + 1 + (int(bad[0]) if len(bad) else 0)
        where = f"epoch {epoch + 1}, step {step}" if s.world == 1 else f"epoch {epoch + 1}, near step {step}"
        raise TrainingDiverged(f"the loss became NaN or infinite at {where} "
                               f"(lr {s.optimizer.param_groups[0]['lr']:.3g})")
    state.sums += values.sum(0)
    pending.clear()
    if bar is not None:
        bar.update(len(values))
        bar.set_postfix(loss=f"{state.sums[0].item() / state.step:.4f}", lr=f"{s.optimizer.param_groups[0]['lr']:.3g}")
    return bool(flags[1])


def train_step(s: Setup, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """One optimiser step; returns the detached ``[loss, ce, kl_orig, kl_view]`` (still on the device)."""
    device, cfg = s.device, s.cfg
    x, y = to_device(x, device), to_device(y, device)
    x = s.data.base_view(x, gen)
    result = s.aug(x, y, generator=gen)
    view = result.x
    if view.dtype != x.dtype:  # a DA may return floats from uint8: give both networks floats in [0, 1]
        x, view = to_float(x), to_float(view)
    with torch.autocast(device.type, dtype=s.amp_dtype, enabled=s.amp_dtype is not None):
        with torch.no_grad():
            if result.teacher_logits is not None:  # the DA ranked its pool with the teacher: reuse its logits
                t_orig, t_view = s.teacher(x).float(), result.teacher_logits.float()
            elif device.type == "cuda":  # one launch sequence for both views
                t_orig, t_view = s.teacher(torch.cat([x, view])).float().split(x.shape[0])
            else:  # on CPU two half-size passes keep activations in cache: about 30% faster
                t_orig, t_view = s.teacher(x).float(), s.teacher(view).float()
        # One student call per view, as in the reference code: BatchNorm normalises each view
        # with its own batch statistics.
        s_orig, s_view = s.student(x).float(), s.student(view).float()
    parts = distillation_loss(s_orig, s_view, t_orig, t_view, y, temperature=cfg.temperature,
                              alpha=cfg.alpha, gamma=cfg.gamma)
    s.optimizer.zero_grad(set_to_none=True)
    s.scaler.scale(parts.total).backward()
    s.scaler.step(s.optimizer)
    s.scaler.update()
    s.scheduler.step()
    return parts.detached()


def epoch_row(s: Setup, epoch: int, state: EpochState, student: nn.Module, test_size: int) -> dict[str, Any]:
    """The metrics row of a finished epoch: global training means (all processes), test metrics."""
    sums, seen = state.sums, state.seen
    counts = torch.tensor([float(state.step), state.seconds], dtype=torch.float64)
    if s.world > 1:
        reduced = all_reduce(torch.cat([sums, counts, seen.double()]))
        sums, counts, seen = reduced[:4], reduced[4:6], reduced[6:]
        counts[1] /= s.world
    test_loss, top1, top5 = evaluate(student, s.data.test, device=s.device, limit=test_size, amp_dtype=s.amp_dtype)
    n_images = int(seen.sum())
    loss, ce, kl_orig, kl_view = (sums / max(counts[0].item(), 1)).tolist()
    return {
        "epoch": epoch + 1, "steps": state.step, "lr": state.lr,
        "train_loss": loss, "train_ce": ce, "train_kl_orig": kl_orig, "train_kl_view": kl_view,
        "test_loss": test_loss, "test_top1": top1, "test_top5": top5,
        "images_per_s": n_images / max(counts[1].item(), 1e-9), "train_images": n_images,
        "distinct_images": int((seen > 0).sum()), "epoch_seconds": counts[1].item(),
    }


@torch.no_grad()
def evaluate(student: nn.Module, split: Any, *, device: torch.device, limit: int | None = None,
             batch_size: int = 500, amp_dtype: torch.dtype | None = None) -> tuple[float, float, float]:
    """(cross-entropy, top-1 %, top-5 %) of ``student`` on the first ``limit`` images of ``split``.

    ``split`` is any split with ``len()`` and ``batches(...)``; under torchrun each process
    takes every ``world``-th image and the sums are all-reduced.
    """
    rank, world = process_group()
    was = student.training
    student.eval()
    sums = torch.zeros(4, dtype=torch.float64, device=device)  # loss, top-1, top-5, count
    n = len(split) if limit is None else min(limit, len(split))
    for x, y in split.batches(batch_size, indices=torch.arange(rank, n, world)):
        x, y = to_device(x, device), to_device(y, device)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = student(x).float()
        hits = logits.topk(min(5, logits.shape[-1]), dim=-1).indices == y[:, None]
        sums += torch.stack([nn.functional.cross_entropy(logits, y, reduction="sum").double(),
                             hits[:, 0].sum().double(), hits.any(1).sum().double(),
                             torch.tensor(len(y), device=device).double()])
    all_reduce(sums)
    student.train(was)
    loss, top1, top5, count = sums.tolist()
    return loss / count, 100 * top1 / count, 100 * top5 / count
