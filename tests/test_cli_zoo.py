"""``dastat zoo list`` / ``dastat zoo inspect`` and the shared teacher arguments."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

from dastat import models
from dastat.cli import main
from dastat.cli.common import add_teacher_arguments, teacher_from_args
from dastat.errors import UserError


@pytest.fixture
def small_ckpt(tmp_path):
    torch.manual_seed(0)
    net = models.create_model("resnet8", num_classes=10)
    torch.save({"model": net.state_dict(), "epoch": 12, "best_acc": 88.5}, tmp_path / "ckpt.pth")
    return net, tmp_path / "ckpt.pth"


def test_zoo_list_shows_every_architecture_with_manifest_counts(capsys, reference_dir):
    manifest = json.loads((reference_dir / "repdistiller" / "manifest.json").read_text())
    assert main(["zoo", "list"]) == 0
    out = capsys.readouterr().out
    for arch, entry in manifest.items():
        assert any(line.split() == [arch, f"{entry['params']:,}"] for line in out.splitlines()), arch


def test_zoo_list_json(capsys, reference_dir):
    manifest = json.loads((reference_dir / "repdistiller" / "manifest.json").read_text())
    assert main(["zoo", "list", "--json"]) == 0
    assert {row["arch"]: row["params"] for row in json.loads(capsys.readouterr().out)} == \
        {arch: entry["params"] for arch, entry in manifest.items()}


def test_zoo_inspect_reference(capsys, reference_dir):
    path = reference_dir / "repdistiller" / "resnet56_vanilla" / "ckpt_epoch_240.pth"
    assert main(["zoo", "inspect", str(path)]) == 0
    fields = dict(line.split(":", 1) for line in capsys.readouterr().out.splitlines())
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    assert fields["format"] == "RepDistiller/CRD checkpoint"
    assert fields["architecture"] == "resnet56"
    assert fields["classes"] == "100" and fields["input channels"] == "3"
    assert fields["parameters"] == "861,620"
    assert fields["epoch"] == "240" and fields["accuracy"] == "72.34"
    assert fields["ignored entries"] == "optimizer"


def test_zoo_inspect_json(capsys, small_ckpt):
    _, path = small_ckpt
    assert main(["zoo", "inspect", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["arch"], info["num_classes"], info["in_channels"]) == ("resnet8", 10, 3)
    assert info["extras"] == {"epoch": 12, "best_acc": 88.5}


def test_zoo_inspect_pickled_module_needs_the_flag(capsys, small_ckpt, tmp_path):
    net, _ = small_ckpt
    torch.save(net, tmp_path / "whole.pt")
    assert main(["zoo", "inspect", str(tmp_path / "whole.pt")]) == 2
    err = capsys.readouterr().err
    assert "--trust-checkpoint" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["zoo", "inspect", str(tmp_path / "whole.pt"), "--trust-checkpoint"]) == 0
    out = capsys.readouterr().out
    assert "pickled module" in out and "resnet8" in out


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage"])
def test_zoo_inspect_bad_file(capsys, tmp_path, content):
    (tmp_path / "bad.pth").write_bytes(content)
    assert main(["zoo", "inspect", str(tmp_path / "bad.pth")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dastat: error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_teacher_arguments(small_ckpt):
    net, path = small_ckpt
    parser = argparse.ArgumentParser()
    add_teacher_arguments(parser)
    args = parser.parse_args(["--teacher", str(path), "--mean", "0.5", "0.5", "0.5", "--std", "0.25", "0.25", "0.25"])
    assert args.arch is None and args.trust_checkpoint is False
    teacher = teacher_from_args(args, data="cifar10")
    assert teacher.arch == "resnet8" and teacher.mean.flatten().tolist() == [0.5] * 3
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(teacher(x), net.eval()((x - 0.5) / 0.25), atol=1e-5)
    args = parser.parse_args(["--teacher", str(path), "--arch", "resnet14"])
    with pytest.raises(UserError, match="do not fit resnet14"):
        teacher_from_args(args, data="cifar10")
