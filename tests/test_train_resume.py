"""Fault tolerance of ``dastat train``, on real processes: SIGKILL mid-epoch then ``--resume``,
and SIGINT (which saves where it stopped), both ending with exactly the metrics of an
uninterrupted run of the same seed (CPU)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dastat import models

REPO = Path(__file__).resolve().parents[1]
# Timing columns are the only ones allowed to differ between an interrupted run and a whole one.
TIMING = {"images_per_s", "epoch_seconds"}


@pytest.fixture(scope="module")
def teacher_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("teacher") / "resnet8_fmnist.pth"
    torch.save({"model": models.create("resnet8", num_classes=10, in_channels=1).state_dict(),
                "mean": [0.286], "std": [0.353]}, path)
    return path


def _args(teacher_file: Path, out: Path) -> list[str]:
    # 512 images in batches of 64: 8 steps an epoch, about a second on one thread.
    return [sys.executable, "-m", "dastat", "train", "--teacher", str(teacher_file), "--da", "cutmix",
            "--recipe", "quick", "--epochs", "2", "--subset", "512", "--test-subset", "100", "--batch-size", "64",
            "--seed", "3", "--threads", "1", "--no-progress", "--out", str(out)]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def _metrics(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def _checkpoint(run: Path) -> dict:
    return torch.load(run / "checkpoint.pt", weights_only=True)


def _start_and_signal(cmd: list[str], run: Path, sig: int) -> subprocess.Popen:
    """Start a run, wait for its first epoch's checkpoint, then send ``sig`` a moment into epoch 2."""
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (run / "checkpoint.pt").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no checkpoint after 120 s"
        time.sleep(0.02)
    time.sleep(0.2)
    proc.send_signal(sig)
    proc.wait(timeout=120)
    return proc


@pytest.fixture(scope="module")
def uninterrupted(teacher_file, tmp_path_factory):
    run = tmp_path_factory.mktemp("whole") / "run"
    done = subprocess.run(_args(teacher_file, run), env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return _metrics(run)


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(teacher_file, tmp_path, uninterrupted):
    run = tmp_path / "run"
    proc = _start_and_signal(_args(teacher_file, run), run, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    ckpt = _checkpoint(run)
    # At most the epoch in progress was lost: the checkpoint is a whole epoch, short of the end.
    assert ckpt["epoch"] == 1 and ckpt["step_in_epoch"] == 0
    assert len(_metrics(run)) == ckpt["epoch"]
    assert not list(run.glob(".*.tmp")), "a temporary file survived the kill"

    resumed = subprocess.run([sys.executable, "-m", "dastat", "train", "--resume", str(run), "--no-progress",
                              "--threads", "1"], env=_env(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert _metrics(run) == uninterrupted
    assert json.loads((run / "config.json").read_text())["resumed_from_epoch"] == ckpt["epoch"]


def test_sigint_saves_mid_epoch_and_resumes_exactly(teacher_file, tmp_path, uninterrupted):
    run = tmp_path / "run"
    proc = _start_and_signal(_args(teacher_file, run), run, signal.SIGINT)
    _, err = proc.communicate()
    assert proc.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    ckpt = _checkpoint(run)
    assert ckpt["epoch"] == 1 and ckpt["step_in_epoch"] > 0  # saved where it stopped, inside epoch 2

    resumed = subprocess.run([sys.executable, "-m", "dastat", "train", "--resume", str(run), "--no-progress",
                              "--threads", "1"], env=_env(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert _metrics(run) == uninterrupted
