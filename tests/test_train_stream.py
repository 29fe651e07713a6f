"""``dastat train`` and ``dastat validate`` on data streamed from image files (``imagefolder:PATH``):
JPEG and PNG files of varied sizes, decoded batch by batch, never held in memory as a whole."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from dastat import models
from dastat.cli import main
from dastat.data import load_data
from dastat.teacher import load_teacher

CLASSES = ("ant", "bee", "cat")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """3 classes × (22 train + 4 val) images, JPEG and PNG, of varied sizes, plus a user's note.

    22 a class: the scorer needs one batch of 64 training images.
    """
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for split, n in (("train", 22), ("val", 4)):
        for c, name in enumerate(CLASSES):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                h, w = rng.integers(20, 60, size=2)
                pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
                pixels[..., c] //= 4  # a little class signal
                Image.fromarray(pixels).save(root / split / name / f"{i}.{'png' if i % 2 else 'jpg'}")
    (root / "README.txt").write_text("my images")
    return root


@pytest.fixture(scope="module")
def teacher_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("teacher") / "resnet8_3.pth"
    torch.save({"model": models.create_model("resnet8", num_classes=3).state_dict()}, path)
    return path


def _snapshot(root):
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_train_on_an_image_folder(folder, teacher_file, tmp_path, capsys):
    before = _snapshot(folder)
    spec = f"imagefolder:{folder},size=32"
    run = tmp_path / "run"
    code = main(["train", "--teacher", str(teacher_file), "--data", spec, "--da", "cutmix", "--recipe", "quick",
                 "--epochs", "1", "--max-steps", "2", "--batch-size", "4", "--workers", "0", "--threads", "1",
                 "--no-progress", "--out", str(run)])
    assert code == 0, capsys.readouterr().err
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["steps"] == 2 and rows[0]["train_images"] == 8
    assert rows[0]["distinct_images"] == 8 and np.isfinite(rows[0]["train_loss"])
    # The logged test metrics are those of the final student on the 12 validation images.
    data = load_data(spec)
    student = load_teacher(run / "student_final.pth", data=data)
    logits, labels = [], []
    with torch.no_grad():
        for x, y in data.test.batches(5):
            logits.append(student(x))
            labels.append(y)
    logits, labels = torch.cat(logits), torch.cat(labels)
    assert len(labels) == 12
    assert rows[0]["test_top1"] == pytest.approx(100 * (logits.argmax(1) == labels).float().mean().item())
    assert rows[0]["test_loss"] == pytest.approx(torch.nn.functional.cross_entropy(logits, labels).item(), rel=1e-5)
    assert json.loads((run / "config.json").read_text())["provenance"]["data"] == spec
    assert _snapshot(folder) == before


def test_validate_on_an_image_folder(folder, teacher_file, tmp_path, capsys):
    before = _snapshot(folder)
    out = tmp_path / "sweep"
    code = main(["validate", "--teacher", str(teacher_file), "--data", f"imagefolder:{folder},size=32",
                 "--da", "identity", "--da", "flip", "--da", "mixup", "--seeds", "1", "--epochs", "1",
                 "--max-steps", "1", "--batch-size", "4", "--max-images", "192", "--workers", "1", "--no-progress",
                 "--json", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    printed = json.loads(captured.out)  # stdout holds the JSON alone
    stored = json.loads((out / "results.json").read_text())
    assert printed["results"] == stored["results"] and printed["correlations"] == stored["correlations"]
    assert sorted(r["da"] for r in printed["results"]) == ["flip", "identity", "mixup"]
    assert all(r["t_stddev"] is not None for r in printed["results"]) and "test_loss" in printed["correlations"]
    for row in printed["results"]:
        final = json.loads((out / "runs" / row["da"] / "seed0" / "metrics.jsonl").read_text().splitlines()[-1])
        assert row["test_loss"] == pytest.approx(final["test_loss"]) and final["steps"] == 1
    assert _snapshot(folder) == before
