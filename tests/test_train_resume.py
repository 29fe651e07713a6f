"""Fault tolerance of ``dastat train``, on real processes: SIGKILL mid-epoch then ``--resume``,
and SIGINT/SIGTERM (which save where they stopped), all ending with exactly the metrics of
an uninterrupted run of the same seed (CPU).

The signals are sent by the training process itself, from the ``on_step`` callback after a
chosen step of epoch 2, so they land at the same step on any machine, however loaded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch


REPO = Path(__file__).resolve().parents[1]
# Timing columns are the only ones allowed to differ between an interrupted run and a whole one.
TIMING = {"images_per_s", "epoch_seconds"}

# The options of _args below as train() keywords; the hook signals the process after step 3 of epoch 2.
SIGNAL_AT_STEP = """
import os, signal, sys
import torch
from dastat.kd import TrainingInterrupted, train
torch.set_num_threads(1)
teacher, out, sig = sys.argv[1], sys.argv[2], int(sys.argv[3])
def hook(epoch, step):
    if epoch == 1 and step == 3:
        os.kill(os.getpid(), sig)
try:
    train(out, teacher=teacher, da="cutmix", recipe="quick", epochs=2, subset=512, test_subset=100,
          batch_size=64, seed=3, progress=False, on_step=hook)
except TrainingInterrupted as exc:
    print(f"dastat: {exc}", file=sys.stderr)
    sys.exit(130)
"""


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


def _signalled_run(teacher_file: Path, run: Path, sig: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SIGNAL_AT_STEP, str(teacher_file), str(run), str(int(sig))],
                          env=_env(), capture_output=True, text=True, timeout=300)


def _resume(run: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dastat", "train", "--resume", str(run), "--no-progress",
                           "--threads", "1"], env=_env(), capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def uninterrupted(teacher_file, tmp_path_factory):
    run = tmp_path_factory.mktemp("whole") / "run"
    done = subprocess.run(_args(teacher_file, run), env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return _metrics(run)


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(teacher_file, tmp_path, uninterrupted):
    run = tmp_path / "run"
    proc = _signalled_run(teacher_file, run, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    ckpt = _checkpoint(run)
    # Only the epoch in progress was lost: the checkpoint is the end of epoch 1.
    assert ckpt["epoch"] == 1 and ckpt["step_in_epoch"] == 0
    assert len(_metrics(run)) == ckpt["epoch"]
    assert not list(run.glob(".*.tmp")), "a temporary file survived the kill"
    command = json.loads((run / "config.json").read_text())["command"]

    resumed = _resume(run)
    assert resumed.returncode == 0, resumed.stderr
    assert _metrics(run) == uninterrupted
    config = json.loads((run / "config.json").read_text())
    assert config["resumed_from_epoch"] == 1 and config["command"] == command
    assert [r["epoch"] for r in config["resumes"]] == [1] and "--resume" in config["resumes"][0]["command"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_saves_mid_epoch_and_resumes_exactly(teacher_file, tmp_path, uninterrupted, sig):
    run = tmp_path / "run"
    proc = _signalled_run(teacher_file, run, sig)
    assert proc.returncode == 130, proc.stderr
    assert "--resume" in proc.stderr and "Traceback" not in proc.stderr
    ckpt = _checkpoint(run)
    assert ckpt["epoch"] == 1 and ckpt["step_in_epoch"] == 3  # saved exactly where it stopped

    resumed = _resume(run)
    assert resumed.returncode == 0, resumed.stderr
    assert _metrics(run) == uninterrupted

    # Resuming the finished run changes nothing and says so in one sentence.
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    again = _resume(run)
    assert again.returncode == 2 and "already finished" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert before == {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
