"""score/rank end to end on the bundled teacher: protocols, common random numbers, torchrun, CLI errors."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import dastat
from dastat.augment import create
from dastat.cli import main
from dastat.errors import UserError

REPO = Path(__file__).resolve().parents[1]
JSON_KEYS = {"da", "t_stddev", "t_stddev_ci", "teacher_entropy", "protocol", "n_forward", "seconds"}


@pytest.fixture(scope="module")
def small(fmnist):
    """6,400 training images: big enough for meaningful intervals, small enough for make test."""
    return fmnist.subset(train=6400, test=500)


def test_score_result_fields_and_json(small, bundled_teacher):
    result = dastat.score("cutmix", bundled_teacher, small, max_images=1024)
    record = json.loads(dastat.Ranking([result]).to_json())[0]
    assert JSON_KEYS <= set(record)
    lo, hi = record["t_stddev_ci"]
    assert lo < record["t_stddev"] < hi
    assert record["protocol"] == "fast" and record["n_forward"] == 2 * 1024
    assert result.unit == "block"  # CutMix draws one box per batch: the batch is the unit
    # a deterministic DA's views are independent given their images: pairs are the unit
    assert dastat.score("flip", bundled_teacher, small, max_images=1024).unit == "pair"


def test_same_seed_same_numbers_and_common_random_numbers(small, bundled_teacher):
    a = dastat.score("mixup", bundled_teacher, small, max_images=1024, precision=1e-6, seed=3)
    b = dastat.score("mixup", bundled_teacher, small, max_images=1024, precision=1e-6, seed=3)
    assert a.t_stddev == b.t_stddev and a.t_stddev_ci == b.t_stddev_ci
    # Every block's base view and draw depend only on (seed, block, DA): scoring a DA
    # alone or within a ranking gives the same number.
    ranking = dastat.rank(["identity", "mixup"], bundled_teacher, small, max_images=1024, precision=1e-6, seed=3)
    assert {r.da: r.t_stddev for r in ranking}["mixup"] == a.t_stddev
    c = dastat.score("mixup", bundled_teacher, small, max_images=1024, precision=1e-6, seed=4)
    assert c.t_stddev != a.t_stddev


def test_fast_protocol_lies_inside_the_paper_protocols_interval(small, bundled_teacher):
    """All nine DAs: the fast estimate falls in the paper protocol's own 95% interval (subset of 6,400 images)."""
    paper = dastat.rank(None, bundled_teacher, small, student="resnet8", protocol="paper", epochs=1, seed=1)
    fast = dastat.rank(None, bundled_teacher, small, student="resnet8", max_images=6400, seed=2)
    assert len(paper) == len(fast) == 9
    fast_by_da = {r.da: r for r in fast}
    outside = []
    for r in paper:
        assert r.n_units == 20 and r.unit == "group"  # 6,400 images = 20 groups of 320
        lo, hi = r.t_stddev_ci
        if not lo <= fast_by_da[r.da].t_stddev <= hi:
            outside.append((r.da, fast_by_da[r.da].t_stddev, (lo, hi)))
    assert not outside


def test_paper_protocol_matches_the_formula_on_recorded_groups(small, bundled_teacher):
    """Recompute the paper protocol by hand for identity: group means of 320 images, sd per class."""
    data = small.subset(train=1280)
    result = dastat.score("identity", bundled_teacher, data, protocol="paper", epochs=1, seed=5)
    from dastat.augment.functional import base_view
    from dastat.scoring import _stable_seed

    gen = torch.Generator().manual_seed(_stable_seed(5, "epoch", 0))
    probs = []
    with torch.inference_mode():
        for k, (x, _) in enumerate(data.train.batches(64, shuffle=True, generator=gen)):
            x = base_view(x, torch.Generator().manual_seed(_stable_seed(5, k)))
            probs.append(torch.softmax(bundled_teacher(x), -1).double())
    groups = torch.cat(probs).view(4, 320, 10).mean(1)
    expected = groups.std(0, unbiased=True).mean().item()
    assert result.t_stddev == pytest.approx(expected, rel=1e-6)
    assert result.n_units == 4


def test_identical_das_with_different_seeds_are_rarely_called_distinct(small, bundled_teacher):
    """The neighbour test's false-positive rate over repeated rankings stays near the 5% level."""
    rejections, trials = 0, 12
    for trial in range(trials):
        a, b = create("cutmix"), create("cutmix")
        a.spec, b.spec = "cutmix#a", "cutmix#b"  # same DA, different random draws
        ranking = dastat.rank([a, b], bundled_teacher, small, max_images=2048, precision=1e-6, seed=100 + trial)
        rejections += bool(ranking[0].extra["distinct_from_next"])
    # binomial(12, 0.05): 3 or more false positives happens with probability 2%
    assert rejections <= 2


def test_torchrun_two_processes_agree_with_one(tmp_path, bundled_teacher, fmnist):
    args = ["score", "--da", "cutmix", "--max-images", "2048", "--precision", "0.000001", "--json",
            "--no-progress", "--device", "cpu"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "dastat", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    two = json.loads(done.stdout)["results"]  # rank 0 alone printed one JSON object
    one = dastat.score("cutmix", bundled_teacher, fmnist, max_images=2048, precision=1e-6, device="cpu")
    assert len(two) == 1 and two[0]["n_forward"] == one.n_forward == 4096
    assert two[0]["t_stddev"] == pytest.approx(one.t_stddev, rel=1e-9)
    lo, hi = one.t_stddev_ci
    assert lo <= two[0]["t_stddev"] <= hi


# --- the CLI -----------------------------------------------------------------------------


def test_cli_rank_json(capsys):
    code = main(["rank", "--da", "identity", "--da", "cutout", "--max-images", "1024", "--json", "--no-progress"])
    assert code == 0
    records = json.loads(capsys.readouterr().out)["results"]
    assert [set(JSON_KEYS) <= set(r) for r in records] == [True, True]
    assert records[0]["t_stddev"] <= records[1]["t_stddev"]
    assert {"distinct_from_next", "ce_cov_t", "affinity", "kl_view", "order_violation"} <= set(records[0])


def test_cli_table_out_and_report(tmp_path, capsys):
    out, report = tmp_path / "r.csv", tmp_path / "r.md"
    code = main(["rank", "--da", "flip", "--da", "mixup", "--max-images", "1024", "--no-progress",
                 "--out", str(out), "--report", str(report)])
    assert code == 0
    text = capsys.readouterr().out
    assert "T. stddev" in text and "mixup" in text and "flip" in text
    assert out.read_text().splitlines()[0].startswith("da,t_stddev")
    assert "## What the columns mean" in report.read_text()


@pytest.mark.parametrize("argv, message", [
    (["score", "--da", "cutmixx"], "cutmix"),
    (["score", "--da", "cutmix_pick_s"], "needs a student"),
    (["score", "--da", "cutmix", "--teacher", "/nonexistent/t.pth"], "does not exist"),
    (["score", "--da", "cutmix", "--data", "cifar10:/nonexistent"], "--download"),
    (["rank", "--by", "ce_cov"], "needs a student"),
])
def test_cli_user_errors_exit_2_without_traceback(argv, message, capsys):
    assert main(argv + ["--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_cli_corrupt_teacher_file(tmp_path, capsys):
    bad = tmp_path / "t.pth"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    assert main(["score", "--da", "flip", "--teacher", str(bad), "--no-progress"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def _cifar_root(tmp_path, name: str, n: int = 128) -> Path:
    import pickle

    rng = np.random.default_rng(0)
    if name == "cifar100":
        folder, files, key, classes = tmp_path / "cifar-100-python", ["train", "test"], "fine_labels", 100
    else:
        folder, key, classes = tmp_path / "cifar-10-batches-py", "labels", 10
        files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    folder.mkdir(parents=True)
    for fname in files:
        with open(folder / fname, "wb") as f:
            pickle.dump({b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                         key.encode(): rng.integers(0, classes, n).tolist()}, f)
    return tmp_path


def test_teacher_data_mismatch_is_a_user_error(tmp_path, capsys):
    root = _cifar_root(tmp_path, "cifar10")
    assert main(["score", "--da", "flip", "--data", f"cifar10:{root}", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "channel" in err and "Traceback" not in err


def test_repdistiller_teacher_on_cifar100_without_arch(tmp_path, reference_dir, capsys):
    root = _cifar_root(tmp_path, "cifar100", n=256)
    ckpt = reference_dir / "repdistiller" / "resnet56_vanilla" / "ckpt_epoch_240.pth"
    code = main(["score", "--teacher", str(ckpt), "--data", f"cifar100:{root}", "--da", "cutmix",
                 "--max-images", "256", "--json", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    record = json.loads(capsys.readouterr().out)["results"][0]
    assert record["da"] == "cutmix" and record["n_forward"] == 512
    assert "resnet56" in record["teacher"]
