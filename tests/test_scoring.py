"""score/rank end to end on the bundled teacher: protocols, common random numbers, torchrun, CLI errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import dastat
from dastat.augment import create
from dastat.cli import main
from dastat.errors import UserError

REPO = Path(__file__).resolve().parents[1]
JSON_KEYS = {"da", "t_stddev", "t_stddev_ci", "teacher_entropy", "protocol", "n_forward", "seconds"}


@pytest.fixture(scope="module")
def small(fmnist):
    """6,400 training images: big enough for meaningful intervals, small enough for make test."""
    return fmnist.subset(train=6400, test=500)


def test_score_result_fields_and_json(small, bundled_teacher):
    result = dastat.score("cutmix", bundled_teacher, small, max_images=1024)
    record = json.loads(dastat.Ranking([result]).to_json())[0]
    assert record == json.loads(json.dumps(result.to_dict()))
    assert JSON_KEYS <= set(record)
    lo, hi = record["t_stddev_ci"]
    assert lo < record["t_stddev"] < hi
    # CutMix draws one box per batch: each batch of 64 gets 4 draws (320 forwards), and the run stops before
    # a batch that would pass the forwards of 1,024 originals and one view each.
    assert record["protocol"] == "fast" and record["unit"] == "split" and record["draws"] == 4
    assert record["n_forward"] == 6 * 5 * 64 and record["n_images"] == 6 * 64
    one_draw = dastat.score("cutmix", bundled_teacher, small, max_images=1024, draws=1)
    assert one_draw.unit == "block" and one_draw.n_forward == 2 * 1024  # a fresh batch per draw
    # a deterministic DA's views are independent given their images: pairs are the unit
    assert dastat.score("flip", bundled_teacher, small, max_images=1024).unit == "pair"


def test_same_seed_same_numbers_and_common_random_numbers(small, bundled_teacher):
    a = dastat.score("mixup", bundled_teacher, small, max_images=1024, precision=1e-6, seed=3)
    b = dastat.score("mixup", bundled_teacher, small, max_images=1024, precision=1e-6, seed=3)
    assert a.t_stddev == b.t_stddev and a.t_stddev_ci == b.t_stddev_ci
    # Every block's base view and draw depend only on (seed, block, DA): scoring a DA
    # alone or within a ranking gives the same number.
    ranking = dastat.rank(["identity", "mixup"], bundled_teacher, small, max_images=1024, precision=1e-6, seed=3)
    assert {r.da: r.t_stddev for r in ranking}["mixup"] == a.t_stddev
    c = dastat.score("mixup", bundled_teacher, small, max_images=1024, precision=1e-6, seed=4)
    assert c.t_stddev != a.t_stddev


@pytest.mark.slow
def test_fast_protocol_lies_inside_the_paper_protocols_interval(small, bundled_teacher):
    """All nine DAs: the fast estimate falls in the paper protocol's own 95% interval (subset of 6,400 images)."""
    paper = dastat.rank(None, bundled_teacher, small, student="resnet8", protocol="paper", epochs=1, seed=1)
    fast = dastat.rank(None, bundled_teacher, small, student="resnet8", max_images=6400, seed=2)
    assert len(paper) == len(fast) == 9
    fast_by_da = {r.da: r for r in fast}
    outside = []
    for r in paper:
        assert r.n_units == 20 and r.unit == "group"  # 6,400 images = 20 groups of 320
        lo, hi = r.t_stddev_ci
        if not lo <= fast_by_da[r.da].t_stddev <= hi:
            outside.append((r.da, fast_by_da[r.da].t_stddev, (lo, hi)))
    assert not outside


def _reference_paper_loop(teacher, data, seed: int, epochs: int) -> list[np.ndarray]:
    """The paper's loop, written plainly: every batch (none dropped) and its view go into a list of
    probability arrays; every 10 entries (5 originals + 5 views) the mean of their rows is one group.
    The list is not reset at an epoch's end. The DA is identity, so the view is the base view."""
    from dastat.augment.functional import base_view
    from dastat.seeding import stable_seed

    entries, groups, k = [], [], 0
    with torch.inference_mode():
        for epoch in range(epochs):
            shuffle = torch.Generator().manual_seed(stable_seed(seed, "epoch", epoch))
            order = torch.randperm(len(data.train), generator=shuffle)
            for start in range(0, len(order), 64):
                idx = order[start:start + 64]
                x = base_view(data.train.images[idx], torch.Generator().manual_seed(stable_seed(seed, k)))
                # float32 probabilities as exp(log-softmax), the way the scorer takes them
                p = torch.log_softmax(teacher(x).float(), -1).exp().double().numpy()
                entries += [p, p]
                k += 1
                if len(entries) == 10:
                    groups.append(np.concatenate(entries).mean(0))
                    entries = []
    return groups


def test_paper_protocol_groups_whole_batches_like_the_reference_loop(small, bundled_teacher):
    """1,000 images = 15 full batches + one of 40 per epoch, over 10 epochs: groups span epoch ends."""
    data = small.subset(train=1000)
    groups = np.stack(_reference_paper_loop(bundled_teacher, data, seed=5, epochs=10))
    result = dastat.score("identity", bundled_teacher, data, protocol="paper", epochs=10, seed=5)
    assert result.n_units == len(groups) == 160 // 5
    assert result.n_images == 10 * 1000
    assert result.t_stddev == pytest.approx(groups.std(0, ddof=1).mean(), rel=1e-12)


def test_paper_groups_match_the_reference_loop_group_for_group():
    from dastat.scoring.protocols import GroupUnits, Views

    class Recorder:  # stands in for the statistic: keeps what each group feeds it
        def update(self, units, index):
            got.append(units.numpy()[0])

    rng = np.random.default_rng(0)
    batches = [torch.from_numpy(rng.dirichlet(np.ones(10), size=n)) for n in [64] * 15 + [40]] * 3
    views = [torch.from_numpy(rng.dirichlet(np.ones(10), size=p.shape[0])) for p in batches]
    units, got = GroupUnits(10), []
    for k, (p, v) in enumerate(zip(batches, views)):
        units(Recorder(), k, Views(p, [v], [{}]))
    units.finish(Recorder())
    expected, entries = [], []
    for p, v in zip(batches, views):
        entries += [p.numpy(), v.numpy()]
        if len(entries) == 10:
            expected.append(np.concatenate(entries).mean(0))
            entries = []
    assert len(got) == len(expected) == 48 // 5
    np.testing.assert_allclose(np.stack(got), np.stack(expected), rtol=1e-12, atol=0)


def test_block_stream_is_seeded_and_shards_without_changing_blocks(small):
    from dastat.scoring import BlockStream

    def blocks(**kw):
        stream = BlockStream(small.train, 64, seed=3, epochs=2, drop_last=False, **kw)
        return {b.index: (b.x, b.y, torch.rand(3, generator=b.generator("da"))) for b in stream}

    one, again = blocks(), blocks()
    shards = [blocks(rank=r, world_size=2) for r in (0, 1)]
    assert len(one) == 2 * 100 and sorted(one) == list(range(200))
    assert sorted(shards[0]) == list(range(0, 200, 2)) and sorted(shards[1]) == list(range(1, 200, 2))
    for k, (x, y, r) in one.items():
        for other in (again[k], shards[k % 2][k]):
            assert torch.equal(x, other[0]) and torch.equal(y, other[1]) and torch.equal(r, other[2])
    different = BlockStream(small.train, 64, seed=4, epochs=1)
    assert not torch.equal(next(iter(different)).x, one[0][0])
    # an epoch's images are a permutation of the split
    first_epoch = torch.cat([one[k][1] for k in range(100)])
    assert torch.equal(first_epoch.sort().values, small.train.labels.sort().values)


def test_score_takes_one_da_and_ranking_is_plain_data(small, bundled_teacher):
    with pytest.raises(UserError, match="rank"):
        dastat.score(["flip", "cutout"], bundled_teacher, small)
    config = dastat.scoring.ScoreConfig(max_images=1024, seed=2)
    ranking = dastat.rank(["flip", "cutout"], bundled_teacher, small, config=config)
    assert not isinstance(ranking, list) and len(ranking) == 2 and list(ranking) == ranking.results
    # originals shared: 1,024; flip's views: 1,024; cutout: 4 draws on 6 batches of 64 (the 7th would pass
    # the 2,048-forward budget)
    assert ranking[0].t_stddev <= ranking[1].t_stddev and ranking.total_forward == 1024 + 1024 + 4 * 6 * 64
    # the paired values survive JSON, and the test built from them is the jackknife of the difference
    stored = json.loads(json.dumps(ranking.sections))
    a, b = stored["flip"]["t_stddev"], stored["cutout"]["t_stddev"]
    live = sorted(set(a["sections"]) | set(b["sections"]))
    loo = np.array([a["leave_one_out"][j] - b["leave_one_out"][j] for j in live])
    se = np.sqrt((len(live) - 1) / len(live) * ((loo - loo.mean()) ** 2).sum())
    test = ranking.compare("flip", "cutout")
    assert test.difference == pytest.approx(a["value"] - b["value"], rel=1e-12)
    assert test.se == pytest.approx(se, rel=1e-9)
    assert ranking.to_frame()["da"].tolist() == [r.da for r in ranking]


def test_identical_das_with_different_seeds_are_rarely_called_distinct(small, bundled_teacher):
    """The neighbour test's false-positive rate over repeated rankings stays near the 5% level."""
    rejections, trials = 0, 12
    for trial in range(trials):
        a, b = create("cutmix"), create("cutmix")
        a.spec, b.spec = "cutmix#a", "cutmix#b"  # same DA, different random draws
        ranking = dastat.rank([a, b], bundled_teacher, small, max_images=2048, precision=1e-6, seed=100 + trial)
        rejections += bool(ranking[0].extra["distinct_from_next"])
    # binomial(12, 0.05): 3 or more false positives happens with probability 2%
    assert rejections <= 2


def test_torchrun_two_processes_agree_with_one(tmp_path, bundled_teacher, fmnist):
    args = ["score", "--da", "cutmix", "--max-images", "2048", "--precision", "0.000001", "--json",
            "--no-progress", "--device", "cpu"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "dastat", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    two = json.loads(done.stdout)["results"]  # rank 0 alone printed one JSON object
    one = dastat.score("cutmix", bundled_teacher, fmnist, max_images=2048, precision=1e-6, device="cpu")
    assert len(two) == 1 and two[0]["n_forward"] == one.n_forward == 12 * 5 * 64  # 12 batches, 4 draws each
    assert two[0]["t_stddev"] == pytest.approx(one.t_stddev, rel=1e-9)
    lo, hi = one.t_stddev_ci
    assert lo <= two[0]["t_stddev"] <= hi


# --- the CLI -----------------------------------------------------------------------------


def test_cli_rank_json(capsys):
    code = main(["rank", "--da", "identity", "--da", "cutout", "--max-images", "1024", "--json", "--no-progress"])
    assert code == 0
    records = json.loads(capsys.readouterr().out)["results"]
    assert [set(JSON_KEYS) <= set(r) for r in records] == [True, True]
    assert records[0]["t_stddev"] <= records[1]["t_stddev"]
    assert {"distinct_from_next", "ce_cov_t", "affinity", "kl_view", "order_violation"} <= set(records[0])


def test_cli_table_out_and_report(tmp_path, capsys):
    out, report = tmp_path / "r.csv", tmp_path / "r.md"
    code = main(["rank", "--da", "flip", "--da", "mixup", "--max-images", "1024", "--no-progress",
                 "--out", str(out), "--report", str(report)])
    assert code == 0
    text = capsys.readouterr().out
    assert "T. stddev" in text and "mixup" in text and "flip" in text
    assert out.read_text().splitlines()[0].startswith("da,t_stddev")
    assert "## What the columns mean" in report.read_text()


@pytest.mark.parametrize("argv, message", [
    (["score", "--da", "cutmixx"], "cutmix"),
    (["score", "--da", "cutmix_pick_s"], "needs a student"),
    (["score", "--da", "cutmix", "--teacher", "/nonexistent/t.pth"], "does not exist"),
    (["score", "--da", "cutmix", "--data", "cifar10:/nonexistent"], "--download"),
    (["rank", "--by", "ce_cov"], "needs a student"),
    (["rank", "--student", "resnet9"], "did you mean 'resnet8'"),
])
def test_cli_user_errors_exit_2_without_traceback(argv, message, capsys):
    assert main(argv + ["--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_cli_corrupt_teacher_file(tmp_path, capsys):
    bad = tmp_path / "t.pth"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    assert main(["score", "--da", "flip", "--teacher", str(bad), "--no-progress"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def _cifar_root(tmp_path, name: str, n: int = 128) -> Path:
    import pickle

    rng = np.random.default_rng(0)
    if name == "cifar100":
        folder, files, key, classes = tmp_path / "cifar-100-python", ["train", "test"], "fine_labels", 100
    else:
        folder, key, classes = tmp_path / "cifar-10-batches-py", "labels", 10
        files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    folder.mkdir(parents=True)
    for fname in files:
        with open(folder / fname, "wb") as f:
            pickle.dump({b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                         key.encode(): rng.integers(0, classes, n).tolist()}, f)
    return tmp_path


def test_teacher_data_mismatch_is_a_user_error(tmp_path, capsys):
    root = _cifar_root(tmp_path, "cifar10")
    assert main(["score", "--da", "flip", "--data", f"cifar10:{root}", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "channel" in err and "Traceback" not in err


def test_repdistiller_teacher_on_cifar100_without_arch(tmp_path, reference_dir, capsys):
    root = _cifar_root(tmp_path, "cifar100", n=256)
    ckpt = reference_dir / "repdistiller" / "resnet56_vanilla" / "ckpt_epoch_240.pth"
    code = main(["score", "--teacher", str(ckpt), "--data", f"cifar100:{root}", "--da", "cutmix",
                 "--max-images", "256", "--json", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    record = json.loads(capsys.readouterr().out)["results"][0]
    assert record["da"] == "cutmix" and record["n_forward"] == 512
    assert "resnet56" in record["teacher"]


def test_unknown_student_is_named_as_the_student(capsys):
    assert main(["rank", "--student", "resnet9", "--no-progress"]) == 2
    assert "student 'resnet9'" in capsys.readouterr().err


def test_progress_is_a_bar_on_a_terminal_and_periodic_lines_in_a_log(small, bundled_teacher, monkeypatch):
    import sys

    import dastat.progress

    made, real = [], dastat.progress.progress_bar
    monkeypatch.setattr(dastat.progress, "progress_bar", lambda *a, **kw: made.append(real(*a, **kw)) or made[-1])
    for tty, progress in ((True, True), (False, True), (False, False)):
        monkeypatch.setattr(sys.stderr, "isatty", lambda tty=tty: tty, raising=False)
        dastat.score("flip", bundled_teacher, small, max_images=256, progress=progress)
    kinds = [type(bar).__name__ for bar in made]
    assert "tqdm" in kinds[0] and kinds[1:] == ["PeriodicLine", "NoneType"]


def test_split_shares_give_each_image_both_of_its_roles_in_a_mixing_draw():
    from dastat.scoring.protocols import Views, feed_split

    class Recorder:  # stands in for the statistic
        partners = None

        def update(self, shares, means, index):
            self.shares, self.means = shares, means

    p = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    u = torch.tensor([[0.2, 0.8], [0.6, 0.4], [0.9, 0.1]])  # view i mixes image i with image perm[i]
    perm = torch.tensor([1, 2, 0])  # image 0 is the partner in view 2, image 1 in view 0, image 2 in view 1
    rec = Recorder()
    feed_split(rec, 0, Views(p, [u, u], [{"perm": perm}, {}]))
    by_hand = torch.tensor([[0.5 + (0.2 + 0.9) / 2, (0.8 + 0.1) / 2],
                            [(0.6 + 0.2) / 2, 0.5 + (0.4 + 0.8) / 2],
                            [0.25 + (0.9 + 0.6) / 2, 0.25 + (0.1 + 0.4) / 2]])
    torch.testing.assert_close(rec.shares[0], by_hand.double())
    torch.testing.assert_close(rec.shares[1], ((p + u) / 2).double())  # no partner: the pair mean
    torch.testing.assert_close(rec.means, ((p + u) / 2).mean(0).double().expand(2, 2))


def test_split_and_fresh_blocks_agree_on_a_mixing_da(small, bundled_teacher):
    """Same teacher and images: the split estimate lies within the fresh-block estimate's interval, and is
    narrower on no more forwards."""
    fresh = dastat.score("mixup", bundled_teacher, small, max_images=4096, draws=1, precision=1e-9)
    split = dastat.score("mixup", bundled_teacher, small, max_images=4096, precision=1e-9)
    assert fresh.unit == "block" and split.unit == "split" and split.n_forward <= fresh.n_forward
    assert fresh.t_stddev_ci[0] < split.t_stddev < fresh.t_stddev_ci[1]
    assert split.relative_half_width < fresh.relative_half_width / 2


def test_cutmix_split_estimate_carries_the_derangement_correction(small, bundled_teacher):
    """CutMix (derangement partners, also in a composition) and Mixup alone (uniform permutation) get the
    corrected split estimate; scoring CutMix on the teacher runs."""
    from dastat.scoring.protocols import FastProtocol, partner_scheme
    from dastat.scoring.config import ScoreConfig
    from dastat.augment import create as build

    units = FastProtocol(ScoreConfig()).units
    assert units(build("cutmix"), 10).statistic.partners == "derangement"
    assert units(build("crop_flip+cutmix"), 10).statistic.partners == "derangement"
    assert units(build("mixup"), 10).statistic.partners == "permutation" and partner_scheme(build("flip")) is None
    assert partner_scheme(build("crop_flip+mixup")) is None  # its self-partner view is not the original
    result = dastat.score("cutmix", bundled_teacher, small, max_images=2048, precision=1e-9)
    assert result.unit == "split" and result.relative_half_width < 0.05


def _one_and_two_processes(tmp_path, command: list[str]) -> dict[int, list[dict]]:
    args = [*command, "--json", "--no-progress", "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    runs = {}
    for n in (1, 2):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}", "-m", "dastat",
               *args]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        runs[n] = json.loads(done.stdout)["results"]
    return runs


@pytest.mark.parametrize("command", [
    ["score", "--da", "cutmix", "--max-images", "1120", "--precision", "0.000001"],  # budget: 7 blocks, odd
    ["score", "--da", "flip", "--max-images", "1120", "--precision", "0.000001"],  # pair units
    ["score", "--da", "cutmix_pick_t", "--max-images", "1120", "--precision", "0.000001"],  # block units
    ["tune", "--da", "cutmix(alpha=0.2|2)", "--max-images", "1120"],
])
def test_torchrun_two_processes_stop_where_one_does(tmp_path, command):
    """Budgets count blocks over all processes: two processes use the blocks one process uses, also when the
    budget is an odd number of blocks (the split estimate's 7 here), so the numbers are the same."""
    runs = _one_and_two_processes(tmp_path, command)
    for one, two in zip(runs[1], runs[2]):
        key = "da" if "da" in one else "candidate"
        assert one[key] == two[key] and one["n_forward"] == two["n_forward"]
        assert two["t_stddev"] == pytest.approx(one["t_stddev"], rel=1e-9)
        if command[0] == "score":  # the interval too: the split estimate's shape gathers every process's blocks
            assert two["t_stddev_ci"] == pytest.approx(one["t_stddev_ci"], rel=1e-9)
    assert runs[1][0]["n_forward"] == 7 * 5 * 64 or command[0] == "tune" or command[2] != "cutmix"


def test_torchrun_two_processes_make_the_paper_protocols_groups(tmp_path, fmnist):
    """The paper's groups are 5 consecutive batches of the whole stream, also when two processes each see
    every other batch: 1,000 images over 2 epochs = 32 batches (15 of 64 and one of 40 each), 6 groups."""
    import gzip
    import struct

    root = tmp_path / "fm"
    root.mkdir()

    def write(name, array):
        header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
        with gzip.open(root / name, "wb") as f:
            f.write(header + array.astype(np.uint8).tobytes())

    for prefix, split in (("train", fmnist.train), ("t10k", fmnist.test)):
        write(f"{prefix}-images-idx3-ubyte.gz", split.images[:1000, 0].numpy())
        write(f"{prefix}-labels-idx1-ubyte.gz", split.labels[:1000].numpy())
    runs = _one_and_two_processes(tmp_path, ["score", "--da", "flip", "--protocol", "paper", "--epochs", "2",
                                             "--data", f"fashion-mnist:{root}"])
    one, two = runs[1][0], runs[2][0]
    assert one["n_units"] == two["n_units"] == 6 and one["n_images"] == two["n_images"] == 2000
    assert two["t_stddev"] == pytest.approx(one["t_stddev"], rel=1e-9)
