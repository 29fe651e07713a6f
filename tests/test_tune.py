"""``dastat tune``: grid expansion, the racing rule's error rate and power on simulated units, the race on the
bundled teacher, and the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dastat.augment.spec import expand_grid
from dastat.errors import UserError
from dastat.scoring.race import Race, look_schedule
from dastat.stats import TStddev

# --------------------------------------------------------------------------- grids


@pytest.mark.parametrize("grid,expected", [
    ("cutmix(alpha=0.2|0.5|1|2)", ["cutmix(alpha=0.2)", "cutmix(alpha=0.5)", "cutmix(alpha=1)", "cutmix(alpha=2)"]),
    ("randaugment(num_ops=2,magnitude=5|9|13)", ["randaugment(num_ops=2,magnitude=5)",
                                                 "randaugment(num_ops=2,magnitude=9)",
                                                 "randaugment(num_ops=2,magnitude=13)"]),
    ("cutout(size=4|8) + mixup(alpha=0.2|1)", ["cutout(size=4)+mixup(alpha=0.2)", "cutout(size=4)+mixup(alpha=1)",
                                               "cutout(size=8)+mixup(alpha=0.2)", "cutout(size=8)+mixup(alpha=1)"]),
    ("pick(base=cutmix(alpha=0.5|1), pool=2)", ["pick(base=cutmix(alpha=0.5),pool=2)",
                                                "pick(base=cutmix(alpha=1),pool=2)"]),
    ("autoaugment(policy=imagenet|cifar10)", ["autoaugment(policy=imagenet)", "autoaugment(policy=cifar10)"]),
    ("flip", ["flip"]),
])
def test_expand_grid(grid, expected):
    assert expand_grid(grid) == expected


@pytest.mark.parametrize("grid,fragment", [
    ("cutmix(alpha=0.2||1)", "empty"),
    ("cutmix(alpha=|1)", "empty"),
    ("cutmix(alpha=1|)", "empty"),
    ("cutmix|mixup", "one parameter"),
    ("flip+cutmix|mixup", "one parameter"),
    ("cutmix(alpha=1|1.0)", "twice"),
    ("cutmix(alpha=0.2|1", "not well formed"),
])
def test_bad_grids_are_one_sentence(grid, fragment):
    with pytest.raises(UserError, match=fragment) as info:
        expand_grid(grid)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- the racing rule on simulated units

C = 10


def _units(rng: np.random.Generator, m: int, blocks: int) -> np.ndarray:
    """Block units like the fast protocol's: the mean of an original and a view over 32 images, the originals
    shared by every candidate, the views drawn with a per-block strength (skewed, like a shared random draw)."""
    orig = rng.dirichlet(np.full(C, 0.3), size=(blocks, 32)).mean(1)
    strength = rng.gamma(2.0, 0.5, size=(m, blocks, 1, 1))
    views = rng.dirichlet(np.full(C, 0.3), size=(m, blocks, 32))
    views = ((views * strength + 1.0 / C) / (strength + 1.0)).mean(2)
    return 0.5 * (orig[None] + views)


def _race(units: np.ndarray, blocks: int, **kwargs) -> Race:
    """Run the race over the looks of ``blocks`` blocks, feeding only live candidates (as the engine does)."""
    names = [f"c{i}" for i in range(units.shape[0])]
    race = Race(names, look_schedule(blocks), **kwargs)
    stats = {n: TStddev(C, 10.0) for n in names}
    done = 0
    for k in race.looks:
        for i, n in enumerate(names):
            if n in race.live:
                stats[n].update(torch.from_numpy(units[i, done:k]), torch.arange(done, k))
        done = k
        race.look(stats, k)
        if race.stopped:
            break
    return race


def test_first_level_is_bonferroni_over_looks_opponents_and_candidates():
    race = Race(["a", "b", "c", "d"], [32, 64, 128], alpha=0.05)
    assert race.tests == 3 * 3
    assert race.level == pytest.approx(0.05 / (3 * 3 * 4))
    race.live.remove("d")  # Holm: once one hypothesis is rejected, the next is tested over the three left
    assert race.level == pytest.approx(0.05 / (3 * 3 * 3))
    assert Race(["a", "b", "c", "d"], [32, 64, 128], multiplicity="none").level == pytest.approx(0.05 / 9)
    assert Race(["a", "b", "c", "d"], [32, 64, 128], tests=3).level == pytest.approx(0.05 / (3 * 4))


def test_equal_candidates_are_rarely_eliminated():
    """Four candidates with the same true T. stddev: all are best, so any elimination is an error."""
    reps, m, blocks = 400, 4, 128
    errors = 0
    for rep in range(reps):
        race = _race(_units(np.random.default_rng(rep), m, blocks), blocks)
        errors += len(race.live) < m
    assert errors / reps <= 0.05


def test_a_much_worse_candidate_is_eliminated():
    """Candidate 0's views are noisier: its T. stddev is clearly higher than the other two's."""
    eliminated, early = 0, 0
    for rep in range(40):
        units = _units(np.random.default_rng(10_000 + rep), 3, 256)
        units[0] = units[0].mean(0) + 1.6 * (units[0] - units[0].mean(0))
        race = _race(units, 256)
        eliminated += race.status("c0") == "eliminated"
        early += race.status("c0") == "eliminated" and race.stopped != "budget"
    assert eliminated >= 36
    assert early >= 1


class _Scaled(TStddev):
    """Another statistic's values times a known factor per left-out section (``factors[None]`` on all)."""

    def __init__(self, base: TStddev, factors: dict):
        self.base, self.factors = base, factors

    def value(self, exclude=None):
        return self.factors[exclude] * self.base.value(exclude)

    def sections(self):
        return self.base.sections()


def _base() -> TStddev:
    base = TStddev(C, 10.0)
    base.update(torch.from_numpy(_units(np.random.default_rng(0), 1, 64)[0]), torch.arange(64))
    return base


def _jackknife_se(r_loo: np.ndarray) -> float:
    g = len(r_loo)
    return float(np.sqrt((g - 1) / g * ((r_loo - r_loo.mean()) ** 2).sum()))


@pytest.mark.parametrize("margin", [0.0, 0.01])
@pytest.mark.parametrize("shift", [0.002, 0.02])
def test_one_look_against_a_hand_computed_jackknife(shift, margin):
    from scipy import stats as st

    base = _base()
    wobble = np.random.default_rng(1).normal(0, 0.0005, 32)
    factors = {None: 1 + shift, **{j: 1 + shift + wobble[j] for j in range(32)}}
    se = _jackknife_se(wobble + shift)  # the relative difference with each section left out
    alpha = 0.02
    p = st.t.sf((shift - margin) / se, 31)  # one look, one opponent: one test of "more than margin worse"
    q = st.t.isf(alpha / 2, 31)  # Holm's first step over the two hypotheses
    upper = shift + q * se
    assert (p <= alpha / 2) == (shift == 0.02)  # one case of each kind

    def race(looks=(32,), tolerance=0.0, blocks=32):
        r = Race(["a", "b"], list(looks), alpha=alpha, tolerance=tolerance, margin=margin)
        r.look({"a": base, "b": _Scaled(base, factors)}, blocks)
        return r

    assert race().best == "a"
    assert race().p_values == {"a": 1.0, "b": pytest.approx(p, rel=1e-9)}
    assert race().last.eliminated == (["b"] if p <= alpha / 2 else [])
    if p > alpha / 2:  # a live candidate is tied when its upper bound is below the tolerance
        assert race(tolerance=upper * 1.01).stopped == "all tied within %g" % (upper * 1.01)
        assert not race(tolerance=upper * 0.99).last.tied
        for blocks, shrink in ((128, 1.0), (32, 0.5), (2, 0.125)):  # settled: not separable with se × shrink
            assert race((128,), blocks=blocks).last.settled == (shift - q * se * shrink <= margin)


def test_holm_steps_down_where_bonferroni_stops():
    """``c`` is far worse than ``a``; ``b``'s p-value against ``a`` (0.01, times the two tests each candidate
    could take: 0.02) passes Holm's second step (alpha / 2 = 0.025) but not Bonferroni's alpha / 3."""
    from scipy import stats as st

    base, rng = _base(), np.random.default_rng(2)
    wobble_b, wobble_c = rng.normal(0, 0.0005, 32), rng.normal(0, 0.0005, 32)
    shift_b = _jackknife_se(wobble_b) * st.t.isf(0.01, 31)
    b = {None: 1 + shift_b, **{j: 1 + shift_b + wobble_b[j] for j in range(32)}}
    c = {None: 1.05, **{j: 1.05 + wobble_c[j] for j in range(32)}}
    stats = {"a": base, "b": _Scaled(base, b), "c": _Scaled(base, c)}
    holm_race = Race(["a", "b", "c"], [32], margin=0)
    bonferroni = Race(["a", "b", "c"], [32], multiplicity="bonferroni", margin=0)
    assert sorted(holm_race.look(stats, 32)) == ["b", "c"]
    assert holm_race.p_values["b"] == pytest.approx(0.02, rel=1e-6)
    assert bonferroni.look(stats, 32) == ["c"]
    assert holm_race.best == bonferroni.best == "a" and holm_race.stopped == "one left"


# --------------------------------------------------------------------------- the race on the bundled teacher

KEYS = {"candidate", "t_stddev", "t_stddev_ci", "status", "eliminated_after", "n_forward"}


@pytest.fixture(scope="module")
def raced(fmnist, bundled_teacher):
    import dastat

    return dastat.tune(["cutout(size=8|24)", "flip"], bundled_teacher, fmnist, max_images=8192, batch_size=32, seed=0)


def test_race_keeps_candidates_not_shown_worse_by_more_than_the_margin(raced):
    by = {r["candidate"]: r for r in raced.records}
    assert set(by) == {"cutout(size=8)", "cutout(size=24)", "flip"}
    # Hiding 24 of 28 pixels flattens the teacher's output more than a flip does (lower T. stddev), but after
    # 64 blocks neither rival is shown more than 4% worse, nor could be by the budget: the race ends there.
    assert raced.best == "cutout(size=24)"
    assert by["flip"]["t_stddev"] > by["cutout(size=24)"]["t_stddev"]
    assert {by[c]["status"] for c in ("flip", "cutout(size=8)")} == {"tied"}
    assert raced.settings["stopped"] == "none separable by the budget" and raced.settings["margin"] == 0.04
    assert [r["status"] for r in raced.records][0] == "best"
    assert all(set(r) == KEYS for r in raced.records)


def test_race_forward_counts_are_consistent(raced):
    # Cutout draws 4 times on each block of 32 (split estimate): 5 forwards per original, so its budget of
    # 2 × 8192 forwards allows 102 blocks; flip's one view per original allows 8192 originals (256 blocks).
    # The race looks after 64 blocks, half as many again (on multiples of 16), and at the common budget.
    looks = raced.settings["looks_images"]
    assert looks == [64 * 32, 96 * 32, 102 * 32]
    images = {r["candidate"]: r["eliminated_after"] or raced.settings["images"] for r in raced.records}
    assert raced.settings["images"] in looks
    views = {}
    for r in raced.records:
        assert r["eliminated_after"] is None or r["eliminated_after"] in looks
        assert (r["eliminated_after"] is None) == (r["status"] != "eliminated")
        views[r["candidate"]], rest = divmod(r["n_forward"] - images[r["candidate"]], images[r["candidate"]])
        assert rest == 0
    assert views == {"cutout(size=8)": 4, "cutout(size=24)": 4, "flip": 1}
    # The originals are forwarded once for the whole race, each candidate's views for as long as it ran.
    assert raced.total_forward == max(images.values()) + sum(views[c] * images[c] for c in images)
    assert raced.full_scoring_forward == 8192 + 2 * (102 * 32 * 4) + 8192 * 1
    assert raced.total_forward < raced.full_scoring_forward


def test_race_result_serialises(raced):
    doc = json.loads(raced.to_json())
    assert set(doc) == {"results", "total_forward", "full_scoring_forward", "settings"}
    assert [set(r) for r in doc["results"]] == [KEYS] * 3
    assert list(raced.to_frame().columns) == list(raced.records[0])


# --------------------------------------------------------------------------- the command line


def test_cli_tune_json_and_csv(tmp_path, capsys):
    from dastat.cli import main

    out = tmp_path / "tune.csv"
    argv = ["tune", "--da", "cutout(size=8|24)", "--da", "flip", "--max-images", "2048", "--batch-size", "32",
            "--draws", "2", "--no-progress", "--json", "--out", str(out)]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"results", "total_forward", "full_scoring_forward", "provenance"}
    assert [set(r) for r in doc["results"]] == [KEYS] * 3
    protocol = doc["provenance"]["protocol"]
    assert protocol["name"] == "race" and protocol["tolerance"] == 0.01 and protocol["draws"] == 2
    # --draws 2: each cutout candidate forwards its originals and two views of each.
    for r in doc["results"]:
        if r["candidate"].startswith("cutout"):
            assert r["n_forward"] == 3 * (r["eliminated_after"] or protocol["images"])
    import pandas as pd

    frame = pd.read_csv(out)
    assert sorted(frame["candidate"]) == sorted(r["candidate"] for r in doc["results"])
    assert (tmp_path / "tune.csv.provenance.json").exists()


def test_cli_tune_table(capsys):
    from dastat.cli import main

    assert main(["tune", "--da", "mixup(alpha=0.2|1)", "--max-images", "2048", "--batch-size", "32",
                 "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "mixup(alpha=0.2)" in text and "best" in text and "model forwards" in text


def test_look_schedule_always_moves_on():
    assert look_schedule(5, first=1, step=1) == [1, 2, 3, 4, 5]
    assert look_schedule(70, first=5, step=16) == [5, 16, 32, 48, 64, 70]
    assert look_schedule(204) == [64, 96, 144, 204]


def test_looks_fall_where_any_process_count_dividing_the_check_period_looks():
    from dastat.scoring.protocols import CHECK_EVERY

    for total in (65, 204, 400, 1000):
        assert all(k % CHECK_EVERY == 0 for k in look_schedule(total)[:-1])


# --------------------------------------------------------------------------- the dangerous null: shaped draw effects

def _shaped_null_race(rng: np.random.Generator, looks: list[int], **rule) -> Race:
    """Two candidates of equal true T. stddev on common images and common uniforms, whose per-batch draw
    effects are a normal and a lognormal function of the same uniforms (standardised: mean 0, variance 1),
    added to views with image noise, so their block means' variances are equal; split estimates, 4 draws."""
    from scipy import stats as sps

    from dastat.stats import SplitTStddev

    m, draws, blocks = 64, 4, looks[-1]
    p = rng.dirichlet(np.full(3, 0.5), size=(blocks, 1, m))
    base = 0.5 * p + 0.5 * rng.dirichlet(np.full(3, 0.5), size=(blocks, draws, m))
    z = sps.norm.ppf(rng.random((blocks, draws, 1, 1)))
    lognormal = (np.exp(z) - np.exp(0.5)) / np.sqrt((np.e - 1) * np.e)
    effect = np.array([0.06, -0.06, 0.0])
    views = {"normal": base + z * effect, "lognormal": base + lognormal * effect}
    race = Race(list(views), looks, **rule)
    stats = {n: SplitTStddev(3, draws, m) for n in views}
    for k in range(blocks):
        pk = torch.from_numpy(p[k])
        for n, v in views.items():
            vk = torch.from_numpy(v[k])
            stats[n].update((pk + vk) / 2, (pk + vk).mean(1) / 2, k)
        if race.due(k + 1):
            race.look({n: stats[n] for n in race.live}, k + 1)
    return race


def test_race_holds_its_level_when_draw_effects_differ_in_shape():
    """The dangerous null: a normal and a lognormal draw effect of equal variance on common uniforms. Dropping
    either is an error; at most alpha = 5% (allowing 2 Monte Carlo errors of 40 races)."""
    looks = look_schedule(204)
    drops = sum(len(_shaped_null_race(np.random.default_rng(rep), looks).live) < 2 for rep in range(40))
    assert drops / 40 <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / 40)


def test_the_plain_t_test_from_an_early_look_fails_that_null():
    """Why the race has a margin and a late first look: testing "worse at all" from 16 blocks on drops a
    candidate in that null far more often than alpha (measured: 8 of 40 on these seeds, against 2 of 40 for
    the default rule)."""
    plain = sum(len(_shaped_null_race(np.random.default_rng(rep), look_schedule(204, first=16, step=1),
                                      margin=0.0).live) < 2 for rep in range(40))
    assert plain / 40 > 0.05 + 2 * np.sqrt(0.05 * 0.95 / 40)
