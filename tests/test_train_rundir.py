"""The run folder of ``dastat train`` never loses a user's file: a folder that is not a training
run is refused, a corrupt state file is named in one sentence, every file carries provenance
and gets the permissions of a plain ``open()``."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch

from dastat.cli import main
from dastat.errors import UserError
from dastat.kd import train
from dastat.provenance import file_sha256

FAST = dict(subset=128, test_subset=50, batch_size=32, recipe="quick", device="cpu")


@pytest.fixture(scope="module")
def finished_run(teacher_file, fmnist, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "run"
    train(run, teacher=str(teacher_file), data=fmnist, da="flip", epochs=1, max_steps=2, progress=False,
          command=["dastat", "train", "--out", str(run)], **FAST)
    return run


def _one_sentence(code: int, err: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_a_folder_with_user_files_is_refused_and_left_alone(tmp_path, teacher_file, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "metrics.csv").write_text("my,own\n1,2\n")
    (out / "notes.txt").write_text("keep me")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code = main(["train", "--teacher", str(teacher_file), "--out", str(out), "--no-progress", "--max-steps", "1"])
    err = capsys.readouterr().err
    _one_sentence(code, err)
    assert "not empty" in err and str(out) in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_an_empty_folder_is_used_and_no_bar_is_drawn_off_a_terminal(tmp_path, teacher_file, fmnist, capsys):
    out = tmp_path / "empty"
    out.mkdir()
    result = train(out, teacher=str(teacher_file), data=fmnist, epochs=1, max_steps=1, progress=True, **FAST)
    assert result.final["steps"] == 1 and (out / "checkpoint.pt").is_file()
    assert capsys.readouterr().err == ""  # progress bars show on a terminal only


def test_provenance_and_permissions(finished_run, teacher_file):
    config = json.loads((finished_run / "config.json").read_text())
    p = config["provenance"]
    assert config["kind"] == "dastat train" and config["command"] == f"dastat train --out {finished_run}"
    assert p["command"] == config["command"] and p["seed"] == 0 and p["batch_size"] == 32
    assert p["teacher_sha256"] == file_sha256(teacher_file) and p["student"] == "resnet8"
    assert p["recipe"] == "quick" and p["da"] == "flip" and p["torch"] == torch.__version__.split("+")[0]
    sidecar = json.loads((finished_run / "metrics.csv.provenance.json").read_text())
    assert sidecar["provenance"] == p
    mask = os.umask(0)
    os.umask(mask)
    for path in finished_run.iterdir():
        if path.is_file():
            assert path.stat().st_mode & 0o777 == 0o666 & ~mask, path.name


def test_a_run_stopped_before_its_first_checkpoint_starts_over(finished_run, tmp_path, teacher_file, fmnist):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    (run / "checkpoint.pt").unlink()  # as if killed between the first metrics and the first checkpoint
    result = train(run, teacher=str(teacher_file), data=fmnist, da="flip", epochs=1, max_steps=1, progress=False,
                   **FAST)
    assert result.final["steps"] == 1 and (run / "checkpoint.pt").is_file()
    # ... but not once a file of someone else's is among its files.
    (run / "checkpoint.pt").unlink()
    (run / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        train(run, teacher=str(teacher_file), data=fmnist, epochs=1, max_steps=1, progress=False, **FAST)


def _damage(path, how: str) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if how == "truncated" else b"\x00\xffnot what it was" + data[::7])


@pytest.mark.parametrize("how", ["truncated", "garbled"])
@pytest.mark.parametrize("name", ["checkpoint.pt", "config.json"])
def test_a_damaged_state_file_is_named_in_one_sentence(finished_run, tmp_path, capsys, name, how):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    _damage(run / name, how)
    code = main(["train", "--resume", str(run), "--no-progress"])
    err = capsys.readouterr().err
    _one_sentence(code, err)
    assert str(run / name) in err and f"delete {run}" in err


def test_resuming_a_finished_run_touches_nothing(finished_run, capsys):
    before = {p.name: p.read_bytes() for p in finished_run.iterdir() if p.is_file()}
    code = main(["train", "--resume", str(finished_run), "--no-progress"])
    err = capsys.readouterr().err
    _one_sentence(code, err)
    assert "already finished" in err
    assert before == {p.name: p.read_bytes() for p in finished_run.iterdir() if p.is_file()}
