"""Companion statistics against direct numpy/scipy computations on fixed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import special
from scipy import stats as sps

from dastat.stats.companions import Companions, CrossEntropyStats, cross_entropy, kl_divergence
from dastat.stats.compare import holm, paired_test
from dastat.stats import TStddev


def _blocks(seed: int, blocks: int, m: int, shared: float):
    """Per-block terms with a block random effect of variance ``shared``."""
    rng = np.random.default_rng(seed)
    u = rng.normal(0, np.sqrt(shared), size=(blocks, 1))
    a = 2.0 + u + rng.normal(0, 0.5, size=(blocks, m))
    b = 1.5 + u + 0.6 * (a - 2.0 - u) + rng.normal(0, 0.3, size=(blocks, m))
    return a, b


def test_ce_var_and_cov_match_numpy():
    a, b = _blocks(0, 40, 8, shared=0.0)
    stats = CrossEntropyStats(sections=8)
    for k in range(40):
        stats.update(torch.from_numpy(a[k]), torch.from_numpy(b[k]), k)
    out = stats.estimates()
    fa, fb = a.ravel(), b.ravel()
    assert out["ce_var"].value == pytest.approx((np.var(fa, ddof=1) + np.var(fb, ddof=1)) / 2, rel=1e-10)
    assert out["ce_cov"].value == pytest.approx(np.cov(fa, fb, ddof=1)[0, 1], rel=1e-10)
    block_means = (a.sum(1) + b.sum(1)) / 16
    assert out["risk_var"].value == pytest.approx(8 * np.var(block_means, ddof=1), rel=1e-10)


def test_ce_cov_cross_matches_the_block_variance_decomposition():
    """ce_cov_cross solved from (2m)² Var M = m (Var a + Var b) + 2m Cov(a,b) + 4m(m-1) ce_cov_cross in numpy."""
    a, b = _blocks(1, 30, 6, shared=0.2)
    stats = CrossEntropyStats()
    for k in range(30):
        stats.update(torch.from_numpy(a[k]), torch.from_numpy(b[k]), k)
    m = 6
    var_m = np.var((a.sum(1) + b.sum(1)) / (2 * m), ddof=1)
    fa, fb = a.ravel(), b.ravel()
    within = m * (np.var(fa, ddof=1) + np.var(fb, ddof=1)) + 2 * m * np.cov(fa, fb)[0, 1]
    expected = ((2 * m) ** 2 * var_m - within) / (4 * m * (m - 1))
    assert stats.estimates()["ce_cov_cross"].value == pytest.approx(expected, rel=1e-9)


def test_ce_cov_cross_recovers_a_shared_block_effect():
    """Terms sharing a block effect of variance 0.2 covary by 0.2 across images."""
    a, b = _blocks(2, 4000, 8, shared=0.2)
    stats = CrossEntropyStats()
    for k in range(4000):
        stats.update(torch.from_numpy(a[k]), torch.from_numpy(b[k]), k)
    est = stats.estimates()["ce_cov_cross"]
    assert est.ci[0] <= 0.2 <= est.ci[1]
    assert est.value == pytest.approx(0.2, abs=0.03)


def test_cross_entropy_and_kl_match_scipy():
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(5), size=7)
    q = rng.dirichlet(np.ones(5), size=7)
    ce = cross_entropy(torch.from_numpy(p), torch.from_numpy(np.log(q)))
    np.testing.assert_allclose(ce.numpy(), -(p * np.log(q)).sum(1), rtol=1e-12)
    np.testing.assert_allclose(kl_divergence(torch.from_numpy(p), torch.from_numpy(q)).numpy(),
                               special.rel_entr(p, q).sum(1), rtol=1e-10)


def test_affinity_kl_and_order_violations_by_hand():
    p_orig = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.5, 0.4, 0.1]], dtype=torch.float64)
    p_view = torch.tensor([[0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.1, 0.2, 0.7], [0.3, 0.6, 0.1]], dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 1])
    perm = torch.tensor([1, 0, 3, 2])  # pairs (0,1), (2,3)
    lam = torch.tensor(0.7)
    soft = torch.zeros(4, 3)
    soft[torch.arange(4), y] += 0.7
    soft[torch.arange(4), y[perm]] += 0.3
    comp = Companions()
    comp.update(p_orig, p_view, y, soft, {"lam": lam, "perm": perm}, 0)
    out = comp.estimates(mixes=True)
    # originals: argmax [0, 1, 2, 0] vs y [0, 1, 2, 1] → 3 correct; views: argmax [0, 0, 2, 1] vs the
    # dominant soft label (y itself, λ = 0.7) → rows 0, 2, 3 → 3 correct.
    assert out["affinity"].value == pytest.approx(3 / 3)
    assert out["kl_view"].value == pytest.approx(special.rel_entr(p_orig.numpy(), p_view.numpy()).sum(1).mean())
    # λ = 0.7 > 1/2 so the teacher should prefer y_i over y_perm(i):
    # row 0: p[0]=0.6 > p[1]=0.3 ok; row 1: p[1]=0.4 < p[0]=0.5 violation;
    # row 2: p[2]=0.7 > p[1]=0.2 ok; row 3: p[1]=0.6 > p[2]=0.1 ok.
    assert out["order_violation"].value == pytest.approx(1 / 4)
    assert math.isnan(Companions().estimates(mixes=False)["order_violation"].value)


def test_holm_matches_the_textbook_procedure():
    p = [0.01, 0.04, 0.03, 0.2]
    # sorted 0.01, 0.03, 0.04, 0.2 → ×4, ×3, ×2, ×1 with running max
    assert holm(p) == pytest.approx([0.04, 0.09, 0.09, 0.2])


def test_paired_test_false_positive_rate_is_at_most_nominal():
    """Two statistics with the same distribution on common units reject ≤ 5% (+ binomial slack)."""
    rng = np.random.default_rng(4)
    trials, rejections = 600, 0
    for _ in range(trials):
        common = rng.dirichlet(np.ones(4) * 5, size=(256,))
        a, b = TStddev(4, 1), TStddev(4, 1)
        a.update(torch.from_numpy(common + rng.normal(0, 0.01, size=common.shape)), torch.arange(256))
        b.update(torch.from_numpy(common + rng.normal(0, 0.01, size=common.shape)), torch.arange(256))
        test = paired_test(a.value, b.value, a.sections())
        rejections += test.p_value < 0.05
    # binomial(600, 0.05): the rate exceeds 0.05 + 2.3 SE (0.071) with probability ≈ 1%
    assert rejections / trials <= 0.071


def test_paired_test_detects_a_real_difference():
    rng = np.random.default_rng(5)
    common = rng.dirichlet(np.ones(4) * 5, size=(256,))
    a, b = TStddev(4, 1), TStddev(4, 1)
    a.update(torch.from_numpy(common), torch.arange(256))
    b.update(torch.from_numpy(0.25 + 0.9 * (common - 0.25)), torch.arange(256))  # 10% less spread
    test = paired_test(a.value, b.value, a.sections())
    assert test.difference > 0 and test.p_value < 1e-6
    # the delete-one-section jackknife of the difference, and a t test with sections − 1 degrees of freedom
    x, y = common, 0.25 + 0.9 * (common - 0.25)

    def diff(keep):
        return x[keep].std(0, ddof=1).mean() - y[keep].std(0, ddof=1).mean()

    section = np.arange(256) % 32
    loo = np.array([diff(section != j) for j in range(32)])
    se = np.sqrt(31 / 32 * ((loo - loo.mean()) ** 2).sum())
    assert test.difference == pytest.approx(diff(section >= 0), rel=1e-10)
    assert test.se == pytest.approx(se, rel=1e-8)
    assert test.p_value == pytest.approx(2 * sps.t.sf(abs(diff(section >= 0)) / se, 31), rel=1e-6)


def _spread_pair(rng, shrink: float, noise: float = 0.0):
    """Two T. stddevs on common units, the second's spread ``shrink`` times the first's."""
    common = rng.dirichlet(np.ones(4) * 5, size=(256,))
    other = 0.25 + shrink * (common - 0.25) + rng.normal(0, noise, size=common.shape)
    a, b = TStddev(4, 1), TStddev(4, 1)
    a.update(torch.from_numpy(common), torch.arange(256))
    b.update(torch.from_numpy(other), torch.arange(256))
    return a, b, common, other


def test_margin_test_is_the_jackknifed_ratio_against_one_plus_the_margin():
    a, b, x, y = _spread_pair(np.random.default_rng(5), 0.9)  # a's spread is 1/0.9 = 1.11 times b's
    test = paired_test(a.value, b.value, a.sections(), margin=0.04)

    def ratio(keep):
        return x[keep].std(0, ddof=1).mean() / y[keep].std(0, ddof=1).mean()

    section = np.arange(256) % 32
    loo = np.array([ratio(section != j) for j in range(32)])
    se = np.sqrt(31 / 32 * ((loo - loo.mean()) ** 2).sum())
    excess = ratio(section >= 0) - 1.04
    assert test.margin == 0.04 and test.p_value == pytest.approx(min(1, 2 * sps.t.sf(excess / se, 31)), rel=1e-6)
    assert test.p_value < 1e-6  # 11% apart is more than 4%


def test_a_difference_inside_the_margin_is_not_called_one():
    a, b, _, _ = _spread_pair(np.random.default_rng(6), 0.98, noise=1e-4)  # 2% apart, measured precisely
    assert paired_test(a.value, b.value, a.sections()).p_value < 1e-6  # equality is rejected
    assert paired_test(a.value, b.value, a.sections(), margin=0.04).p_value == 1.0  # "more than 4%" is not
