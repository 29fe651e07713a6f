"""Every result says how it was made: provenance in score/rank/correlate output, and --version."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import dastat
from dastat.cli import main

KEYS = ("dastat", "torch", "torchvision", "python", "device", "command", "seed", "batch_size", "protocol",
        "teacher", "teacher_sha256", "data")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A two-class image folder and a resnet8 teacher for it."""
    from PIL import Image

    from dastat import models

    w = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (w / "folder" / cls).mkdir(parents=True)
        for i in range(8):
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(w / "folder" / cls / f"{i}.png")
    torch.manual_seed(0)
    torch.save(models.create_model("resnet8", num_classes=2).state_dict(), w / "t.pth")
    return w


def _argv(tiny: Path, *extra: str) -> list[str]:
    return ["--data", f"imagefolder:{tiny}/folder,size=16", "--teacher", str(tiny / "t.pth"), "--batch-size", "4",
            "--max-images", "8", "--seed", "3", "--no-progress", "--device", "cpu", *extra]


def _check(record: dict, tiny: Path, command: str) -> None:
    import hashlib

    for key in KEYS:
        assert key in record, key
    from importlib.metadata import version

    assert record["dastat"] == dastat.__version__ and record["torch"] == version("torch")
    assert record["seed"] == 3 and record["batch_size"] == 4 and record["device"] == "cpu"
    assert record["protocol"]["name"] == "fast" and record["protocol"]["max_images"] == 8
    assert record["teacher_sha256"] == hashlib.sha256((tiny / "t.pth").read_bytes()).hexdigest()
    assert record["data"] == f"imagefolder:{tiny}/folder,size=16"
    assert record["command"].startswith(f"dastat {command} ")


def test_score_json_file_carries_provenance_and_results(tiny, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["score", "--da", "identity", "--da", "flip", *_argv(tiny, "--out", str(out))]) == 0
    written = json.loads(out.read_text())
    _check(written["provenance"], tiny, "score")
    assert [r["da"] for r in written["results"]] == ["identity", "flip"]


def test_rank_csv_gets_a_sidecar_and_stdout_json_an_object(tiny, tmp_path, capsys):
    out = tmp_path / "r.csv"
    assert main(["rank", "--da", "identity", "--da", "flip", "--student", "resnet8", "--json",
                 *_argv(tiny, "--out", str(out))]) == 0
    printed = json.loads(capsys.readouterr().out)
    _check(printed["provenance"], tiny, "rank")
    assert printed["provenance"]["student"].startswith("resnet8")
    sidecar = json.loads((tmp_path / "r.csv.provenance.json").read_text())["provenance"]
    _check(sidecar, tiny, "rank")
    assert out.read_text().splitlines()[0].split(",")[0] == "da"
    # The readers take the new object as they took the old list.
    (tmp_path / "r.json").write_text(json.dumps(printed))
    assert main(["correlate", str(tmp_path / "r.json"), "--x", "t_stddev", "--y", "teacher_entropy"]) == 2
    assert "3 pairs" in capsys.readouterr().err


def test_readers_accept_old_lists_and_new_objects(tmp_path, capsys):
    rows = [{"da": d, "t_stddev": x, "test_loss": y} for d, x, y in
            (("a", 0.1, 1.0), ("b", 0.2, 1.3), ("c", 0.3, 1.2), ("d", 0.4, 1.9))]
    (tmp_path / "old.json").write_text(json.dumps(rows))
    (tmp_path / "new.json").write_text(json.dumps({"provenance": {"dastat": "0"}, "results": rows}))
    outputs = []
    for name in ("old.json", "new.json"):
        assert main(["correlate", str(tmp_path / name), "--x", "t_stddev", "--y", "test_loss", "--json",
                     "--resamples", "0"]) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    for key in ("dastat", "python", "command", "seed"):
        assert key in outputs[0]["provenance"]
    first, second = outputs[0]["results"][0], outputs[1]["results"][0]
    assert first["pearson"] == second["pearson"]
    from scipy.stats import pearsonr

    assert first["pearson"] == pytest.approx(pearsonr([0.1, 0.2, 0.3, 0.4], [1.0, 1.3, 1.2, 1.9]).statistic)


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"dastat {dastat.__version__}"


def test_markdown_report_ends_with_the_provenance(tiny, tmp_path, capsys):
    report = tmp_path / "r.md"
    assert main(["rank", "--da", "identity", "--da", "flip", *_argv(tiny, "--report", str(report))]) == 0
    text = report.read_text()
    block = text.split("## Provenance", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    _check(json.loads(block), tiny, "rank")
