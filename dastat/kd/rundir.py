"""The run folder of ``dastat train``: what it holds, how it is written, how it is read back.

A run folder holds ``config.json`` (``kind``, the resolved config, the command that
started it, the resumes since, provenance), ``metrics.csv`` (with its provenance
sidecar) and ``metrics.jsonl``, ``checkpoint.pt`` and the student checkpoints. Only
rank 0 writes; every write is atomic. A folder is used only when it is new, empty or
already a training run, so a user's files are never overwritten, and an unreadable
state file is reported in one sentence that says what to do. A run holds an OS lock
(``flock``) on the folder's ``.dastat.lock`` while it runs, so a second run into the
same folder is refused in one sentence; the kernel drops the lock when a run dies, so a
crash leaves no stale lock behind (only, possibly, the empty file, which is ignored).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import pickle
from pathlib import Path
from typing import Any, Iterator

import torch

from ..errors import UserError
from ..io import atomic_torch_save, atomic_write_text
from ..provenance import write_csv_sidecar

KIND = "dastat train"
CHECKPOINT = "checkpoint.pt"
CONFIG = "config.json"
#: The lock file a running run holds; not a result, so the folder checks ignore it.
LOCK = ".dastat.lock"
#: Everything a run writes (besides the checkpoint).
RUN_FILES = {CONFIG, "metrics.csv", "metrics.csv.provenance.json", "metrics.jsonl", "student_best.pth",
             "student_final.pth", "tensorboard"}
METRIC_COLUMNS = (
    "epoch", "steps", "lr", "train_loss", "train_ce", "train_kl_orig", "train_kl_view",
    "test_loss", "test_top1", "test_top5", "images_per_s", "train_images", "distinct_images",
    "epoch_seconds",
)


def check_writable(folder: Path) -> None:
    """Fail early, with one sentence, when ``folder`` cannot hold the run."""
    probe = folder
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"cannot write the run to {folder}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"cannot write the run to {folder}: {probe} is not writable; choose another --out")


def read_json(path: Path, what_to_do: str) -> Any:
    """The JSON in ``path``, or one sentence naming the file when it is truncated or garbled."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}; {what_to_do}") from None
    except ValueError:
        raise UserError(f"{path} is truncated or corrupt; {what_to_do}") from None


def check_new_run_folder(folder: Path) -> None:
    """Refuse a folder that holds a run already or files that are not a training run's."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise UserError(f"cannot write the run to {folder}: it is a file, not a folder")
    if (folder / CHECKPOINT).exists():
        raise UserError(f"{folder} already holds a run; continue it with --resume {folder} or choose another --out")
    # Temporary files of an interrupted atomic write do not count.
    names = {p.name for p in folder.iterdir()
             if not (p.name.startswith(".") and p.name.endswith(".tmp")) and p.name != LOCK}
    # A run stopped before its first checkpoint (config.json is written first) is started over.
    ours = names <= {"tensorboard"} or (names <= RUN_FILES and _is_run_config(folder / CONFIG))
    if names and not ours:
        raise UserError(f"{folder} is not empty and holds no dastat training run; choose a new or empty --out")


@contextlib.contextmanager
def run_lock(folder: Path, active: bool = True) -> Iterator[None]:
    """Hold the run folder's lock while the body runs; one sentence when another run holds it.

    The folder is created here; the lock file is removed when the body ends, and a folder
    this call created is removed again if the run wrote nothing into it.
    """
    if not active:
        yield
        return
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise UserError(f"cannot create the run folder {folder}: {exc.strerror}") from None
    try:
        _lock(fd, folder)
    except BaseException:
        os.close(fd)
        raise
    try:
        yield
    finally:
        # Removed while still held, so the folder holds only results afterwards; a run killed
        # before this leaves the file, but not the lock: the kernel drops that with the process.
        (folder / LOCK).unlink(missing_ok=True)
        if created:  # a run refused before it wrote anything leaves no empty folder
            with contextlib.suppress(OSError):
                folder.rmdir()
        os.close(fd)  # closing the descriptor releases the lock


def _lock(fd: int, folder: Path) -> None:
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, as before
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise UserError(f"another dastat run is writing to {folder} right now; wait for it to finish or "
                        "choose another --out") from None


def _is_run_config(path: Path) -> bool:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("kind") == KIND
    except (OSError, ValueError, AttributeError):
        return False


def read_run(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The stored ``config.json`` and the training checkpoint of ``run_dir``."""
    if not run_dir.is_dir():
        raise UserError(f"cannot resume {run_dir}: no such run folder")
    config_path, ckpt_path = run_dir / CONFIG, run_dir / CHECKPOINT
    for path in (config_path, ckpt_path):
        if not path.is_file():
            raise UserError(f"cannot resume {run_dir}: it holds no {path.name} "
                            "(the run stopped before its first checkpoint; start it again)")
    start_over = f"delete {run_dir} to start the run over"
    stored = read_json(config_path, start_over)
    if not isinstance(stored, dict) or not isinstance(stored.get("config"), dict):
        raise UserError(f"{config_path} is not the config of a dastat training run; {start_over}")
    try:
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, ValueError, OSError, ImportError, AttributeError, pickle.UnpicklingError):
        raise UserError(f"{ckpt_path} is truncated or corrupt; {start_over}") from None
    needed = ("student", "optimizer", "scheduler", "scaler", "rng", "epoch", "step_in_epoch", "history", "best")
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in needed):
        raise UserError(f"{ckpt_path} is not a dastat training checkpoint; {start_over}")
    return stored, ckpt


class RunDir:
    """Writes the run's files; a no-op on ranks other than 0."""

    def __init__(self, path: Path, active: bool):
        self.path, self.active = path, active
        self._tb = None
        self.provenance: dict[str, Any] | None = None

    def prepare(self) -> None:
        """Open the TensorBoard writer, when it is installed (the folder exists: :func:`run_lock` made it)."""
        if not self.active:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is optional
            return
        self._tb = SummaryWriter(str(self.path / "tensorboard"))

    def write_config(self, record: dict[str, Any]) -> None:
        """Write ``config.json``; its provenance is also what the CSV sidecar records."""
        self.provenance = record.get("provenance")
        if self.active:
            atomic_write_text(self.path / CONFIG, json.dumps({"kind": KIND, **record}, indent=2) + "\n")

    def write_metrics(self, history: list[dict[str, Any]]) -> None:
        """Rewrite both metric files from the history, so a resumed run never duplicates a row."""
        if not self.active:
            return
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(history)
        atomic_write_text(self.path / "metrics.csv", buf.getvalue())
        if self.provenance is not None:
            write_csv_sidecar(self.path / "metrics.csv", self.provenance)
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
