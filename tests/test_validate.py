"""dastat validate: the sweep writes one table, correlates, and resumes without redoing work."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from scipy import stats

from dastat.cli import main
from dastat.errors import UserError
from dastat.validate import validate

TINY = {"subset": 256, "test_subset": 200, "max_steps": 2, "batch_size": 32, "epochs": 1}


def test_validate_writes_the_table_and_resumes(tmp_path, capsys):
    out = tmp_path / "sweep"
    das = ["identity", "flip", "mixup"]
    result = validate(out, das=das, seeds=2, train_options=TINY, score_options={"max_images": 512},
                      progress=False, log=lambda *_: None)
    table = pd.read_csv(out / "results.csv")
    assert list(table["da"]) == sorted(das, key=lambda d: table.set_index("da").loc[d, "t_stddev"])
    assert set(table.columns) >= {"da", "t_stddev", "t_stddev_ci_low", "t_stddev_ci_high", "test_loss",
                                  "test_loss_std", "test_acc", "test_acc_std", "n_seeds"}
    assert (table["n_seeds"] == 2).all()
    # the students' numbers are the means over their run folders' final rows
    for da in das:
        finals = [json.loads((out / "runs" / da / f"seed{s}" / "metrics.jsonl").read_text().splitlines()[-1])
                  for s in range(2)]
        row = table.set_index("da").loc[da]
        assert row["test_loss"] == pytest.approx(sum(f["test_loss"] for f in finals) / 2)
        assert row["test_acc"] == pytest.approx(sum(f["test_top1"] for f in finals) / 2)
    c = result.correlations["test_loss"]
    assert c["pearson"] == pytest.approx(stats.pearsonr(table["t_stddev"], table["test_loss"])[0])

    # A rerun skips the score and every finished run.
    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("student_final.pth")}
    logged = []
    validate(out, das=das, seeds=2, train_options=TINY, score_options={"max_images": 512}, progress=False,
             log=logged.append)
    assert sum("already finished" in line for line in logged) == 6 and "reusing" in logged[0]
    assert stamps == {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("student_final.pth")}

    with pytest.raises(UserError, match="different options"):
        validate(out, das=das, seeds=3, train_options=TINY, progress=False, log=lambda *_: None)


def test_validate_cli_prints_correlations(tmp_path, capsys):
    code = main(["validate", "--da", "identity", "--da", "cutout", "--da", "cutmix", "--seeds", "1",
                 "--out", str(tmp_path / "v"), "--subset", "256", "--test-subset", "200", "--max-steps", "2",
                 "--batch-size", "32", "--epochs", "1", "--max-images", "512", "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert "T. stddev vs test_loss over 3 DAs" in out and "results.csv" in out


# --- the sweep folder: never a user's files, damaged files in one sentence, provenance -------------


SMALL = dict(das=["identity", "flip", "mixup"], seeds=1, train_options={**TINY, "max_steps": 1},
             score_options={"max_images": 256}, progress=False)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweeps") / "sweep"
    validate(out, log=lambda *_: None, command="dastat validate --out sweep", **SMALL)
    return out


def test_provenance_of_every_file(sweep):
    for name in ("validate.json", "scores.json", "results.json"):
        record = json.loads((sweep / name).read_text())["provenance"]
        assert record["command"] == "dastat validate --out sweep" and record["seeds"] == 1
        assert record["batch_size"] == 32 and record["protocol"] == "fast" and record["student"] == "resnet8"
    sidecar = json.loads((sweep / "results.csv.provenance.json").read_text())["provenance"]
    assert sidecar == json.loads((sweep / "results.json").read_text())["provenance"]


def test_a_folder_with_user_files_is_refused(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "results.csv").write_text("da,score\nmine,1\n")
    code = main(["validate", "--da", "identity", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "not empty" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert [p.name for p in out.iterdir()] == ["results.csv"] and (out / "results.csv").read_text() == "da,score\nmine,1\n"


@pytest.mark.parametrize("how", ["truncated", "garbled"])
@pytest.mark.parametrize("name", ["validate.json", "scores.json", "runs/flip/seed0/metrics.jsonl"])
def test_a_damaged_file_is_named_in_one_sentence(sweep, tmp_path, name, how):
    out = tmp_path / "sweep"
    shutil.copytree(sweep, out)
    path = out / name
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if how == "truncated" else b"\x00\xff" + data[::-3])
    with pytest.raises(UserError) as info:
        validate(out, log=lambda *_: None, **SMALL)
    message = str(info.value)
    assert str(path) in message and "delete" in message and "\n" not in message


def test_json_prints_the_results(sweep, tmp_path, capsys):
    out = tmp_path / "sweep"
    shutil.copytree(sweep, out)
    code = main(["validate", "--da", "identity", "--da", "flip", "--da", "mixup", "--seeds", "1", "--out", str(out),
                 "--subset", "256", "--test-subset", "200", "--max-steps", "1", "--batch-size", "32", "--epochs", "1",
                 "--max-images", "256", "--no-progress", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    printed = json.loads(captured.out)
    table = pd.read_csv(out / "results.csv")
    assert printed["provenance"]["command"].startswith("dastat validate")
    assert [r["da"] for r in printed["results"]] == list(table["da"])
    assert [r["test_loss"] for r in printed["results"]] == pytest.approx(list(table["test_loss"]))
    c = printed["correlations"]["test_loss"]
    assert c["spearman"] == pytest.approx(stats.spearmanr(table["t_stddev"], table["test_loss"])[0])
