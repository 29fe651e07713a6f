"""T. stddev accumulators against direct numpy/scipy computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from dastat.stats import GROUP_SIZE, MeanStat, PaperGroups, SplitTStddev, TStddev, entropy, t_stddev
from dastat.stats.accumulators import jackknife


def _random_units(seed: int, n: int, c: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.dirichlet(np.ones(c), size=n))


def test_t_stddev_matches_numpy():
    groups = _random_units(0, 50, 7)
    expected = np.std(groups.numpy(), axis=0, ddof=1).mean()
    assert t_stddev(groups) == pytest.approx(expected, rel=1e-12)


def test_unit_variance_matches_numpy():
    units = _random_units(1, 101, 5)
    acc = TStddev(5, units_per_group=1, sections=8)
    acc.update(units[:40], torch.arange(40))
    acc.update(units[40:], torch.arange(40, 101))
    np.testing.assert_allclose(acc.variance().numpy(), np.var(units.numpy(), axis=0, ddof=1), rtol=1e-10)
    # leaving a section out equals the variance of the remaining units
    keep = (torch.arange(101) % 8) != 3
    np.testing.assert_allclose(acc.variance(exclude=3).numpy(), np.var(units[keep].numpy(), axis=0, ddof=1),
                               rtol=1e-10)


@settings(max_examples=40, deadline=None)
@given(n_a=st.integers(1, 30), n_b=st.integers(1, 30), c=st.integers(2, 6), seed=st.integers(0, 10_000))
def test_merge_equals_one_pass(n_a, n_b, c, seed):
    units = _random_units(seed, n_a + n_b, c)
    index = torch.arange(n_a + n_b)
    one = TStddev(c, 1, sections=4)
    one.update(units, index)
    a, b = TStddev(c, 1, sections=4), TStddev(c, 1, sections=4)
    a.update(units[:n_a], index[:n_a])
    b.update(units[n_a:], index[n_a:])
    a.merge(b)
    for name in ("count", "total", "total_sq"):
        torch.testing.assert_close(getattr(a, name), getattr(one, name), rtol=1e-12, atol=1e-12)


def test_tstddev_with_group_units_is_the_paper_formula():
    groups = _random_units(2, 64, 10)
    est = TStddev(10, units_per_group=1, sections=16)
    est.update(groups, torch.arange(64))
    assert est.value() == pytest.approx(t_stddev(groups), rel=1e-12)


def test_pair_units_scale_to_group_of_320():
    """sd of a mean of 320 i.i.d. pairs = sd(pair) / sqrt(320), per class."""
    pairs = _random_units(3, 5000, 4)
    est = TStddev(4, units_per_group=GROUP_SIZE)
    est.update(pairs, torch.arange(5000))
    expected = (np.std(pairs.numpy(), axis=0, ddof=1) / np.sqrt(320)).mean()
    assert est.value() == pytest.approx(expected, rel=1e-10)


def test_jackknife_matches_textbook_formula():
    units = _random_units(4, 96, 3)
    est = TStddev(3, units_per_group=1, sections=12)
    est.update(units, torch.arange(96))
    _, se = jackknife(est.value, list(range(12)))
    x = units.numpy()
    loo = np.array([np.std(x[np.arange(96) % 12 != j], axis=0, ddof=1).mean() for j in range(12)])
    expected = np.sqrt(11 / 12 * ((loo - loo.mean()) ** 2).sum())
    assert se == pytest.approx(expected, rel=1e-9)


def test_block_units_estimate_the_closed_form_t_stddev():
    """Blocks of m pairs with a shared block effect: the true sd of a group mean is known in closed form.

    A pair's unit is z = μ + u_block + e (Var u = s_u², Var e = s_e² per class); a group of
    320 pairs is 320/m independent blocks, so sd(group mean) = sqrt((s_u² + s_e²/m) / (320/m)).
    Fixed seed and a tolerance of many standard errors: deterministic, yet a wrong scaling fails.
    """
    rng = np.random.default_rng(5)
    m, blocks = 64, 4000
    s_u, s_e = np.array([0.01, 0.02, 0.03]), np.array([0.05, 0.02, 0.04])
    units = 0.3 + rng.normal(0, s_u, size=(blocks, 1, 3)) + rng.normal(0, s_e, size=(blocks, m, 3))
    est = TStddev(3, units_per_group=GROUP_SIZE / m)
    est.update(torch.from_numpy(units.mean(1)), torch.arange(blocks))
    truth = np.sqrt((s_u ** 2 + s_e ** 2 / m) / (GROUP_SIZE / m)).mean()
    result = est.compute()
    assert abs(result.value - truth) < 0.05 * truth  # the jackknife SE here is about 1.1% of the value
    assert result.ci[0] < result.value < result.ci[1] and result.relative_half_width < 0.05


def _image_draw_model(rng, blocks, draws, m, s_img, s_draw, s_inter):
    """s[block, draw, image] = g(image) + d(draw) + e(image, draw): independent normal parts per class."""
    g = rng.normal(0, s_img, size=(blocks, 1, m, 3))
    d = rng.normal(0, s_draw, size=(blocks, draws, 1, 3))
    e = rng.normal(0, s_inter, size=(blocks, draws, m, 3))
    return 0.3 + g + d + e


def test_split_estimate_matches_the_closed_form_and_beats_fresh_blocks():
    """Images and draws with known variance parts: a block mean under one draw has variance
    s_img²/m + s_draw² + s_inter²/m, so the true T. stddev is known in closed form."""
    rng = np.random.default_rng(8)
    m, blocks = 64, 600
    # per class, the draw part is 6–16% of a block mean's variance, as for mixup and cutmix on the bundled teacher
    s_img, s_draw, s_inter = np.array([0.06, 0.03, 0.05]), np.array([0.002, 0.001, 0.003]), np.array([0.02, 0.04, 0.01])
    truth = np.sqrt((s_img ** 2 / m + s_draw ** 2 + s_inter ** 2 / m) / (GROUP_SIZE / m)).mean()
    shares = _image_draw_model(rng, blocks, 4, m, s_img, s_draw, s_inter)
    split = SplitTStddev(3, draws=4, block_size=m)
    for k in range(blocks):
        block = torch.from_numpy(shares[k])
        split.update(block, block.mean(1), k)
    # Today's estimator on the same forwards: 600 · 5 / 2 = 1,500 fresh blocks of one draw.
    fresh = TStddev(3, units_per_group=GROUP_SIZE / m)
    one_draw = _image_draw_model(rng, 1500, 1, m, s_img, s_draw, s_inter)[:, 0].mean(1)
    fresh.update(torch.from_numpy(one_draw), torch.arange(1500))
    got, baseline = split.compute(), fresh.compute()
    assert abs(got.value - truth) < 3 * got.se and abs(baseline.value - truth) < 3 * baseline.se
    # narrower by more than √2 on equal forwards: more than 2× fewer forwards for the same width
    assert got.relative_half_width < baseline.relative_half_width / 1.5


def test_split_estimate_is_unbiased_for_the_block_variance():
    """Averaged over replicates, the split estimate of a block mean's variance equals the closed form."""
    rng = np.random.default_rng(9)
    m = 8
    s_img, s_draw, s_inter = np.array([0.1, 0.05, 0.2]), np.array([0.03, 0.05, 0.01]), np.array([0.05, 0.1, 0.02])
    truth = s_img ** 2 / m + s_draw ** 2 + s_inter ** 2 / m
    estimates = []
    for _ in range(300):
        split = SplitTStddev(3, draws=2, block_size=m)
        shares = _image_draw_model(rng, 20, 2, m, s_img, s_draw, s_inter)
        for k in range(20):
            split.update(torch.from_numpy(shares[k]), torch.from_numpy(shares[k].mean(1)), k)
        estimates.append(split.variance().numpy())
    mean, se = np.mean(estimates, 0), np.std(estimates, 0, ddof=1) / np.sqrt(len(estimates))
    assert np.all(np.abs(mean - truth) < 4 * se)


def test_split_estimate_refuses_wrong_shapes():
    split = SplitTStddev(3, draws=2, block_size=4)
    with pytest.raises(ValueError, match="2 draws of 4 images"):
        split.update(torch.zeros(3, 4, 3), torch.zeros(3, 3), 0)
    with pytest.raises(ValueError):
        SplitTStddev(3, draws=1, block_size=4)


def test_mean_stat_interval_matches_t_interval_for_equal_sections():
    values = torch.from_numpy(np.random.default_rng(6).normal(1.0, 0.5, size=320))
    stat = MeanStat(sections=32)
    stat.update(values, torch.arange(320))
    est = stat.compute()
    section_means = values.numpy().reshape(10, 32).mean(axis=0)  # unit k is in section k % 32
    # For a mean, the delete-one jackknife equals the classical SE of the section means.
    se = section_means.std(ddof=1) / np.sqrt(32)
    assert est.value == pytest.approx(values.mean().item(), rel=1e-12)
    assert est.se == pytest.approx(se, rel=1e-9)
    q = sps.t.ppf(0.975, 31)
    assert est.ci == pytest.approx((est.value - q * se, est.value + q * se), rel=1e-9)


def test_paper_groups_are_five_whole_batches_of_any_size_by_global_index():
    rng = np.random.default_rng(7)
    sizes = [64, 64, 64, 64, 32, 64, 64, 10, 64, 64, 64]  # short batches join the same group
    p_orig = [torch.from_numpy(rng.dirichlet(np.ones(3), size=n)) for n in sizes]
    p_view = [torch.from_numpy(rng.dirichlet(np.ones(3), size=n)) for n in sizes]
    groups = PaperGroups(3)
    for k in rng.permutation(len(sizes)):  # the order batches arrive in does not matter, their index does
        groups.push(int(k), p_orig[k], p_view[k])
    got = groups.means()
    assert [g for g, _ in got] == [0, 1]  # the 11th batch starts a group the stream does not complete
    for (_, mean), end in zip(got, (5, 10)):
        rows = np.concatenate([x.numpy() for pair in zip(p_orig[end - 5:end], p_view[end - 5:end]) for x in pair])
        np.testing.assert_allclose(mean.numpy(), rows.mean(0), rtol=1e-12)


def test_entropy_matches_scipy():
    p = _random_units(8, 20, 6)
    np.testing.assert_allclose(entropy(p).numpy(), sps.entropy(p.numpy(), axis=1), rtol=1e-10)
    assert entropy(torch.tensor([[1.0, 0.0]])).item() == 0.0


# --- CutMix's partners: a derangement (never the image itself) -------------------------------------------------


def _uniform_derangements(rng, n: int, m: int) -> np.ndarray:
    """``n`` independent uniformly random derangements of ``range(m)`` (uniform permutations, redrawn on a fixed point)."""
    out = np.empty((0, m), dtype=np.int64)
    while len(out) < n:
        perms = np.argsort(rng.random((2 * (n - len(out)) + 8, m)), axis=1)
        out = np.concatenate([out, perms[(perms != np.arange(m)).all(1)]])
    return out[:n]


def _mixing_teacher(x, partner, lam, shift):
    """A teacher that is not additive in image and partner: the probability of class 0 is a sigmoid of the
    blended latent (class 1 is its complement), so the view's mean probability has an image × partner part."""
    q = 1 / (1 + np.exp(-(2.0 * (lam * x + (1 - lam) * partner) + shift)))
    return np.stack([q, 1 - q], -1)


def _mixing_blocks(rng, blocks: int, draws: int, m: int, scheme: str = "derangement"):
    """Blocks of ``m`` latent images, each mixed under ``draws`` draws: CutMix-like (a derangement, λ ~ Beta(1, 1)
    and a logit shift ~ N(0, 0.3²) per draw) or Mixup-like (a uniform permutation and λ; an image blended with
    itself is itself). Returns originals (blocks×m×2), views (blocks×draws×m×2) and partners."""
    x = rng.normal(0, 1.5, size=(blocks, 1, m))
    if scheme == "derangement":
        perms = _uniform_derangements(rng, blocks * draws, m).reshape(blocks, draws, m)
        shift = rng.normal(0, 0.3, size=(blocks, draws, 1))
    else:
        perms, shift = np.argsort(rng.random((blocks, draws, m)), axis=-1), 0.0
    lam = rng.beta(1, 1, size=(blocks, draws, 1))
    views = _mixing_teacher(x, np.take_along_axis(np.broadcast_to(x, perms.shape), perms, -1), lam, shift)
    return _mixing_teacher(x[:, 0], x[:, 0], 1.0, 0.0), views, perms


def _true_block_variance(rng, m: int, n: int, scheme: str = "derangement") -> tuple[np.ndarray, np.ndarray]:
    """Var b for one draw per block, by direct simulation of ``n`` blocks: (V, its standard error)."""
    p, u, _ = _mixing_blocks(rng, n, 1, m, scheme)
    b = ((p + u[:, 0]) / 2).mean(1)
    centred = (b - b.mean(0)) ** 2
    return centred.sum(0) / (n - 1), centred.std(0, ddof=1) / np.sqrt(n)


def _split_on(p, u, perms, partners):
    blocks, draws, m, _ = u.shape
    split = SplitTStddev(2, draws=draws, block_size=m, partners=partners)
    for k in range(blocks):
        pk, uk, perm = (torch.from_numpy(np.ascontiguousarray(a[k])) for a in (p, u, perms))
        shares = pk / 2 + (uk + torch.gather(uk, 1, torch.argsort(perm, 1)[..., None].expand(-1, -1, 2))) / 2
        split.update(shares, (pk + uk).mean(1) / 2, k, originals=pk, views=uk, perms=perm)
    return split


@pytest.mark.parametrize("scheme, m, blocks, truth_blocks, within", [
    ("derangement", 8, 2_500, 300_000, 0.03),  # quick: the correction's 13% against the noise of both sides
    ("permutation", 8, 2_500, 300_000, 0.03),
    pytest.param("derangement", 8, 12_000, 1_500_000, 0.01, marks=pytest.mark.slow),
    pytest.param("derangement", 64, 8_000, 300_000, 0.01, marks=pytest.mark.slow),
    pytest.param("permutation", 64, 8_000, 300_000, 0.01, marks=pytest.mark.slow),
])
def test_split_estimate_with_mixing_partners_matches_the_block_variance(scheme, m, blocks, truth_blocks, within):
    """With a non-additive teacher the share spread alone reads Var b low by an O(1/m) term (13% at m = 8
    with a derangement); the corrected estimate is unbiased: its mean over blocks matches Var b from an
    independent simulation of one draw per block within 1% of Var b (the slow cases; each side's Monte Carlo
    error below a third of that)."""
    rng = np.random.default_rng(m)
    truth, truth_se = _true_block_variance(rng, m, truth_blocks, scheme)
    p, u, perms = _mixing_blocks(rng, blocks, 4, m, scheme)
    split = _split_on(p, u, perms, scheme)
    got = split.variance().numpy()
    # the estimate is an average over blocks: its Monte Carlo error from the delete-one-section values
    g = len(split.sections())
    leave_out = np.array([split.variance(j).numpy() for j in split.sections()])
    got_se = np.sqrt((g - 1) / g * ((leave_out - leave_out.mean(0)) ** 2).sum(0))
    assert np.all(truth_se < within / 3 * truth) and np.all(got_se < within / 3 * truth)
    assert np.all(np.abs(got / truth - 1) < within)
    if scheme == "derangement":
        uncorrected = _share_spread_only(split)
        assert np.all(uncorrected.variance().numpy() < truth * (1 - (0.05 if m == 8 else 0.005)))


def _share_spread_only(source: SplitTStddev) -> SplitTStddev:
    """The same blocks' share sums in a statistic without the correction (the estimate before it)."""
    copy = SplitTStddev(source.num_classes, source.draws, source.block_size)
    for name in ("count", "draw_var", "within", "within_mean"):
        getattr(copy, name).copy_(getattr(source, name))
    return copy


def test_derangement_split_refuses_blocks_too_small_and_missing_partners():
    with pytest.raises(ValueError, match="at least 5 images"):
        SplitTStddev(2, draws=2, block_size=4, partners="derangement")
    split = SplitTStddev(2, draws=2, block_size=6, partners="derangement")
    with pytest.raises(ValueError, match="originals, views and partners"):
        split.update(torch.zeros(2, 6, 2), torch.zeros(2, 2), 0)
