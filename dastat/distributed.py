"""Process-group helpers for runs launched by ``torchrun`` (and plain single-process runs).

``torchrun --nproc_per_node=N -m dastat ...`` sets ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``;
:func:`init_from_env` joins that group (gloo on CPU, nccl on CUDA) and each process
drives the GPU of its local rank. Outside torchrun every helper is a no-op.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

import torch
import torch.distributed as dist

from .errors import UserError


def group_up() -> bool:
    """Whether this process is in a process group (under ``torchrun``, after :func:`init_from_env`)."""
    return dist.is_available() and dist.is_initialized()


def process_group() -> tuple[int, int]:
    """``(rank, world_size)`` of this process; ``(0, 1)`` outside a process group."""
    return (dist.get_rank(), dist.get_world_size()) if group_up() else (0, 1)


def all_reduce(tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """``tensor`` summed (``op="max"``/``"min"``: its maximum/minimum) over all processes, in place and
    returned; unchanged outside a process group. CPU tensors work under nccl too (through this GPU)."""
    if not group_up():
        return tensor
    reduce_op = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}[op]
    if dist.get_backend() == "nccl" and tensor.device.type != "cuda":
        buffer = tensor.to(torch.device("cuda", torch.cuda.current_device()))
        dist.all_reduce(buffer, op=reduce_op)
        return tensor.copy_(buffer)
    dist.all_reduce(tensor, op=reduce_op)
    return tensor


def all_reduce_rows(rows: dict[int, torch.Tensor], width: int) -> torch.Tensor:
    """Rows kept by global index on the processes that made them, summed into one dense float64 tensor
    (index × ``width``; a collective under ``torchrun``): every process gets every row, zeros where none was."""
    size = all_reduce(torch.tensor([max(rows, default=-1) + 1], dtype=torch.float64), "max")
    dense = torch.zeros(int(size.item()), width, dtype=torch.float64)
    for index, row in rows.items():
        dense[index] = row
    return all_reduce(dense)


def is_main_process() -> bool:
    """True outside ``torchrun`` and on rank 0 inside it: the process that prints and writes."""
    return process_group()[0] == 0


def available_devices() -> list[str]:
    """The ``--device`` values that work on this machine."""
    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        names += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        names.append("mps")
    return names


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``auto`` → CUDA when available, else CPU; a bare ``cuda`` → the local rank's GPU.

    Anything this machine cannot run on (``tpu``, ``meta``, ``cuda:1`` on one GPU, ...)
    raises :class:`UserError` listing the values that work here.
    """
    if device is None or str(device) == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    usable = available_devices()
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        parsed = None
    if parsed is None or not _usable(parsed, usable):
        raise UserError(f"--device {str(device)!r} does not work on this machine; use one of {', '.join(usable)}")
    device = parsed
    if device.type == "cuda":
        if device.index is None:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return device


def _usable(device: torch.device, usable: list[str]) -> bool:
    if device.type == "cpu":
        return not device.index
    if device.type not in usable:
        return False
    return device.index is None or f"{device.type}:{device.index}" in usable or device.type == "mps"


@contextlib.contextmanager
def init_from_env(device: torch.device) -> Iterator[bool]:
    """Join the process group ``torchrun`` describes for the duration; yields whether it did."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or group_up():
        yield False
        return
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield True
    finally:
        dist.destroy_process_group()
