"""dastat validate: the sweep writes one table, correlates, and resumes without redoing work."""

from __future__ import annotations

import json

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
