"""An ImageNet-class teacher as its authors run it, on a folder of JPEGs of varied sizes.

A torchvision resnet18 with random weights saved to a local file (no download) stands in
for a user's teacher. ``rank`` must feed it 224×224 images normalised with ImageNet's
mean and std (what ``ResNet18_Weights.DEFAULT.transforms()`` does), and ``train`` and
``validate`` must run on the same streamed folder.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

import dastat
from dastat.cli import main

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLASSES = ("n01440764", "n01443537", "n01484850")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """ImageNet-style train/ and val/ folders: JPEGs from 40 to 300 pixels a side, none square."""
    root = tmp_path_factory.mktemp("imagenet")
    rng = np.random.default_rng(1)
    for split, n in (("train", 22), ("val", 3)):
        for name in CLASSES:
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                h, w = rng.integers(40, 300, size=2)
                w = w + 1 if w == h else w
                Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)).save(
                    root / split / name / f"img{i}.JPEG", quality=90)
    return root


@pytest.fixture(scope="module")
def teacher_spec(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18_random.pth"
    torch.save(torchvision.models.resnet18(weights=None, num_classes=len(CLASSES)).state_dict(), path)
    return f"torchvision:resnet18:{path}"


def test_rank_feeds_the_teacher_224px_imagenet_normalised_images(folder, teacher_spec):
    teacher = dastat.load_teacher(teacher_spec, data=f"imagefolder:{folder}")
    seen = []  # ("in", what the teacher was given) and ("net", what reached the bare network)
    pre = teacher.register_forward_pre_hook(lambda m, args: seen.append(("in", args[0].detach().clone())))
    inner = teacher.model.register_forward_pre_hook(lambda m, args: seen.append(("net", args[0].detach().clone())))
    try:
        ranking = dastat.rank(["identity", "cutmix"], teacher, f"imagefolder:{folder}", max_images=64,
                              batch_size=32, device="cpu")
    finally:
        pre.remove()
        inner.remove()
    given = [x for tag, x in seen if tag == "in"]
    reached = [x for tag, x in seen if tag == "net"]
    assert given and len(given) == len(reached)
    assert all(x.shape[1:] == (3, 224, 224) for x in reached)
    # Independent of dastat: ImageNet's constants, applied to what the teacher was handed.
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    for x, z in zip(given, reached):
        x = x.float() / 255 if x.dtype == torch.uint8 else x
        torch.testing.assert_close(z, (x - mean) / std, rtol=1e-5, atol=1e-5)
    for result in ranking:
        assert result.extra["resolution"] == 224 and result.extra["base_view"] == "resized-crop-flip"
        assert result.extra["mean"] == pytest.approx(IMAGENET_MEAN) and result.extra["std"] == pytest.approx(IMAGENET_STD)


def test_cli_rank_records_the_resolution(folder, teacher_spec, capsys):
    code = main(["rank", "--teacher", teacher_spec, "--data", f"imagefolder:{folder}", "--da", "identity",
                 "--da", "flip", "--max-images", "64", "--batch-size", "32", "--no-progress", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    printed = json.loads(captured.out)
    assert {r["resolution"] for r in printed["results"]} == {224}
    assert printed["provenance"]["teacher"].startswith("torchvision:resnet18")


def test_train_and_validate_on_the_same_folder(folder, teacher_spec, tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["train", "--teacher", teacher_spec, "--data", f"imagefolder:{folder}", "--student", "resnet8",
                 "--da", "cutmix", "--recipe", "quick", "--epochs", "1", "--max-steps", "2", "--batch-size", "4",
                 "--workers", "0", "--no-progress", "--out", str(run)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    row = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["steps"] == 2 and np.isfinite(row["train_loss"]) and np.isfinite(row["test_loss"])

    sweep = tmp_path / "sweep"
    code = main(["validate", "--teacher", teacher_spec, "--data", f"imagefolder:{folder}", "--student", "resnet8",
                 "--da", "identity", "--da", "cutmix", "--seeds", "1", "--epochs", "1", "--max-steps", "1",
                 "--batch-size", "4", "--max-images", "128", "--workers", "0", "--no-progress", "--json",
                 "--out", str(sweep)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    rows = json.loads(captured.out)["results"]
    assert sorted(r["da"] for r in rows) == ["cutmix", "identity"]
    assert all(r["t_stddev"] is not None and np.isfinite(r["test_loss"]) for r in rows)
