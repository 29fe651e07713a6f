"""Nothing silent: every result that cannot mean what it seems to says so, in one sentence.

A degenerate teacher, DAs left out or without a value, budgets that cut a DA or a race
short, a best at the edge of its grid, a checkpoint whose recorded accuracy differs
from the measured one, intervals of non-negative statistics, one JSON shape, ``~`` in
paths, and progress in a log. Expected values are computed here by hand or from the
written JSON, never by the code under test.
"""

from __future__ import annotations

import io
import json
import math
import warnings

import pytest
import torch

import dastat
from dastat import models
from dastat.cli import main
from dastat.errors import DastatWarning
from dastat.scoring import ScoreConfig
from dastat.scoring.degenerate import PROBE_BLOCKS, DegenerateTeacherWarning
from dastat.scoring.intervals import bounded_interval
from dastat.scoring.protocols import budget_blocks
from dastat.scoring.race import look_schedule
from dastat.scoring.race_report import grid_edges

FMNIST_MEAN, FMNIST_STD = [0.286], [0.353]


def _checkpoint(path, *, scale: float = 1.0, bias: float = 0.0, **entries):
    """A seeded resnet8 for Fashion-MNIST saved the RepDistiller way; ``scale``/``bias`` change its last layer."""
    torch.manual_seed(0)
    net = models.create_model("resnet8", num_classes=10, in_channels=1)
    state = net.state_dict()
    fc = [k for k in state if k.endswith("weight") and state[k].ndim == 2][-1]
    state[fc] = state[fc] * scale
    state[fc.replace("weight", "bias")] = state[fc.replace("weight", "bias")] + bias * torch.eye(10)[0]
    torch.save({"model": state, "arch": "resnet8", "mean": FMNIST_MEAN, "std": FMNIST_STD, **entries}, path)
    return path


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


# ----------------------------------------------------------------- 1. a degenerate teacher

class _Saturated(torch.nn.Module):
    """All probability on one class per image, the class varying with the image (as with broken weights)."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))  # a model has parameters (they say its device)

    def forward(self, x):
        return 1e4 * torch.nn.functional.one_hot((x.mean((1, 2, 3)) * 1e3).long() % 10, 10).float()


def test_a_saturated_teacher_is_one_warning_and_a_small_budget():
    teacher = dastat.Teacher(_Saturated(), FMNIST_MEAN, FMNIST_STD, num_classes=10, in_channels=1, arch="broken",
                             source="broken")
    with pytest.warns(DegenerateTeacherWarning) as record:
        ranking = dastat.rank(["identity", "cutmix"], teacher, "fashion-mnist")
    assert len(record) == 1 and "normalised" in str(record[0].message) and "weights" in str(record[0].message)
    # stopped after the probe's blocks, far below the default budget of 32,768 images
    assert all(r.n_images <= PROBE_BLOCKS * 64 and r.extra["degenerate_teacher"] == "saturated" for r in ranking)


def test_a_constant_teacher_is_one_warning_line_and_a_small_budget(tmp_path, capsys):
    teacher = _checkpoint(tmp_path / "broken.pth", scale=0.0, bias=1e4)
    code, out, err = _run(["rank", "--teacher", teacher, "--da", "identity", "--da", "cutmix", "--no-progress",
                           "--out", tmp_path / "r.json"], capsys)
    assert code == 0
    warned = [line for line in err.splitlines() if line.startswith("dastat: warning:")]
    assert len(warned) == 1 and "normalised" in warned[0] and "weights" in warned[0], err
    records = dastat.load_results(tmp_path / "r.json")["results"]
    assert all(r["n_images"] <= PROBE_BLOCKS * 64 and r["degenerate_teacher"] == "constant" for r in records)
    assert "the teacher's outputs are constant" in out


def test_a_healthy_teacher_is_not_called_degenerate(bundled_teacher):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateTeacherWarning)
        ranking = dastat.rank(["identity"], bundled_teacher, "fashion-mnist", max_images=512)
    assert "degenerate_teacher" not in ranking[0].extra and ranking[0].n_images == 512


# ----------------------------------------------------------------- 2. and 3. left out, no value, budgets

def test_rank_names_what_it_leaves_out_and_what_has_no_value(tmp_path, capsys):
    code, out, err = _run(["rank", "--max-images", "64", "--no-progress", "--out", tmp_path / "r.json"], capsys)
    assert code == 0
    assert "note: cutmix_pick_s is not in this ranking" in out and "--student" in out
    doc = json.loads((tmp_path / "r.json").read_text())
    assert set(doc["left_out"]) == {"cutmix_pick_s"} and len(doc["results"]) == 8
    valueless = [r for r in doc["results"] if r["t_stddev"] is None]
    assert valueless, "64 images give the block-unit DAs no T. stddev"
    # a DA without a value has no rank and no comparison with its neighbour, and the table says why
    assert all(r["rank"] is None and r["distinct_from_next"] is None for r in valueless)
    assert [r["rank"] for r in doc["results"] if r["t_stddev"] is not None] == list(range(1, 9 - len(valueless)))
    note = next(line for line in out.splitlines() if "no T. stddev, so not ranked" in line)
    assert all(r["da"] in note for r in valueless if r["da"] != "cutmix_pick_t")
    # the budget that gives one: 32 batches of 64 originals (2,048), with twice as many forwards per image
    # as a plain view for these DAs (128 forwards on 64 images), rounded up to two significant digits: 2,100
    assert "--max-images 2,100 gives one" in note


def test_budgets_are_images_and_forwards_and_a_cut_short_da_says_what_would_finish(tmp_path, capsys):
    code, out, err = _run(["rank", "--da", "identity", "--da", "mixup", "--max-images", "1024", "--no-progress",
                           "--out", tmp_path / "r.json"], capsys)
    assert code == 0
    assert "a budget per DA of 1,024 images or 2,048 model forwards, whichever comes first" in out
    header = out.splitlines()[1].split()
    assert "images" in header and "forwards" in header
    mixup = next(r for r in json.loads((tmp_path / "r.json").read_text())["results"] if r["da"] == "mixup")
    assert mixup["n_images"] < 1024 and mixup["n_forward"] <= 2048 and not mixup["converged"]
    # by hand: width ∝ 1/sqrt(n), so ±1% needs n (h / 0.01)² images; forwards bind at half the forwards they take
    half = mixup["relative_half_width"]
    need = mixup["n_images"] * (half / 0.01) ** 2 * max(1, mixup["n_forward"] / mixup["n_images"] / 2)
    digits = 10 ** (len(str(int(need))) - 2)
    expected = math.ceil(need / digits) * digits
    line = next(line for line in out.splitlines() if line.startswith("note: mixup stopped at its budget"))
    assert f"({mixup['n_images']:,} images, {mixup['n_forward']:,} forwards)" in line
    assert f"about --max-images {expected:,} would reach it" in line
    # and why: mixup draws once per batch (a split estimate with 4 draws per block) at 5 forwards per image
    assert mixup["unit"] == "split" and mixup["n_forward"] == 5 * mixup["n_images"]
    assert "(it draws once per batch, so its precision rests on 4 draws per block of 64 images; 5 forwards per " \
           "image)" in line
    # every interval of a statistic that cannot be negative stays at or above zero
    for name in ("teacher_entropy", "kl_view", "affinity", "order_violation", "ce_var_t", "risk_var_t"):
        if mixup.get(f"{name}_ci"):
            assert mixup[f"{name}_ci"][0] >= 0, name


# ----------------------------------------------------------------- 4. tune

def test_tune_says_the_budget_is_too_small_to_race_and_the_best_is_at_the_edge(tmp_path, capsys):
    code, out, err = _run(["tune", "--da", "cutout(size=4|8|12)", "--max-images", "1024", "--no-progress",
                           "--out", tmp_path / "t.json"], capsys)
    assert code == 0
    doc = json.loads((tmp_path / "t.json").read_text())
    assert set(doc) >= {"provenance", "results"} and len(doc["provenance"]["protocol"]["looks_images"]) == 1
    # cutout draws once per batch, so each original gets 4 views (5 forwards): 65 blocks, one past the first look,
    # take 65 · 64 · (1 + 4) / 2 = 10,400 as --max-images and 65 · 64 · (1 + 3 · 4) = 54,080 forwards
    assert all(r["n_forward"] % 5 == 0 for r in doc["results"])
    assert len(look_schedule(budget_blocks(ScoreConfig(max_images=10400), 4))) == 2
    assert len(look_schedule(budget_blocks(ScoreConfig(max_images=10399), 4))) == 1
    assert "budget too small to race: 54,080 forwards (--max-images 10,400) would race this grid" in out
    best = next(r["candidate"] for r in doc["results"] if r["status"] == "best")
    if best != "cutout(size=8)":
        assert "best at the grid's edge: extend the grid" in out
    else:
        assert "grid's edge" not in out


def test_grid_edges_by_hand():
    grid = ["mixup(alpha=0.2|0.5|1|2)", "cutmix(alpha=1|2,prob=0.5|1)"]
    assert grid_edges("mixup(alpha=2)", grid) == ["mixup's alpha=2 is the largest in its grid"]
    assert grid_edges("mixup(alpha=0.2)", grid) == ["mixup's alpha=0.2 is the smallest in its grid"]
    assert grid_edges("mixup(alpha=0.5)", grid) == [] and grid_edges("flip", grid) == []
    assert len(grid_edges("cutmix(alpha=2,prob=1)", grid)) == 2


def test_tune_prints_no_best_from_no_evidence(tmp_path, capsys):
    code, out, err = _run(["tune", "--da", "mixup(alpha=0.2|1)", "--max-images", "64", "--no-progress",
                           "--out", tmp_path / "t.json"], capsys)
    assert code == 2 and out == "" and not (tmp_path / "t.json").exists()
    assert err.startswith("dastat: error: no candidate got a T. stddev") and "--max-images 64" in err
    assert len(err.strip().splitlines()) == 1


def test_the_race_record_of_no_evidence_has_no_best():
    """Without the command line: candidates without a value get the status 'no value' and there is no best."""
    from dastat.scoring.tune import tune

    result = tune("mixup(alpha=0.2|1)", max_images=64, progress=False)
    assert all(r["t_stddev"] is None and r["status"] == "no value" for r in result.records)
    assert result.best is None


# ----------------------------------------------------------------- 5. evaluate and the recorded accuracy

def test_evaluate_puts_the_recorded_accuracy_beside_the_measured_one(tmp_path, capsys):
    far = _checkpoint(tmp_path / "far.pth", best_acc=93.5)
    code, out, err = _run(["evaluate", "--teacher", far, "--max-images", "256"], capsys)
    assert code == 0
    measured = float(next(line for line in out.splitlines() if line.startswith("top-1")).split()[1].rstrip("%"))
    assert abs(measured - 93.5) > 5  # a random network
    assert "(the checkpoint records 93.50% as 'best_acc')" in out
    assert err.count("dastat: warning:") == 1 and "93.50%" in err and "download" in err
    near = _checkpoint(tmp_path / "near.pth", acc=torch.tensor(measured + 1.0))  # RepDistiller stores tensors
    code, out, err = _run(["evaluate", "--teacher", near, "--max-images", "256", "--json"], capsys)
    (result,) = json.loads(out)["results"]
    assert result["recorded_key"] == "acc" and result["recorded_top1"] == pytest.approx((measured + 1) / 100)
    assert "warning" not in err


# ----------------------------------------------------------------- 6. bounded intervals

def test_bounded_intervals_by_hand():
    # log scale: value · exp(±half / value), half = (3.254 + 0.384) / 2 = 1.819
    low, high = bounded_interval("kl_view", 1.435, (-0.384, 3.254))
    assert (low, high) == pytest.approx((1.435 * math.exp(-1.819 / 1.435), 1.435 * math.exp(1.819 / 1.435)))
    # a share: logit(0.1) ± half / (0.1 · 0.9), back through the logistic function
    low, high = bounded_interval("order_violation", 0.1, (-0.05, 0.25))
    z, se = math.log(0.1 / 0.9), 0.15 / 0.09
    assert (low, high) == pytest.approx((1 / (1 + math.exp(-(z - se))), 1 / (1 + math.exp(-(z + se)))))
    assert bounded_interval("kl_view", 0.0, (-0.1, 0.1)) == (0.0, 0.1)  # on the bound: clipped
    assert bounded_interval("ce_cov", -0.2, (-0.5, 0.1)) == (-0.5, 0.1)  # no bound: unchanged
    assert bounded_interval("t_stddev", 0.01, (-0.001, 0.021)) == (-0.001, 0.021)  # the stopping rule's own


# ----------------------------------------------------------------- 7. one JSON shape

def test_load_results_reads_every_shape(tmp_path):
    records = [{"da": "flip", "t_stddev": 0.02, "t_stddev_ci": [0.019, 0.021]},
               {"da": "mixup", "t_stddev": 0.015, "t_stddev_ci": [0.014, 0.016]}]
    record = {"command": "dastat rank", "seed": 0}
    shapes = {"now.json": {"provenance": record, "results": records, "left_out": {"x": "y"}},
              "bare.json": records, "rows.json": {"rows": records, "correlations": {}, "provenance": record},
              "scores.json": {"scores": records, "provenance": record}}
    for name, doc in shapes.items():
        (tmp_path / name).write_text(json.dumps(doc))
        loaded = dastat.load_results(tmp_path / name)
        assert loaded["results"] == records, name
        assert loaded["provenance"] == (None if name == "bare.json" else record), name
    assert dastat.load_results(tmp_path / "now.json")["left_out"] == {"x": "y"}
    (tmp_path / "r.csv").write_text("da,t_stddev\nflip,0.02\n")
    (tmp_path / "r.csv.provenance.json").write_text(json.dumps({"provenance": record}))
    assert dastat.load_results(tmp_path / "r.csv") == {"provenance": record,
                                                       "results": [{"da": "flip", "t_stddev": 0.02}]}
    with pytest.raises(dastat.UserError, match="holds no dastat results"):
        (tmp_path / "x.json").write_text('{"a": 1}')
        dastat.load_results(tmp_path / "x.json")


def test_plot_and_correlate_read_what_validate_writes(tmp_path, capsys):
    from dastat.provenance import with_provenance

    rows = [{"da": d, "t_stddev": 0.01 + i / 1000, "t_stddev_ci": [0.009 + i / 1000, 0.011 + i / 1000],
             "test_loss": 1 + i / 10 + (i % 2) / 20} for i, d in enumerate(["a", "b", "c", "d", "e", "f"])]
    (tmp_path / "scores.json").write_text(json.dumps(with_provenance(rows, {"command": "dastat validate"})))
    code, out, err = _run(["plot", tmp_path / "scores.json", "--out", tmp_path / "s.png"], capsys)
    assert code == 0 and (tmp_path / "s.png").stat().st_size > 0, err
    code, out, err = _run(["correlate", tmp_path / "scores.json", "--x", "t_stddev", "--y", "test_loss"], capsys)
    assert code == 0 and "(all rows)  6" in out, err


# ----------------------------------------------------------------- 8. ~ and $VARS

def test_tilde_and_variables_in_paths(tmp_path, capsys, monkeypatch, reference_dir):
    from dastat.cli.paths import expand_path

    from test_readme_commands import write_cifar100

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DASTAT_TEST_OUT", str(tmp_path / "out"))
    (tmp_path / "out").mkdir()
    write_cifar100(tmp_path / "cifar")
    checkpoint = reference_dir / "repdistiller" / "resnet56_vanilla" / "ckpt_epoch_240.pth"
    (tmp_path / "r56.pth").write_bytes(checkpoint.read_bytes())
    assert expand_path("imagefolder:~/imagenet") == f"imagefolder:{tmp_path}/imagenet"
    code, out, err = _run(["score", "--teacher", "~/r56.pth", "--data", "cifar100:~/cifar", "--da", "identity",
                           "--max-images", "64", "--no-progress", "--out", "$DASTAT_TEST_OUT/r.json"], capsys)
    assert code == 0, err
    [result] = dastat.load_results(tmp_path / "out" / "r.json")["results"]
    assert result["data"] == f"cifar100:{tmp_path}/cifar" and result["teacher"] == str(tmp_path / "r56.pth")
    # the data root can come from $DASTAT_DATA, itself written with ~ (the teacher's 100 classes infer CIFAR-100)
    monkeypatch.setenv("DASTAT_DATA", "~/cifar")
    code, out, err = _run(["score", "--teacher", "~/r56.pth", "--da", "identity", "--max-images", "64",
                           "--no-progress", "--out", "$DASTAT_TEST_OUT/r2.json"], capsys)
    assert code == 0, err
    assert f"under {tmp_path}/cifar (from DASTAT_DATA)" in err
    [result] = dastat.load_results(tmp_path / "out" / "r2.json")["results"]
    assert result["n_images"] == 64


# ----------------------------------------------------------------- 9. progress in a log

def test_progress_is_one_line_every_period_when_stderr_is_not_a_terminal(capsys, monkeypatch):
    from dastat.progress import PeriodicLine

    now = [0.0]
    buffer = io.StringIO()
    line = PeriodicLine(100, "T. stddev (fast)", unit="batch", period=30, file=buffer, clock=lambda: now[0])
    for step in range(100):
        now[0] = step * 1.0 + 1  # one batch a second
        line.update()
    printed = buffer.getvalue().splitlines()
    assert len(printed) == 3  # after 30, 60 and 90 seconds
    assert printed[0] == "dastat: T. stddev (fast): 30/100 batch (30%), 30 s, about 70 s left"
    monkeypatch.setenv("DASTAT_PROGRESS_SECONDS", "0")
    code, out, err = _run(["score", "--da", "identity", "--max-images", "256"], capsys)
    assert code == 0 and err.count("dastat: T. stddev (fast):") == 4  # capsys's stderr is no terminal


def test_dastat_warnings_are_one_line(capsys):
    import warnings as w

    from dastat.cli import _show_warning

    _show_warning(DastatWarning("check this"), DastatWarning, "f.py", 1, file=None, _default=w.showwarning)
    assert capsys.readouterr().err == "dastat: warning: check this\n"


def test_a_race_cut_short_says_what_budget_would_decide_it():
    from types import SimpleNamespace

    from dastat.cli.tune import summary
    from dastat.scoring.race_report import budget_to_decide

    # by hand: dropped once r / (se · sqrt(n0 / n)) ≥ q, i.e. n = n0 (q se / r)²; tied once
    # r + q se sqrt(n0 / n) < tol, i.e. n = n0 (q se / (tol - r))²; whichever is smaller
    diffs = {"b": (0.02, 0.02), "c": (0.002, 0.01)}
    need = budget_to_decide(lambda j, i: diffs[j], "a", ["a", "b", "c"], 2.0, 0.01, 1000)
    assert need == math.ceil(1000 * max((2 * 0.02 / 0.02) ** 2, (2 * 0.01 / 0.008) ** 2))
    assert budget_to_decide(lambda j, i: (0.01, math.nan), "a", ["a", "b"], 2.0, 0.01, 1000) is None
    settings = dict(stopped="budget", looks_images=[1024, 1536, 2048], candidates=3, alpha=0.05, tolerance=0.01,
                    max_images=2048, images=2048, undecided=2, decide_max_images=8100, edge=[],
                    too_small_to_race=None)
    result = SimpleNamespace(best="a", settings=settings, total_forward=5000, full_scoring_forward=6000)
    lines = summary(result)
    assert lines[-1] == ("the budget cut the race short: 2 candidates are neither dropped nor tied within 0.01; "
                         "about --max-images 8,100 would decide them")
