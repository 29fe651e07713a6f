"""dastat.plot and ``dastat plot``: what is drawn, checked on the artists (headless, Agg)."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import types

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from scipy import stats as sps  # noqa: E402

from dastat.plot.common import OKABE_ITO  # noqa: E402
from dastat.cli import main  # noqa: E402
from dastat.errors import UserError  # noqa: E402
from dastat.display import leading_ties  # noqa: E402
from dastat.plot import ranking_bars, ranking_forest, save_figure, scatter  # noqa: E402

RESULTS = [  # what `dastat validate` writes: one row per DA
    ("identity", 0.0153, (0.0150, 0.0156), 1.30, 0.020, 70.1, 0.3),
    ("flip", 0.0152, (0.0149, 0.0155), 1.28, 0.010, 70.3, 0.2),
    ("cutout", 0.0149, (0.0146, 0.0152), 1.27, 0.030, 70.9, 0.4),
    ("mixup", 0.0147, (0.0144, 0.0150), 1.22, 0.020, 71.2, 0.1),
    ("cutmix", 0.0145, (0.0143, 0.0147), 1.20, 0.010, 71.8, 0.3),
]


def _records():
    return [dict(da=d, t_stddev=t, t_stddev_ci=list(ci), teacher_entropy=1.1, test_loss=l, test_loss_std=ls,
                 test_acc=a, test_acc_std=as_, n_seeds=3) for d, t, ci, l, ls, a, as_ in RESULTS]


def _csv_split(tmp_path):
    """The CSV spelling: t_stddev_ci_low / t_stddev_ci_high columns."""
    frame = pd.DataFrame(_records())
    frame[["t_stddev_ci_low", "t_stddev_ci_high"]] = pd.DataFrame(frame.pop("t_stddev_ci").tolist())
    path = tmp_path / "results.csv"
    frame.to_csv(path, index=False)
    return path


def _points(ax):
    [points] = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_gid() == "points"]
    return np.asarray(points.get_offsets())


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _labels(ax):
    return [t.get_text() for t in ax.texts if t.get_gid() == "label"]


def _error_segments(ax):
    """The error bar segments drawn, as (x0, y0, x1, y1) rows."""
    segs = [s for c in ax.collections if c.get_gid() == "errorbars" for s in c.get_segments()]
    return np.array([[*s[0], *s[-1]] for s in segs]) if segs else np.zeros((0, 4))


# ----------------------------------------------------------------- scatter

@pytest.mark.parametrize("source", ["records", "frame", "json", "csv"])
def test_scatter_draws_one_labelled_point_per_da(source, tmp_path):
    if source == "records":
        data = _records()
    elif source == "frame":
        data = pd.DataFrame(_records())
    elif source == "json":
        data = tmp_path / "results.json"
        data.write_text(json.dumps(_records()))
    else:
        data = _csv_split(tmp_path)
    fig = scatter(data, x="t_stddev", y="test_loss")
    ax = fig.axes[0]
    xs = [r[1] for r in RESULTS]
    ys = [r[3] for r in RESULTS]
    np.testing.assert_allclose(_points(ax), np.column_stack([xs, ys]))
    assert _labels(ax) == [r[0] for r in RESULTS]
    # legend: the three coefficients and their p-values, against scipy
    legend = " | ".join(_legend(ax))
    # Spearman's p on 5 points is exact: the share of the 5! pairings with |rho| at least the observed one
    rho = sps.spearmanr(xs, ys).statistic
    rhos = [sps.spearmanr(xs, [ys[i] for i in p]).statistic for p in itertools.permutations(range(5))]
    spearman = types.SimpleNamespace(statistic=rho, pvalue=np.mean(np.abs(rhos) >= abs(rho) - 1e-12))
    for name, ref in (("Pearson", sps.pearsonr(xs, ys)), ("Spearman", spearman),
                      ("Kendall", sps.kendalltau(xs, ys))):
        m = re.search(rf"{name} \S+ = (-?[0-9.]+) \(p = ([0-9.e+-]+)\)", legend)
        assert m, legend
        assert float(m.group(1)) == pytest.approx(ref.statistic, abs=5e-4)
        # printed to 3 decimals down to 0.01, then to 2 significant digits
        tol = dict(abs=5e-4) if ref.pvalue >= 0.01 else dict(rel=0.06)
        assert float(m.group(2)) == pytest.approx(ref.pvalue, **tol)
    assert "least-squares fit" in legend and "n = 5" in ax.get_legend().get_title().get_text()
    assert "lower is better" in ax.get_xlabel() and "lower is better" in ax.get_ylabel()


def test_scatter_fit_line_is_least_squares():
    fig = scatter(_records(), x="t_stddev", y="test_loss")
    [line] = [ln for ln in fig.axes[0].lines if ln.get_gid() == "fit"]
    ref = sps.linregress([r[1] for r in RESULTS], [r[3] for r in RESULTS])
    gx, gy = line.get_data()
    np.testing.assert_allclose(gy, ref.intercept + ref.slope * np.asarray(gx), rtol=1e-9)
    assert min(gx) == pytest.approx(0.0145) and max(gx) == pytest.approx(0.0153)


@pytest.mark.parametrize("split", [False, True])
def test_scatter_error_bars_from_interval_and_std(split, tmp_path):
    data = _csv_split(tmp_path) if split else _records()
    ax = scatter(data, x="t_stddev", y="test_acc").axes[0]
    segs = _error_segments(ax)
    horizontal = segs[np.isclose(segs[:, 1], segs[:, 3])]
    vertical = segs[np.isclose(segs[:, 0], segs[:, 2])]
    # x bars span the interval; y bars span mean +- std over seeds
    np.testing.assert_allclose(np.sort(horizontal[:, [0, 2]], axis=1), [r[2] for r in RESULTS])
    np.testing.assert_allclose(np.sort(vertical[:, [1, 3]], axis=1),
                               [(r[5] - r[6], r[5] + r[6]) for r in RESULTS])
    assert "higher is better" in ax.get_ylabel()


def test_scatter_without_spread_draws_no_error_bars():
    rows = [{k: v for k, v in r.items() if k in ("da", "t_stddev", "test_loss")} for r in _records()]
    ax = scatter(rows, x="t_stddev", y="test_loss").axes[0]
    assert len(_error_segments(ax)) == 0


def test_paper_csv_one_panel_per_setting(reference_dir):
    path = reference_dir / "paper_tstddev_vs_stestloss.csv"
    paper = pd.read_csv(path)
    fig = scatter(path, x="T_stddev", y="S_test_loss", label="DA", group="pair_dataset")
    settings = list(dict.fromkeys(paper["pair_dataset"]))
    assert [ax.get_title() for ax in fig.axes] == settings
    for ax, setting in zip(fig.axes, settings):
        part = paper[paper["pair_dataset"] == setting]
        assert len(_points(ax)) == 9
        assert _labels(ax) == part["DA"].tolist()
        ref = sps.kendalltau(part["T_stddev"], part["S_test_loss"]).statistic
        assert any(f"= {ref:.3f}" in t for t in _legend(ax) if t.startswith("Kendall"))


def test_paper_csv_where_selects_one_setting(reference_dir):
    path = reference_dir / "paper_tstddev_vs_stestloss.csv"
    fig = scatter(path, x="T_stddev", y="S_test_loss", where="pair_dataset=resnet34/resnet18, ImageNet")
    assert len(fig.axes) == 1 and len(_points(fig.axes[0])) == 9
    assert any("Pearson $r$ = 0.346 (p = 0.362)" == t for t in _legend(fig.axes[0]))


def test_scatter_into_given_axes():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.subplots()
    assert scatter(_records(), x="t_stddev", y="test_loss", ax=ax) is fig
    assert len(_points(ax)) == 5


@pytest.mark.parametrize("kwargs, words", [
    (dict(y="test_los"), "no column 'test_los'"),
    (dict(y="test_loss", label="name"), "no label column"),
    (dict(y="test_loss", where="da=none"), "no row has da"),
    (dict(y="n_seeds"), "constant"),
])
def test_scatter_user_errors(kwargs, words):
    with pytest.raises(UserError, match=words):
        scatter(_records(), x="t_stddev", **kwargs)


# ----------------------------------------------------------------- ranking

def _ranking():
    return [dict(da=d, t_stddev=t, t_stddev_ci=list(ci), teacher_entropy=1.0 + i, protocol="fast", n_forward=1000,
                 seconds=2.0, teacher="resnet20", data="fashion-mnist")
            for i, (d, t, ci, *_) in enumerate(RESULTS)]


def _bars(ax):
    return [p for p in ax.patches]


def test_ranking_bars_best_first_with_intervals():
    records = _ranking()[::-1]  # input order does not matter
    ax = ranking_bars(records).axes[0]
    bars = _bars(ax)
    assert len(bars) == 5
    expected = sorted(RESULTS, key=lambda r: r[1])
    # top to bottom on screen: the y axis is inverted, so rank 1 has the smallest y
    order = sorted(bars, key=lambda b: b.get_y())
    assert [b.get_width() for b in order] == pytest.approx([r[1] for r in expected])
    assert ax.yaxis_inverted()
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks == [r[0] for r in expected]
    segs = _error_segments(ax)
    np.testing.assert_allclose(np.sort(np.sort(segs[:, [0, 2]], axis=1), axis=0),
                               np.sort(np.array([r[2] for r in expected]), axis=0))
    assert "lower is better" in ax.get_xlabel()
    assert "T. stddev" in ax.get_title() and "teacher resnet20 on fashion-mnist" in ax.get_title()


def test_ranking_by_another_column_and_string_intervals(tmp_path):
    frame = pd.DataFrame(_ranking())
    path = tmp_path / "rank.csv"
    frame.to_csv(path, index=False)  # lists become "[low, high]" strings, as `dastat rank --out x.csv` writes
    ax = ranking_bars(path).axes[0]
    assert len(_error_segments(ax)) == 5
    # Higher teacher entropy is better (dastat.stats.direction), so the highest comes first.
    ax = ranking_bars(frame, by="teacher_entropy").axes[0]
    by_entropy = sorted(_ranking(), key=lambda r: -r["teacher_entropy"])
    assert [t.get_text() for t in ax.get_yticklabels()] == [r["da"] for r in by_entropy]
    assert [b.get_width() for b in sorted(_bars(ax), key=lambda b: b.get_y())] == [r["teacher_entropy"]
                                                                                   for r in by_entropy]
    assert "teacher entropy" in ax.get_xlabel() and "higher is better" in ax.get_xlabel()


def test_ranking_user_errors():
    with pytest.raises(UserError, match="no column 'score'"):
        ranking_bars(_ranking(), by="score")
    with pytest.raises(UserError, match="must hold numbers"):
        ranking_bars(_ranking(), by="protocol")


def _forest_parts(ax):
    """The forest plot's points (x, y), its interval lines [(low, high, y)], the shaded band and the point colours."""
    [points] = [c for c in ax.collections if c.get_gid() == "points"]
    [lines] = [c for c in ax.collections if c.get_gid() == "intervals"]
    [band] = [p for p in ax.patches if p.get_gid() == "best_interval"]
    segs = [(min(s[0][0], s[1][0]), max(s[0][0], s[1][0]), s[0][1]) for s in lines.get_segments()]
    return points.get_offsets(), segs, band, points.get_facecolors()


def test_ranking_forest_dots_intervals_and_ties():
    from matplotlib.colors import to_rgba

    records = _ranking()[::-1]
    flags = {"cutmix": (False, 0.30), "mixup": (True, 0.001), "cutout": (False, 0.5), "flip": (False, 0.6)}
    for r in records:
        r["distinct_from_next"], r["p_next"] = flags.get(r["da"], (None, None))
    fig = ranking_forest(records)
    ax = fig.axes[0]
    expected = sorted(RESULTS, key=lambda r: r[1])
    assert [t.get_text() for t in ax.get_yticklabels()] == [r[0] for r in expected]
    offsets, segs, band, colours = _forest_parts(ax)
    # Rank 1 at the top: the y axis runs downwards, one row per DA in rank order.
    assert ax.get_ylim()[0] > ax.get_ylim()[1]
    np.testing.assert_allclose(offsets, [[r[1], i] for i, r in enumerate(expected)])
    np.testing.assert_allclose(sorted(segs, key=lambda s: s[2]), [[*r[2], i] for i, r in enumerate(expected)])
    # Position carries the value: the axis spans the intervals, not 0.
    lo, hi = ax.get_xlim()
    assert 0.0140 < lo < 0.0143 and 0.0156 < hi < 0.0159
    # The best's interval is shaded; the best and mixup (not told from it) are blue, the rest grey.
    x0, x1 = band.get_x(), band.get_x() + band.get_width()
    assert (x0, x1) == pytest.approx(expected[0][2])
    blue = to_rgba("#0072B2")
    assert [tuple(c) == pytest.approx(blue) for c in colours] == [True, True, False, False, False]
    values = [t.get_text() for t in ax.texts if t.get_gid() == "value"]
    assert values[0] == "0.01450  ≈ next (p = 0.300)" and values[1].startswith("0.01470  ≠ next")
    assert "lower is better" in ax.get_xlabel() and "dot: estimate, line: 95% CI" in ax.get_title(loc="left")


def test_ranking_forest_without_a_better_direction_highlights_none():
    """KL to the view describes a DA rather than grades it: no best interval shaded, no DA in blue."""
    from matplotlib.colors import to_rgba

    records = [{"da": d, "kl_view": v, "kl_view_ci": [v - 0.1, v + 0.1], "distinct_from_next": f, "p_next": p}
               for d, v, f, p in (("a", 1.0, True, 0.01), ("b", 2.0, None, None))]
    ax = ranking_forest(records, by="kl_view").axes[0]
    assert not [p for p in ax.patches if p.get_gid() == "best_interval"]
    [points] = [c for c in ax.collections if c.get_gid() == "points"]
    assert all(tuple(c) != pytest.approx(to_rgba("#0072B2")) for c in points.get_facecolors())


def test_leading_ties_follow_the_chain_of_adjacent_tests():
    assert leading_ties([False, False, True, False, None]) == 2
    assert leading_ties([True, False, None]) == 0
    assert leading_ties([False, None]) == 1
    assert leading_ties([float("nan"), False]) == 0 and leading_ties([]) == 0


# ----------------------------------------------------------------- saving and CLI

@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_save_figure_formats_atomically(tmp_path, suffix, magic):
    fig = ranking_bars(_ranking())
    path = save_figure(fig, tmp_path / f"rank{suffix}")
    assert path.read_bytes().startswith(magic)
    assert os.listdir(tmp_path) == [path.name]  # no temporary file left behind
    with pytest.raises(UserError, match="must end in"):
        save_figure(fig, tmp_path / "rank.jpg")
    with pytest.raises(UserError, match="does not exist"):
        save_figure(fig, tmp_path / "missing" / "rank.png")


def test_cli_scatter_and_ranking(tmp_path, reference_dir, capsys):
    results = tmp_path / "results.json"
    results.write_text(json.dumps(_records()))
    assert main(["plot", str(results), "--x", "t_stddev", "--y", "test_acc", "--out", str(tmp_path / "s.svg")]) == 0
    svg = (tmp_path / "s.svg").read_text()
    assert "cutmix" in svg and "Pearson" in svg
    ranking = tmp_path / "ranking.json"
    ranking.write_text(json.dumps(_ranking()))
    assert main(["plot", str(ranking)]) == 0
    assert (tmp_path / "ranking_ranking.png").read_bytes().startswith(b"\x89PNG")
    assert "wrote" in capsys.readouterr().out
    ref = reference_dir / "paper_tstddev_vs_stestloss.csv"
    out = tmp_path / "paper.pdf"
    assert main(["plot", str(ref), "--x", "T_stddev", "--y", "S_test_loss", "--label", "DA",
                 "--group", "pair_dataset", "--out", str(out)]) == 0
    assert out.read_bytes().startswith(b"%PDF")


def test_cli_user_errors_exit_2(tmp_path, capsys):
    ranking = tmp_path / "ranking.json"
    ranking.write_text(json.dumps(_ranking()))
    assert main(["plot", str(ranking), "--out", str(tmp_path / "r.gif")]) == 2
    assert main(["plot", str(ranking), "--y", "test_loss"]) == 2
    assert main(["plot", str(ranking), "--x", "t_stddev"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith("dastat: error: ") for line in err)
    assert not list(tmp_path.glob("*.gif"))


def test_import_dastat_stays_light():
    code = ("import sys, dastat, dastat.analysis, dastat.plot; "
            "print(any(m in sys.modules for m in ('matplotlib', 'seaborn', 'pandas', 'scipy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_docs_code_blocks_run(tmp_path, reference_dir, monkeypatch, capsys):
    """Every ```python block of docs/analysis.md runs, and every `$ dastat ...` line exits 0."""
    import shlex
    import shutil
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "analysis.md").read_text()
    blocks = re.findall(r"```(python|console)\n(.*?)```", doc, flags=re.S)
    assert sum(kind == "python" for kind, _ in blocks) >= 2 and sum(kind == "console" for kind, _ in blocks) >= 4
    # The files the text takes as given.
    shutil.copy(reference_dir / "paper_tstddev_vs_stestloss.csv", tmp_path / "paper.csv")
    (tmp_path / "results.json").write_text(json.dumps(_records()))
    (tmp_path / "ranking.json").write_text(json.dumps(_ranking()))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for kind, body in blocks:
        if kind == "python":
            exec(compile(body, "docs/analysis.md", "exec"), namespace)
            continue
        for line in body.splitlines():
            if line.startswith("$ dastat "):
                argv = shlex.split(line[len("$ dastat "):])
                assert main(argv) == 0, (line, capsys.readouterr().err)
    for name in ("scatter.png", "scatter.svg", "paper.pdf", "vgg13.svg", "ranking.png"):
        assert (tmp_path / name).stat().st_size > 0, name


# ----------------------------------------------------------------- figures that stand on their own

def _validate_rows():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "validate_fmnist" / "results.json"
    return json.loads(path.read_text())["rows"]


def _label_boxes(fig, ax):
    """Each label's text extent in pixels, after a full draw (the text alone, not its leader line)."""
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [Text.get_window_extent(t, renderer) for t in ax.texts if t.get_gid() == "label"]


def _intersect(a, b) -> bool:
    return min(a.x1, b.x1) > max(a.x0, b.x0) and min(a.y1, b.y1) > max(a.y0, b.y0)


@pytest.mark.parametrize("y", ["test_loss", "test_acc"])
def test_nine_labels_of_the_results_overlap_nothing(y):
    """docs/results.md's scatter: no two labels overlap, and no label covers a marker."""
    rows = _validate_rows()
    assert len(rows) == 9
    fig = scatter(rows, x="t_stddev", y=y)
    ax = fig.axes[0]
    boxes = _label_boxes(fig, ax)
    assert len(boxes) == 9
    clashes = [(i, j) for i in range(9) for j in range(i + 1, 9) if _intersect(boxes[i], boxes[j])]
    assert not clashes
    # Each marker's disc (s is its area in points^2) stays clear of every label.
    [points] = [c for c in ax.collections if c.get_gid() == "points"]
    radius = np.sqrt(points.get_sizes()[0]) / 2 * fig.dpi / 72
    centres = ax.transData.transform(_points(ax))
    for box in boxes:
        nearest_x = np.clip(centres[:, 0], box.x0, box.x1)
        nearest_y = np.clip(centres[:, 1], box.y0, box.y1)
        assert (np.hypot(nearest_x - centres[:, 0], nearest_y - centres[:, 1]) >= radius).all()
    # Every label stays inside its panel.
    frame = ax.get_window_extent()
    assert all(frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1 for b in boxes)


def test_paper_panels_labels_do_not_overlap(reference_dir):
    fig = scatter(reference_dir / "paper_tstddev_vs_stestloss.csv", x="T_stddev", y="S_test_loss", label="DA",
                  group="pair_dataset")
    for ax in fig.axes:
        boxes = _label_boxes(fig, ax)
        assert not [(i, j) for i in range(9) for j in range(i + 1, 9) if _intersect(boxes[i], boxes[j])], ax.get_title()


def test_figure_says_what_its_bars_and_setting_are():
    rows = _validate_rows()
    fig = scatter(rows, x="t_stddev", y="test_acc",
                  setting={"teacher": "resnet20", "data": "fashion-mnist", "student": "resnet8", "recipe": "quick"})
    ax = fig.axes[0]
    caption = fig.get_supxlabel()
    assert "95% CI of T. stddev" in caption and "±1 sd of student test top-1 over 2 seeds" in caption
    title = fig.get_suptitle()
    for word in ("teacher resnet20 on fashion-mnist", "student resnet8", "recipe quick", "2 seeds"):
        assert word in title
    assert "%" in ax.get_ylabel() and "higher is better" in ax.get_ylabel()
    loss = scatter(rows, x="t_stddev", y="test_loss").axes[0]
    assert "cross-entropy (nats)" in loss.get_ylabel() and "lower is better" in loss.get_ylabel()
    # Colour-blind-safe: every point's colour is one of the Okabe–Ito eight.
    [points] = [c for c in ax.collections if c.get_gid() == "points"]
    okabe = {tuple(np.round(matplotlib.colors.to_rgba(c), 3)) for c in OKABE_ITO}
    assert {tuple(np.round(c, 3)) for c in points.get_facecolors()} <= okabe


def test_ranking_marks_distinguishable_neighbours():
    records = [dict(r, p_next=p, distinct_from_next=d) for r, p, d in
               zip(_ranking(), [0.001, 0.4, 0.02, 0.9, None], [True, False, True, False, None])]
    ax = ranking_bars(records).axes[0]
    values = [t.get_text() for t in ax.texts if t.get_gid() == "value"]
    marks = ["≠" if "≠ next" in v else "≈" if "≈ next" in v else "" for v in values]
    # Best (lowest T. stddev) first: RESULTS are in descending order, so the marks come reversed.
    assert marks == ["", "≈", "≠", "≈", "≠"]
    assert "p = 0.0010" in values[-1]


def test_plot_does_not_switch_the_backend():
    rows = [{"da": "a", "t_stddev": 1, "test_loss": 2}, {"da": "b", "t_stddev": 2, "test_loss": 3},
            {"da": "c", "t_stddev": 3, "test_loss": 3.5}]
    code = (f"import matplotlib; matplotlib.use('svg'); import dastat.plot as p; p.scatter({rows!r}); "
            f"p.ranking_bars({rows!r}); print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "svg"


def test_cli_plot_json_lists_written_files(tmp_path, capsys):
    ranking = tmp_path / "ranking.json"
    ranking.write_text(json.dumps(_ranking()))
    assert main(["plot", str(ranking), "--json", "--out", str(tmp_path / "r.svg")]) == 0
    written = json.loads(capsys.readouterr().out)["written"]
    assert written == [str(tmp_path / "r.svg")] and (tmp_path / "r.svg").read_text().lstrip().startswith("<?xml")


def test_panels_with_different_seed_counts_are_captioned_one_by_one():
    rows = [dict(r, pair="two seeds") for r in _validate_rows()]
    rows += [dict(r, pair="three seeds", n_seeds=3) for r in _validate_rows()]
    caption = scatter(rows, x="t_stddev", y="test_loss", group="pair").get_supxlabel()
    assert "two seeds: " in caption and "three seeds: " in caption
    assert "over 2 seeds" in caption and "over 3 seeds" in caption
    same = scatter([dict(r, pair=p) for p in ("a", "b") for r in _validate_rows()], x="t_stddev", y="test_loss",
                   group="pair").get_supxlabel()
    assert same.count("over 2 seeds") == 1 and "a: " not in same
