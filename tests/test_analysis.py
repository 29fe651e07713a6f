"""dastat.analysis and ``dastat correlate`` against scipy, hand-computed values and the paper."""

from __future__ import annotations

import itertools
import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from dastat.analysis import correlate, correlate_groups
from dastat.tables import interval_columns, read_table
from dastat.cli import main
from dastat.errors import UserError


@pytest.fixture(scope="module")
def paper_csv(reference_dir):
    return reference_dir / "paper_tstddev_vs_stestloss.csv"


@pytest.fixture(scope="module")
def paper(paper_csv):
    return pd.read_csv(paper_csv)


# ----------------------------------------------------------------- coefficients

def test_hand_computed_small_example():
    # x = 1..5, y = 2,1,4,3,5: two discordant pairs of ten, so tau = (8 - 2) / 10;
    # Pearson: cov = 8/4 = 2, var = 2.5 each, r = 0.8; the data are ranks, so rho = r.
    r = correlate([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], n_resamples=0)
    assert r.pearson == pytest.approx(0.8, abs=1e-12)
    assert r.spearman == pytest.approx(0.8, abs=1e-12)
    assert r.kendall == pytest.approx(0.6, abs=1e-12)
    assert r.n == 5 and all(math.isnan(v) for v in r.pearson_ci)


def test_kendall_is_tau_b_with_ties_by_hand():
    # Ties in both columns: tau-b divides C - D by sqrt((pairs untied in x)(pairs untied in y)).
    x = [1, 1, 2, 3]
    y = [1, 2, 2, 1]
    c = d = tx = ty = 0
    for i, j in itertools.combinations(range(4), 2):
        s = np.sign(x[i] - x[j]) * np.sign(y[i] - y[j])
        c += s > 0
        d += s < 0
        tx += x[i] == x[j]
        ty += y[i] == y[j]
    tau_b = (c - d) / math.sqrt((6 - tx) * (6 - ty))
    assert correlate(x, y, n_resamples=0).kendall == pytest.approx(tau_b, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_coefficients_match_scipy_on_random_data_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 40))
    x = rng.integers(0, 6, n).astype(float) * 1e-3  # small values with many ties, like T. stddev
    y = 0.5 * x * 1e3 + rng.normal(size=n)
    if np.ptp(x) == 0:
        x[0] += 1e-3
    r = correlate(x, y, n_resamples=0)
    assert r.pearson == pytest.approx(sps.pearsonr(x, y).statistic, abs=1e-12)
    assert r.spearman == pytest.approx(sps.spearmanr(x, y).statistic, abs=1e-12)
    assert r.kendall == pytest.approx(sps.kendalltau(x, y).statistic, abs=1e-12)


def test_pvalues_match_textbook_formulas():
    rng = np.random.default_rng(3)
    x = rng.normal(size=12)
    y = 0.4 * x + rng.normal(size=12)
    r = correlate(x, y, n_resamples=0)
    n = len(x)
    for coef, p in ((r.pearson, r.pearson_p), (r.spearman, r.spearman_p)):
        t = coef * math.sqrt((n - 2) / (1 - coef ** 2))
        assert p == pytest.approx(2 * sps.t.sf(abs(t), n - 2), rel=1e-9)


def test_kendall_pvalue_is_exact_by_enumeration():
    # Without ties and with few points, the two-sided p-value is the share of the n! orderings
    # whose |tau| is at least the observed one.
    x = np.arange(6.0)
    y = np.array([0.3, 0.1, 0.5, 0.2, 0.9, 0.8])
    r = correlate(x, y, n_resamples=0)
    taus = []
    for perm in itertools.permutations(range(6)):
        s = sum(np.sign(perm[j] - perm[i]) for i, j in itertools.combinations(range(6), 2))
        taus.append(s / 15)
    expected = np.mean(np.abs(taus) >= abs(r.kendall) - 1e-12)
    assert r.kendall_p == pytest.approx(expected, rel=1e-9)


def test_negative_and_perfect_correlation():
    r = correlate([1, 2, 3, 4, 5, 6], [12, 10, 8, 6, 4, 2], n_resamples=200)
    assert (r.pearson, r.spearman, r.kendall) == pytest.approx((-1, -1, -1))
    # every resample of a perfectly monotone set is perfect too: no spread, so scipy has no interval, and nor do we
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy says its interval is degenerate: that is the point
        ref = sps.bootstrap(([1, 2, 3, 4, 5, 6], [12, 10, 8, 6, 4, 2]),
                            lambda u, v, axis=-1: sps.kendalltau(u, v).statistic, paired=True, vectorized=False,
                            n_resamples=200, rng=np.random.default_rng(0)).confidence_interval
    assert math.isnan(ref.low) and all(math.isnan(v) for v in r.kendall_ci)
    assert "kendall" in r.extra["ci_note"] and "degenerate" in r.extra["ci_note"]
    # the exact p of a perfect rank correlation of 6 pairs is 2 / 6!, not the t approximation's 0
    assert sps.spearmanr([1, 2, 3, 4, 5, 6], [12, 10, 8, 6, 4, 2]).pvalue == 0
    assert r.spearman_p == pytest.approx(2 / math.factorial(6))


def test_three_points_get_no_interval_and_an_honest_spearman_p(capsys):
    # the case from the issue: three points, where a BCa interval [-1.00, -0.96] and a Spearman p of 0 were printed
    x, y = [1.0, 2.0, 3.0], [3.0, 2.2, 1.0]
    r = correlate(x, y)
    assert all(math.isnan(v) for name in ("pearson", "spearman", "kendall") for v in getattr(r, f"{name}_ci"))
    assert "3 pairs are too few" in r.extra["ci_note"]
    # exact over the 3! pairings, by hand: |rho| = 1 for the identity and the reversal only
    assert r.spearman_p == pytest.approx(2 / 6)
    assert r.pearson_p == pytest.approx(sps.pearsonr(x, y).pvalue)


def test_spearman_p_is_exact_by_enumeration_up_to_nine_pairs():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=7), rng.normal(size=7)
    y[3] = y[5]  # a tie in y keeps its average rank under every pairing
    rho = sps.spearmanr(x, y).statistic
    rhos = [sps.spearmanr(x, y[list(p)]).statistic for p in itertools.permutations(range(7))]
    assert correlate(x, y, n_resamples=0).spearman_p == pytest.approx(np.mean(np.abs(rhos) >= abs(rho) - 1e-12))
    x, y = rng.normal(size=12), rng.normal(size=12)  # beyond nine pairs: scipy's t approximation
    assert correlate(x, y, n_resamples=0).spearman_p == pytest.approx(sps.spearmanr(x, y).pvalue, rel=1e-9)


# ----------------------------------------------------------------- the paper

# The ranges the paper quotes (Wang et al., NeurIPS 2022, §1 and Fig. 3): the 8 CIFAR-100 / Tiny ImageNet settings, then the two ImageNets.
PAPER_RANGES = {"pearson": (0.85, 0.99), "spearman": (0.78, 1.00), "kendall": (0.67, 1.00)}
PAPER_IMAGENET100 = (0.73, 0.67, 0.56)
PAPER_IMAGENET = (0.35, 0.42, 0.29)


def test_reproduces_every_setting_of_the_paper(paper, paper_csv):
    results = {r.group: r for r in correlate_groups(paper_csv, "T_stddev", "S_test_loss", group="pair_dataset")}
    assert len(results) == 10
    for setting, part in paper.groupby("pair_dataset"):
        x, y = part["T_stddev"].to_numpy(), part["S_test_loss"].to_numpy()
        r = results[setting]
        assert r.n == len(part) == 9
        expected = {"pearson": sps.pearsonr(x, y), "spearman": sps.spearmanr(x, y), "kendall": sps.kendalltau(x, y)}
        for name, ref in expected.items():
            assert round(getattr(r, name), 3) == round(ref.statistic, 3), (setting, name)
            if name == "spearman":  # nine pairs: exact over all 9! pairings (test_spearman_p_is_exact_...)
                assert r.spearman_p >= ref.pvalue or r.spearman_p == pytest.approx(ref.pvalue, rel=0.5), setting
                continue
            assert getattr(r, f"{name}_p") == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-300), (setting, name)
            low, high = getattr(r, f"{name}_ci")
            assert -1 <= low <= high <= 1 or (math.isnan(low) and "degenerate" in r.extra["ci_note"])


def test_matches_the_ranges_the_paper_quotes(paper_csv):
    results = {r.group: r for r in correlate_groups(paper_csv, "T_stddev", "S_test_loss", group="pair_dataset",
                                                     n_resamples=0)}
    small = [r for g, r in results.items() if g.endswith(("CIFAR100", "Tiny ImageNet"))]
    assert len(small) == 8
    for name, (lo, hi) in PAPER_RANGES.items():
        values = [getattr(r, name) for r in small]
        assert round(min(values), 2) == lo and round(max(values), 2) == hi, name
    in100 = results["resnet34/resnet18, ImageNet100"]
    assert tuple(round(v, 2) for v in (in100.pearson, in100.spearman, in100.kendall)) == PAPER_IMAGENET100
    full = results["resnet34/resnet18, ImageNet"]
    assert tuple(round(v, 2) for v in (full.pearson, full.spearman, full.kendall)) == PAPER_IMAGENET
    assert min(full.pearson_p, full.spearman_p, full.kendall_p) > 0.05  # "not significant"


def test_tau_b_is_the_variant_the_paper_printed(paper):
    # ImageNet has ties in both columns; only tau-b rounds to the printed 0.29.
    part = paper[paper["pair_dataset"] == "resnet34/resnet18, ImageNet"]
    x, y = part["T_stddev"].to_numpy(), part["S_test_loss"].to_numpy()
    s = sum(np.sign(x[i] - x[j]) * np.sign(y[i] - y[j]) for i, j in itertools.combinations(range(9), 2))
    tau_a = s / 36
    tau_c = sps.kendalltau(x, y, variant="c").statistic
    assert round(tau_a, 2) != 0.29 and round(tau_c, 2) != 0.29
    assert round(correlate(x, y, n_resamples=0).kendall, 2) == 0.29


# ----------------------------------------------------------------- bootstrap

def test_intervals_are_scipy_bootstrap_on_its_own_resamples():
    # scipy.stats.bootstrap with scipy's own coefficients, seeded alike, gives the same intervals
    rng = np.random.default_rng(7)
    x = rng.normal(size=15)
    y = 0.6 * x + rng.normal(size=15)
    seed, b = 11, 300
    for method in ("bca", "percentile"):
        r = correlate(x, y, n_resamples=b, seed=seed, method=method)
        for name, fn in (("pearson", sps.pearsonr), ("spearman", sps.spearmanr), ("kendall", sps.kendalltau)):
            ref = sps.bootstrap((x, y), lambda u, v: fn(u, v).statistic, paired=True, vectorized=False,
                                n_resamples=b, method="BCa" if method == "bca" else "percentile",
                                rng=np.random.default_rng(seed)).confidence_interval
            assert getattr(r, f"{name}_ci") == pytest.approx((ref.low, ref.high), rel=1e-9), (method, name)


def test_bca_agrees_with_scipy_bootstrap(paper):
    part = paper[paper["pair_dataset"] == "ResNet50/vgg8, CIFAR100"]
    x, y = part["T_stddev"].to_numpy(), part["S_test_loss"].to_numpy()
    ref = sps.bootstrap((x, y), lambda u, v, axis=-1: sps.pearsonr(u, v, axis=axis).statistic, paired=True,
                        vectorized=True, method="BCa", n_resamples=20000, random_state=1).confidence_interval
    r = correlate(x, y, n_resamples=20000, seed=5)
    assert r.pearson_ci == pytest.approx((ref.low, ref.high), abs=0.01)


def test_bootstrap_is_seeded():
    x, y = np.arange(10.0), np.array([1, 3, 2, 5, 4, 6, 8, 7, 10, 9.0])
    a, b = correlate(x, y, seed=4), correlate(x, y, seed=4)
    assert a.kendall_ci == b.kendall_ci
    assert correlate(x, y, seed=5).pearson_ci != a.pearson_ci


def test_wider_level_gives_wider_interval():
    x, y = np.arange(10.0), np.array([1, 3, 2, 5, 4, 6, 8, 7, 10, 9.0])
    narrow, wide = correlate(x, y, confidence_level=0.8), correlate(x, y, confidence_level=0.99)
    assert wide.pearson_ci[0] <= narrow.pearson_ci[0] and narrow.pearson_ci[1] <= wide.pearson_ci[1]


# ----------------------------------------------------------------- bad input

@pytest.mark.parametrize("x, y, words", [
    ([1, 2], [1, 2], "at least 3"),
    ([1, 1, 1], [1, 2, 3], "constant"),
    ([1, 2, 3], [4, 4, 4], "constant"),
    ([1, float("nan"), 3, 4], [1, 2, 3, 4], "missing"),
    ([1, 2, 3, float("inf")], [1, 2, 3, 4], "infinite"),
    ([1, 2, 3], [1, 2, 3, 4], "same length"),
    (["a", "b", "c"], [1, 2, 3], "numbers"),
])
def test_degenerate_input_is_a_user_error(x, y, words):
    with pytest.raises(UserError, match=words) as info:
        correlate(x, y)
    assert "\n" not in str(info.value)


def test_bad_options_are_user_errors():
    with pytest.raises(UserError, match="bca, percentile"):
        correlate([1, 2, 3], [1, 3, 2], method="student")
    with pytest.raises(UserError, match="between 0 and 1"):
        correlate([1, 2, 3], [1, 3, 2], confidence_level=95)


def test_table_errors_name_the_problem(tmp_path):
    rows = [{"g": "a", "u": 1, "v": 1}, {"g": "a", "u": 2, "v": 3}, {"g": "b", "u": 1, "v": 2}]
    with pytest.raises(UserError, match="no column 'w'"):
        correlate_groups(rows, "u", "w")
    with pytest.raises(UserError, match="group 'a'"):
        correlate_groups(rows, "u", "v", group="g")
    with pytest.raises(UserError, match="no such file"):
        read_table(tmp_path / "missing.csv")
    (tmp_path / "bad.json").write_text('{"u": 1}')
    with pytest.raises(UserError, match="list of records"):
        read_table(tmp_path / "bad.json")
    with pytest.raises(UserError, match="must hold numbers"):
        correlate_groups([{"u": "x", "v": 1}] * 3, "u", "v")


def test_interval_columns_accept_all_three_spellings():
    frame = pd.DataFrame({"t_ci": [[0.1, 0.2], "[0.3, 0.4]", None],
                          "s_ci_low": [1, 2, 3], "s_ci_high": [4, 5, 6]})
    low, high = interval_columns(frame, "t")
    np.testing.assert_array_equal(low[:2], [0.1, 0.3])
    np.testing.assert_array_equal(high[:2], [0.2, 0.4])
    assert math.isnan(low[2])
    assert [a.tolist() for a in interval_columns(frame, "s")] == [[1, 2, 3], [4, 5, 6]]
    assert interval_columns(frame, "u") is None


# ----------------------------------------------------------------- CLI

def test_cli_json_reproduces_the_paper(paper, paper_csv, capsys):
    assert main(["correlate", str(paper_csv), "--x", "T_stddev", "--y", "S_test_loss", "--group", "pair_dataset",
                 "--json", "--resamples", "500"]) == 0
    records = json.loads(capsys.readouterr().out)["results"]
    assert [r["group"] for r in records] == list(dict.fromkeys(paper["pair_dataset"]))
    keys = {"group", "n", "pearson", "spearman", "kendall", "pearson_p", "spearman_p", "kendall_p",
            "pearson_ci", "spearman_ci", "kendall_ci"}
    for rec in records:
        assert keys <= rec.keys()
        part = paper[paper["pair_dataset"] == rec["group"]]
        ref = sps.kendalltau(part["T_stddev"], part["S_test_loss"])
        assert rec["kendall"] == pytest.approx(ref.statistic, abs=1e-12)
        assert rec["kendall_p"] == pytest.approx(ref.pvalue, rel=1e-9)
        assert len(rec["pearson_ci"]) == 2 and rec["pearson_ci"][0] <= rec["pearson"] <= rec["pearson_ci"][1]


def test_cli_table_json_input_and_where(tmp_path, capsys):
    rows = [{"da": d, "t_stddev": t, "test_loss": l, "seed": s} for d, t, l, s in
            [("identity", 3.0, 1.30, 0), ("flip", 2.5, 1.25, 0), ("cutmix", 2.0, 1.21, 0), ("mixup", 2.2, 1.19, 0),
             ("identity", 9.0, 0.0, 1)]]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(rows))
    assert main(["correlate", str(path), "--x", "t_stddev", "--y", "test_loss", "--where", "seed=0"]) == 0
    out = capsys.readouterr().out
    assert "Pearson" in out and "Kendall tau-b" in out and "BCa" in out
    expected = sps.pearsonr([3.0, 2.5, 2.0, 2.2], [1.30, 1.25, 1.21, 1.19]).statistic
    assert f"{expected:.3f}" in out


def test_cli_user_errors_exit_2(paper_csv, tmp_path, capsys):
    assert main(["correlate", str(paper_csv), "--x", "T_stdev", "--y", "S_test_loss"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dastat: error: there is no column 'T_stdev'") and err.count("\n") == 1
    (tmp_path / "two.csv").write_text("a,b\n1,2\n2,3\n")
    assert main(["correlate", str(tmp_path / "two.csv"), "--x", "a", "--y", "b"]) == 2
    assert "at least 3 pairs" in capsys.readouterr().err
