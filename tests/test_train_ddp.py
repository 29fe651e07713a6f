"""``dastat train`` under ``torchrun`` with 2 CPU processes on gloo: each process takes its
share of the data (together, every image once), and rank 0 alone writes and prints."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import torch

from dastat import models

REPO = Path(__file__).resolve().parents[1]


def test_two_processes_on_gloo(tmp_path):
    teacher = tmp_path / "teacher.pth"
    torch.manual_seed(0)
    torch.save({"model": models.create_model("resnet8", num_classes=10, in_channels=1).state_dict(),
                "mean": [0.286], "std": [0.353]}, teacher)
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "dastat", "train", "--teacher", str(teacher), "--da", "cutmix", "--recipe", "quick",
           "--epochs", "1", "--subset", "256", "--test-subset", "100", "--batch-size", "32", "--device", "cpu",
           "--threads", "1", "--no-progress", "--out", str(run)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    # A session of its own, so that on a timeout the workers go down with torchrun.
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    assert proc.returncode == 0, stderr[-3000:]

    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1
    # 256 images over 2 processes of batch 32: 4 steps each, and the union covers every image once.
    assert rows[0]["steps"] == 4 and rows[0]["train_images"] == 256 and rows[0]["distinct_images"] == 256
    assert json.loads((run / "config.json").read_text())["world_size"] == 2
    # Only rank 0 wrote and printed: one epoch line, one summary, no stray files.
    assert stdout.count("epoch 1/1") == 1 and stdout.count("done in") == 1
    assert {p.name for p in run.iterdir()} == {"config.json", "metrics.csv", "metrics.csv.provenance.json",
                                               "metrics.jsonl", "checkpoint.pt",
                                               "student_best.pth", "student_final.pth"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "teacher.pth"]
