"""The design card's command: ``dastat score --teacher resnet56.pt --da cutmix`` with no ``--data``.

A RepDistiller checkpoint stores neither its data nor its normalisation; its shape (100
classes, 3 channels) says CIFAR-100, read from torchvision's layout under ``./data``
(or ``$DASTAT_DATA``). Each test writes that layout itself, in a temporary folder.
"""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest
import torch

from dastat import models
from dastat.cli import main
from dastat.teacher import load_teacher

# Published per-channel statistics of the CIFAR training sets (the constants RepDistiller uses).
CIFAR100_MEAN, CIFAR100_STD = [0.5071, 0.4867, 0.4408], [0.2675, 0.2565, 0.2761]
CIFAR10_MEAN = [0.4914, 0.4822, 0.4465]


def write_cifar100(root, n_train=192, n_test=32, seed=0):
    """``root/cifar-100-python/{train,test,meta}`` as torchvision's CIFAR100 writes them."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for name, n in (("train", n_train), ("test", n_test)):
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
                         b"fine_labels": rng.integers(0, 100, size=n).tolist()}, f)
    with open(folder / "meta", "wb") as f:
        pickle.dump({b"fine_label_names": [f"c{i}".encode() for i in range(100)]}, f)


@pytest.fixture
def workdir(tmp_path, monkeypatch, reference_dir):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DASTAT_DATA", raising=False)
    shutil.copy(reference_dir / "repdistiller" / "resnet56_vanilla" / "ckpt_epoch_240.pth", tmp_path / "resnet56.pt")
    return tmp_path


def test_score_without_data_scores_on_cifar100(workdir, capsys):
    write_cifar100(workdir / "data")
    code = main(["score", "--teacher", "resnet56.pt", "--da", "cutmix", "--max-images", "128", "--json",
                 "--no-progress", "--device", "cpu"])
    out, err = capsys.readouterr()
    assert code == 0, err
    [result] = json.loads(out)["results"]
    assert result["data"] == "cifar100:./data"
    assert result["mean"] == pytest.approx(CIFAR100_MEAN) and result["std"] == pytest.approx(CIFAR100_STD)
    assert result["resolution"] == 32 and result["base_view"] == "pad-crop-flip"
    assert result["n_images"] == 128
    said = [line for line in err.splitlines() if "no --data given" in line]
    assert len(said) == 1 and "CIFAR-100" in said[0] and "./data" in said[0]


def test_missing_cifar100_names_the_folder_and_the_flag(workdir, capsys):
    code = main(["score", "--teacher", "resnet56.pt", "--da", "cutmix", "--no-progress", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2
    message = err.strip().splitlines()[-1]
    assert message.startswith("dastat: error:") and "data" in message and "--download" in message
    assert "Traceback" not in err


def test_dastat_data_sets_the_default_root(workdir, monkeypatch, capsys):
    write_cifar100(workdir / "elsewhere")
    monkeypatch.setenv("DASTAT_DATA", str(workdir / "elsewhere"))
    code = main(["score", "--teacher", "resnet56.pt", "--da", "identity", "--max-images", "64", "--json",
                 "--no-progress", "--device", "cpu"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["results"][0]["data"] == f"cifar100:{workdir / 'elsewhere'}"


def test_load_teacher_without_data_infers_the_normalisation(workdir):
    teacher = load_teacher("resnet56.pt")
    assert teacher.meta["normalisation"] == "inferred (cifar100)"
    assert teacher.mean.flatten().tolist() == pytest.approx(CIFAR100_MEAN)
    torch.save({"model": models.create_model("resnet8", num_classes=10).state_dict()}, workdir / "ten.pth")
    assert load_teacher(workdir / "ten.pth").mean.flatten().tolist() == pytest.approx(CIFAR10_MEAN)


def test_a_teacher_of_unknown_shape_asks_for_data(workdir, capsys):
    torch.save({"model": models.create_model("resnet8", num_classes=37).state_dict()}, workdir / "odd.pth")
    code = main(["score", "--teacher", "odd.pth", "--da", "cutmix", "--no-progress", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "37 classes" in err and "--data" in err
