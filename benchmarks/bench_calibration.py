"""Calibration against known truth: dastat's estimators, intervals, tests and race on a synthetic teacher.

The synthetic teacher needs no network. An image is a latent vector ``x ~ N(0, I₂)``; the
teacher's probabilities on it are ``softmax(W x)`` over 3 classes, and on a view
``softmax(W x' + shift)`` for the view's latent ``x'`` and the draw's logit shift. The DA
kinds, each with the estimator the fast protocol gives it:

* ``per_image`` (pair units): an independent logit shift per image;
* ``shift_normal`` / ``shift_lognormal`` / ``shift_mixture`` (block and split): one logit
  shift per batch, normal, lognormal (heavy right tail) or a 90/10 mixture;
* ``mixup`` (block and split): the latent blended with a uniformly random partner
  (``λ ~ Beta(1, 1)``), as ``dastat``'s Mixup draws its partners;
* ``cutmix`` (block and split): the logits blended with a derangement partner (never the
  image itself) plus a per-batch shift, as CutMix draws its partners;
* ``pick`` (block): of two shifts drawn per batch, the one that raises the batch's mean top
  probability less, so the view depends on the whole batch.

The truth, ``T = mean_c sqrt(V_c · m / 320)`` with ``V = Var b`` of a block mean under one
draw (``Var z`` of a pair mean and ``m = 1`` for pair units), comes from a large independent
simulation of ``b`` (its Monte Carlo error is in the table). Each replication runs the real
estimators (``TStddev``, ``SplitTStddev``, the paper's groups) through the real stopping rule
(``FastProtocol.after_block``) and records the estimate and its 95% interval at the stop and
at the budget. The paper protocol's groups are 5 independent blocks (an infinite training
split: no image is seen twice).

For tests and the race: candidates of equal true T. stddev whose per-batch draw effects are
differently shaped functions of the *same* uniforms (normal, lognormal, 90/10 mixture, t₃,
uniform, ...), with a teacher linear in the effect so that equal variance means equal truth.
``Ranking.compare``'s two-sided test, ``rank``'s Holm neighbour test and ``tune``'s race are
run on them; every rejection is a false one.

    python benchmarks/bench_calibration.py --reps 400 --docs docs/calibration.md
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import stats as st

from dastat.scoring.config import ScoreConfig
from dastat.scoring.protocols import FastProtocol, budget_blocks
from dastat.scoring.race import Race, look_schedule
from dastat.stats import GROUP_SIZE, SplitTStddev, TStddev
from dastat.stats.compare import MARGIN, holm, paired_test

M, C, DRAWS = 64, 3, 4
W = np.array([[2.0, -1.0], [-1.0, 1.5], [0.5, 0.3]])
KINDS = ("per_image", "shift_normal", "shift_lognormal", "shift_mixture", "mixup", "cutmix", "pick")
ESTIMATORS = {"per_image": ("pair", "paper"), "pick": ("block", "paper")}
DEFAULT_ESTIMATORS = ("block", "split", "paper")


def softmax(a: np.ndarray) -> np.ndarray:
    e = np.exp(a - a.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def derangements(rng, n: int, m: int) -> np.ndarray:
    """``n`` uniformly random derangements of ``range(m)``."""
    out = np.empty((0, m), dtype=np.int64)
    while len(out) < n:
        perms = np.argsort(rng.random((2 * (n - len(out)) + 8, m)), axis=1)
        out = np.concatenate([out, perms[(perms != np.arange(m)).all(1)]])
    return out[:n]


def shift_effect(kind: str, u: np.ndarray) -> np.ndarray:
    """A per-batch logit shift of class 0 from uniforms ``u``: normal, lognormal or 90/10 mixture."""
    if kind == "shift_normal":
        return 0.25 * st.norm.ppf(u)
    if kind == "shift_lognormal":
        return 0.25 * (np.exp(st.norm.ppf(u)) - math.exp(0.5)) / math.sqrt((math.e - 1) * math.e)
    return np.where(u < 0.9, 0.0, 0.75)


def simulate(kind: str, rng, blocks: int, draws: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``blocks`` blocks of ``M`` images under ``draws`` draws of DA ``kind``: originals (blocks×M×C), views
    (blocks×draws×M×C) and the partners (blocks×draws×M) for a mixing DA."""
    x = rng.normal(size=(blocks, 1, M, 2))
    logits = x @ W.T
    p = softmax(logits[:, 0])
    perms = None
    if kind == "per_image":
        views = softmax(logits + rng.normal(0, 0.5, size=(blocks, draws, M, C)))
    elif kind.startswith("shift"):
        shift = np.zeros((blocks, draws, 1, C))
        shift[..., 0] = shift_effect(kind, rng.random((blocks, draws, 1)))
        views = softmax(logits + shift)
    elif kind in ("mixup", "cutmix"):
        lam = rng.beta(1, 1, size=(blocks, draws, 1, 1))
        if kind == "mixup":
            perms = np.argsort(rng.random((blocks, draws, M)), axis=-1)
        else:
            perms = derangements(rng, blocks * draws, M).reshape(blocks, draws, M)
        partner = np.take_along_axis(np.broadcast_to(logits, (blocks, draws, M, C)), perms[..., None], -2)
        extra = rng.normal(0, 0.2, size=(blocks, draws, 1, C)) if kind == "cutmix" else 0.0
        views = softmax(lam * logits + (1 - lam) * partner + extra)
    else:  # pick: of two shifts, the one that moves the batch's mean top probability less
        shifts = rng.normal(0, 0.4, size=(blocks, draws, 2, 1, C))
        both = softmax(logits[:, :, None] + shifts)
        moved = np.abs(both.max(-1).mean(-1) - p.max(-1).mean(-1)[:, None, None])
        views = np.take_along_axis(both, moved.argmin(-1)[:, :, None, None, None], 2)[:, :, 0]
    return p, views, perms


def truth(kind: str, rng, n_blocks: int, chunk: int = 20_000) -> tuple[float, float]:
    """The true T. stddev of DA ``kind`` (one draw per block) and its Monte Carlo standard error."""
    values = []
    for start in range(0, n_blocks, chunk):
        p, views, _ = simulate(kind, rng, min(chunk, n_blocks - start), 1)
        z = (p + views[:, 0]) / 2
        values.append(z.reshape(-1, C) if kind == "per_image" else z.mean(1))
    values = np.concatenate(values)
    scale = 1 if kind == "per_image" else M
    var = values.var(0, ddof=1)
    t = np.sqrt(var * scale / GROUP_SIZE)
    # delta method per class: se(sqrt v) = se(v) / (2 sqrt v), se(v) from the fourth moment
    se_var = np.sqrt((((values - values.mean(0)) ** 2 - var) ** 2).mean(0) / len(values))
    return float(t.mean()), float(np.sqrt((((se_var / (2 * np.sqrt(var))) * np.sqrt(scale / GROUP_SIZE)) ** 2).sum()) / C)


@dataclass
class Collector:
    """What ``FastProtocol.after_block`` reads of a DA's collector."""

    tstd: object
    draws: int
    n_images: int = 0
    n_forward: int = 0
    done: bool = False
    converged: bool = False


def make_statistic(estimator: str, kind: str):
    if estimator == "split":
        return SplitTStddev(C, DRAWS, M, partners={"cutmix": "derangement", "mixup": "permutation"}.get(kind)), DRAWS
    if estimator == "pair":
        return TStddev(C, GROUP_SIZE), 1
    return TStddev(C, GROUP_SIZE / M), 1


def feed(stat, estimator: str, k: int, p: np.ndarray, views: np.ndarray, perms) -> None:
    """One block into the statistic, as ``dastat.scoring.protocols``' feeders do."""
    p_t, v_t = torch.from_numpy(p), torch.from_numpy(views)
    if estimator == "pair":
        stat.update((p_t + v_t[0]) / 2, k)
    elif estimator == "block":
        stat.update(((p_t + v_t[0]) / 2).mean(0, keepdim=True), k)
    else:
        shares = (p_t + v_t) / 2
        extra = {}
        if perms is not None:
            perm_t = torch.from_numpy(perms)
            shares = p_t / 2 + (v_t + torch.gather(v_t, 1, torch.argsort(perm_t, 1)[..., None].expand(-1, -1, C))) / 2
            if stat.partners:
                extra = {"originals": p_t, "views": v_t, "perms": perm_t}
        stat.update(shares, (p_t + v_t).mean(1) / 2, k, **extra)


def fast_replication(kind: str, estimator: str, rng, config: ScoreConfig) -> dict:
    """One run of the fast protocol to the budget: the estimate and interval at the stop and at the budget."""
    stat, draws = make_statistic(estimator, kind)
    protocol, collector = FastProtocol(config), Collector(stat, draws)
    blocks = budget_blocks(config, draws)
    p, views, perms = simulate(kind, rng, blocks, draws)
    at_stop = None
    for k in range(blocks):
        feed(stat, estimator, k, p[k], views[k], None if perms is None else perms[k])
        collector.n_images += M
        collector.n_forward += M * (1 + draws)
        if at_stop is None:
            protocol.after_block([collector], k + 1, 1)
            if collector.done:
                at_stop = (stat.compute(), k + 1)
    end = stat.compute()
    at_stop = at_stop or (end, blocks)
    return {"stop": (at_stop[0].value, *at_stop[0].ci), "stop_blocks": at_stop[1], "budget": (end.value, *end.ci)}


def paper_replication(kind: str, rng, epochs_groups: int) -> dict:
    """The paper's estimator on ``epochs_groups`` groups of 5 independent blocks (one draw each)."""
    p, views, _ = simulate(kind, rng, 5 * epochs_groups, 1)
    groups = ((p + views[:, 0]) / 2).mean(1).reshape(epochs_groups, 5, C).mean(1)
    stat = TStddev(C, 1)
    stat.update(torch.from_numpy(groups), torch.arange(epochs_groups))
    e = stat.compute()
    return {"budget": (e.value, *e.ci), "stop": (e.value, *e.ci), "stop_blocks": 5 * epochs_groups}


def summarise(runs: list[dict], true_t: float, where: str) -> dict:
    values = np.array([r[where][0] for r in runs])
    cover = np.array([r[where][1] <= true_t <= r[where][2] for r in runs])
    rel = values / true_t - 1
    return {"bias": float(rel.mean()), "bias_se": float(rel.std(ddof=1) / np.sqrt(len(rel))),
            "coverage": float(cover.mean()), "coverage_se": float(np.sqrt(cover.mean() * (1 - cover.mean()) / len(cover))),
            "reps": len(runs), "blocks": float(np.mean([r["stop_blocks"] for r in runs])) if where == "stop" else None}


def estimator_cells(reps: int, truth_blocks: int, seed: int, kinds=KINDS, paper_groups: int = 1875,
                    estimators=None) -> list[dict]:
    """Bias and coverage of every estimator (or of ``estimators``) on every DA kind, at the stop and at the budget."""
    config, rows = ScoreConfig(), []
    for kind in kinds:
        rng = np.random.default_rng([seed, KINDS.index(kind)])
        true_t, true_se = truth(kind, rng, truth_blocks)
        for estimator in ESTIMATORS.get(kind, DEFAULT_ESTIMATORS):
            if estimators and estimator not in estimators:
                continue
            runs = [paper_replication(kind, rng, paper_groups) if estimator == "paper"
                    else fast_replication(kind, estimator, rng, config) for _ in range(reps)]
            print(f"{kind} {estimator}: {reps} replications", file=sys.stderr, flush=True)
            for where in (("budget",) if estimator == "paper" else ("stop", "budget")):
                rows.append({"kind": kind, "estimator": estimator, "at": where, "truth": true_t,
                             "truth_se_rel": true_se / true_t, **summarise(runs, true_t, where)})
    return rows


# --- Nulls: candidates of equal truth with differently shaped draw effects on common uniforms -------------------

SHAPES = {
    "normal": lambda u: st.norm.ppf(u),
    "lognormal": lambda u: (np.exp(st.norm.ppf(u)) - math.exp(0.5)) / math.sqrt((math.e - 1) * math.e),
    "mixture": lambda u: np.where(u < 0.9, -1 / 3, 3.0),  # 90/10: mean 0, variance 1
    "neg_lognormal": lambda u: -(np.exp(st.norm.ppf(1 - u)) - math.exp(0.5)) / math.sqrt((math.e - 1) * math.e),
    "neg_mixture": lambda u: np.where(u < 0.1, -3.0, 1 / 3),
    "t5": lambda u: st.t.ppf(u, 5) / math.sqrt(5 / 3),
    "uniform": lambda u: (u - 0.5) * math.sqrt(12),
    "exponential": lambda u: -np.log1p(-u) - 1,
    "neg_exponential": lambda u: np.log(u) + 1,
    "gamma2": lambda u: (st.gamma.ppf(u, 2) - 2) / math.sqrt(2),
    "logistic": lambda u: st.logistic.ppf(u) / (math.pi / math.sqrt(3)),
    "laplace": lambda u: st.laplace.ppf(u) / math.sqrt(2),
}
NULLS = {"normal vs lognormal": ("normal", "lognormal"), "normal vs mixture": ("normal", "mixture"),
         "12 mixed shapes": tuple(SHAPES)}
EFFECT = np.array([0.06, -0.06, 0.0])  # the draw effect's direction in probability space (sums to 0)


def null_blocks(shapes, rng, blocks: int) -> dict[str, SplitTStddev]:
    """Split statistics of candidates that share images, per-image noise and the uniforms behind their draw
    effects; a teacher linear in the effect, so every candidate has the same true T. stddev."""
    x = rng.normal(size=(blocks, 1, M, 2))
    p = softmax((x @ W.T)[:, 0])
    base = softmax(x @ W.T + rng.normal(0, 0.3, size=(blocks, DRAWS, M, C)))
    u = rng.random((blocks, DRAWS, 1, 1))
    stats = {}
    for name in shapes:
        views = base + SHAPES[name](u) * EFFECT
        stats[name] = (SplitTStddev(C, DRAWS, M), views)
    return p, stats


def null_replication(shapes, rng, looks: list[int], alpha: float) -> dict:
    """One race, one compare and one Holm neighbour test among equal candidates."""
    p, stats = null_blocks(shapes, rng, looks[-1])
    race, dropped_at = Race(list(shapes), looks, alpha), None
    out = {}
    for k in range(looks[-1]):
        pk = torch.from_numpy(p[k])
        for stat, views in stats.values():
            v = torch.from_numpy(views[k])
            stat.update((pk + v) / 2, (pk + v).mean(1) / 2, k)
        if k + 1 == 64:
            out["compare_64"] = _tests(stats)
        if race.due(k + 1):
            if race.look({n: s for n, (s, _) in stats.items() if n in race.live}, k + 1) and dropped_at is None:
                dropped_at = k + 1
    out["compare_budget"] = _tests(stats)
    out["race_dropped"] = dropped_at is not None
    return out


def _tests(stats) -> dict:
    """compare's two-sided p (first two candidates) and the Holm neighbour family, with dastat's margin and with
    none (plain equality, ``_equal``), and who ranks first."""
    names = list(stats)
    fns = {n: stats[n][0].value for n in names}
    sections = sorted(set().union(*(stats[n][0].sections() for n in names)))
    ordered = sorted(names, key=lambda n: fns[n]())
    out = {"first": ordered[0]}
    for suffix, margin in (("", MARGIN), ("_equal", 0.0)):
        p_pair = paired_test(fns[names[0]], fns[names[1]], sections, margin).p_value
        neighbours = holm([paired_test(fns[a], fns[b], sections, margin).p_value for a, b in zip(ordered, ordered[1:])])
        out.update({f"pair_rejects{suffix}": p_pair < 0.05, f"neighbour_rejects{suffix}": min(neighbours) < 0.05})
    return out


def null_cells(reps: int, seed: int, alpha: float = 0.05) -> list[dict]:
    looks = look_schedule(budget_blocks(ScoreConfig(), DRAWS))
    rows = []
    for n, (label, shapes) in enumerate(NULLS.items()):
        rng = np.random.default_rng([seed, 100 + n])
        runs = [null_replication(shapes, rng, looks, alpha) for _ in range(reps)]
        row = {"null": label, "reps": reps, "race_false_drop": _rate([r["race_dropped"] for r in runs])}
        for at in ("compare_64", "compare_budget"):
            for suffix in ("", "_equal"):
                row[f"{at}_pair{suffix}"] = _rate([r[at][f"pair_rejects{suffix}"] for r in runs])
                row[f"{at}_neighbours{suffix}"] = _rate([r[at][f"neighbour_rejects{suffix}"] for r in runs])
            row[f"{at}_first_share"] = _rate([r[at]["first"] == shapes[1] for r in runs])
        rows.append(row)
    return rows


def _rate(flags) -> tuple[float, float]:
    rate = float(np.mean(flags))
    return rate, float(math.sqrt(max(rate * (1 - rate), 1 / len(flags) ** 2) / len(flags)))


# --- The table ---------------------------------------------------------------------------------------------------

def _pct(value: float, se: float, digits: int = 2) -> str:
    return f"{100 * value:+.{digits}f}% ± {100 * se:.{digits}f}%"


def _meets(row: dict) -> str:
    """Whether a row is within the targets up to two Monte Carlo errors: bias, then coverage."""
    bias_ok = abs(row["bias"]) <= 0.002 + 2 * math.hypot(row["bias_se"], row["truth_se_rel"])
    cover_ok = 0.93 - 2 * row["coverage_se"] <= row["coverage"] <= 0.97 + 2 * row["coverage_se"]
    return "yes" if bias_ok and cover_ok else ("bias" if cover_ok else "coverage" if bias_ok else "neither")


def render(est_rows: list[dict], null_rows: list[dict], meta: dict) -> str:
    lines = ["# Calibration against known truth", "",
             "Written by `python benchmarks/bench_calibration.py` (docstring: the synthetic teacher, the DA kinds",
             "and how the truth is computed). " + meta["note"], "",
             f"Command: `{meta['command']}`; {meta['seconds']:.0f} s on the project's 2-core CPU box, one thread"
             + (f"; the tests among equal DAs rerun by `{meta['nulls_command']}` ({meta['nulls_seconds']:.0f} s)"
                if "nulls_command" in meta else "")
             + (f"; the rows of {', '.join(meta['rows_rerun'])} rerun by `{meta['rows_command']}` "
                f"({meta['rows_seconds']:.0f} s)" if "rows_command" in meta else "") + ".", "",
             "## T. stddev: relative bias and 95% coverage", "",
             "Bias is the mean of estimate / truth − 1 over the replications (± its Monte Carlo standard error; the",
             "truth's own relative error in the last column); coverage is the share of 95% intervals that contain",
             "the truth (± binomial standard error). `stop` is the fast protocol's default stop (±1% or the budget",
             "of 32,768 images; a split estimate not before 192 blocks), `budget` runs every replication to the",
             "budget; `paper` is "
             f"{meta['paper_groups']:,} groups of 5 independent blocks.", "",
             "The targets: |bias| ≤ 0.2% and coverage in [93%, 97%]; `meets?` says whether the row is within",
             "them up to two Monte Carlo errors (bias: its own and the truth's).", "",
             "| DA kind | estimator | at | bias | coverage | mean blocks at stop | replications | truth ± | meets? |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in est_rows:
        blocks = f"{r['blocks']:.0f}" if r["blocks"] is not None else "–"
        lines.append(f"| {r['kind']} | {r['estimator']} | {r['at']} | {_pct(r['bias'], r['bias_se'])} | "
                     f"{_pct(r['coverage'], r['coverage_se'], 1).lstrip('+')} | {blocks} | {r['reps']} | "
                     f"{100 * r['truth_se_rel']:.2f}% | {_meets(r)} |")
    lines += ["", "## Tests and the race among equal DAs", "",
              "Candidates of equal true T. stddev whose draw effects are differently shaped functions of the same",
              "uniforms (split estimate, 4 draws per block of 64). `compare`: `Ranking.compare`'s unadjusted",
              "two-sided paired test of \"they differ by more than 4%\" between the first two candidates at nominal",
              "5%; `neighbours`: `rank`'s Holm-corrected adjacent tests (the same test), any rejection; `equality`:",
              "the plain test of equal T. stddev (no margin), for comparison; `first`: how often the second shape",
              "(lognormal, mixture) ranks first (50% is fair); `race`: `tune`'s race (looks 64, 96, 144, 204 blocks,",
              "margin 4%, α = 0.05) dropped some candidate.", "",
              "| null | race false drop | compare @64 | compare @204 | neighbours @64 | neighbours @204 | "
              "equality @64 | equality @204 | 2nd first @64 | 2nd first @204 | replications |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in null_rows:
        cells = [r["race_false_drop"], r["compare_64_pair"], r["compare_budget_pair"], r["compare_64_neighbours"],
                 r["compare_budget_neighbours"], r.get("compare_64_pair_equal", (math.nan, math.nan)),
                 r.get("compare_budget_pair_equal", (math.nan, math.nan)), r["compare_64_first_share"],
                 r["compare_budget_first_share"]]
        lines.append(f"| {r['null']} | " + " | ".join(f"{100 * v:.1f}% ± {100 * s:.1f}%" for v, s in cells)
                     + f" | {r['reps']} |")
    return "\n".join(lines + _verdict(est_rows, null_rows) + [""])


def _verdict(est_rows: list[dict], null_rows: list[dict]) -> list[str]:
    """The rows outside the targets, named."""
    missed = [f"{r['kind']}/{r['estimator']} at {r['at']} ({_meets(r)})" for r in est_rows if _meets(r) != "yes"]
    race = [r["null"] for r in null_rows if r["race_false_drop"][0] > 0.05 + 2 * r["race_false_drop"][1]]
    compare = [r["null"] for r in null_rows if max(r["compare_64_pair"][0], r["compare_budget_pair"][0]) > 0.06]
    return ["", "## Against the targets", "",
            "- T. stddev rows outside |bias| ≤ 0.2% or coverage in [93%, 97%] (two Monte Carlo errors allowed): "
            + ("; ".join(missed) if missed else "none") + ".",
            "- `tune`'s race above α = 5% (+ two Monte Carlo errors) in: " + (", ".join(race) or "none") + ".",
            "- `compare` (margin 4%) above 6% at a nominal 5% in: " + (", ".join(compare) or "none") + "."]


# Sections of the page that other benchmarks write (bench_exact_target's real-teacher check).
_OTHER_SECTION = re.compile(r"<!-- (\w+): begin -->.*?<!-- \1: end -->", re.S)


def write_docs(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, keeping the sections other benchmarks wrote there."""
    from dastat.io import atomic_write_text

    old = path.read_text() if path.exists() else ""
    blocks = [m.group(0) for m in _OTHER_SECTION.finditer(old)]
    atomic_write_text(path, "\n\n".join([text.rstrip("\n"), *blocks]) + "\n")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=400, help="replications per cell")
    parser.add_argument("--null-reps", type=int, default=None, help="replications per null (default: --reps)")
    parser.add_argument("--truth-blocks", type=int, default=400_000, help="blocks simulated for each truth")
    parser.add_argument("--paper-groups", type=int, default=1875, help="the paper estimator's groups (10 epochs: 1875)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", nargs="*", default=list(KINDS))
    parser.add_argument("--docs", type=Path, default=None, help="write the table here (docs/calibration.md)")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/calibration.json"))
    parser.add_argument("--note", default="")
    parser.add_argument("--docs-only", action="store_true", help="only rewrite --docs from the saved --json")
    parser.add_argument("--estimators", nargs="*", default=None,
                        help="rerun only these estimators' rows (of --kinds); keep the other rows and the nulls")
    parser.add_argument("--nulls-only", action="store_true",
                        help="rerun the tests and the race among equal DAs; keep the estimator rows of --json")
    args = parser.parse_args(argv)
    if args.docs_only:
        saved = json.loads(args.json.read_text())
        write_docs(args.docs, render(saved["estimators"], saved["nulls"], saved["meta"]))
        return
    torch.set_num_threads(1)
    start = time.perf_counter()
    if args.estimators:
        rerun_rows(args, argv)
        return
    saved = json.loads(args.json.read_text()) if args.nulls_only else None
    est_rows = saved["estimators"] if saved else estimator_cells(args.reps, args.truth_blocks, args.seed, args.kinds,
                                                                  args.paper_groups)
    print(json.dumps(est_rows, indent=1), flush=True)
    null_rows = null_cells(args.null_reps or args.reps, args.seed)
    print(json.dumps(null_rows, indent=1), flush=True)
    given = list(argv or sys.argv[1:])  # the note is printed on its own
    shown = [a for i, a in enumerate(given) if a != "--note" and not (i and given[i - 1] == "--note")]
    command = "python benchmarks/bench_calibration.py " + " ".join(shown)
    meta = {"command": command, "seconds": time.perf_counter() - start, "note": args.note,
            "paper_groups": args.paper_groups}
    if saved:  # the estimator rows come from the saved run: say which, and what each part took
        meta.update(command=saved["meta"]["command"], nulls_command=command,
                    seconds=saved["meta"]["seconds"], nulls_seconds=meta["seconds"],
                    note=" ".join(filter(None, [saved["meta"].get("note"), args.note])),
                    paper_groups=saved["meta"]["paper_groups"])
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"estimators": est_rows, "nulls": null_rows, "meta": meta}, indent=1))
    if args.docs:
        write_docs(args.docs, render(est_rows, null_rows, meta))


def rerun_rows(args, argv) -> None:
    """Rerun some estimators' rows in place in the saved table (the truths are drawn as the full run draws them)."""
    start = time.perf_counter()
    saved = json.loads(args.json.read_text())
    fresh = estimator_cells(args.reps, args.truth_blocks, args.seed, args.kinds, args.paper_groups, args.estimators)
    key = {(r["kind"], r["estimator"], r["at"]): r for r in fresh}
    rows = [key.pop((r["kind"], r["estimator"], r["at"]), r) for r in saved["estimators"]]
    meta = dict(saved["meta"], rows_command="python benchmarks/bench_calibration.py " + " ".join(argv or sys.argv[1:]),
                rows_seconds=time.perf_counter() - start,
                rows_rerun=sorted({f"{r['kind']}/{r['estimator']}" for r in fresh}))
    saved.update(estimators=rows + list(key.values()), meta=meta)
    args.json.write_text(json.dumps(saved, indent=1))
    if args.docs:
        write_docs(args.docs, render(saved["estimators"], saved["nulls"], meta))


if __name__ == "__main__":
    main()


# --- Racing rules in the dangerous nulls --------------------------------------------------------------------------

def race_rules(total: int) -> dict[str, dict]:
    """The rules measured: ``tune``'s, the one before it, and the alternatives around it (looks and margin)."""
    return {"first look 16, margin 0 (the rule before)": {"looks": look_schedule(total, first=16, step=1), "margin": 0.0},
            "first look 64, margin 1%": {"looks": look_schedule(total), "margin": 0.01},
            "first look 64, margin 3%": {"looks": look_schedule(total), "margin": 0.03},
            "first look 96, margin 3%": {"looks": look_schedule(total, first=96), "margin": 0.03},
            "tune (first look 64, margin 4%)": {"looks": look_schedule(total)},
            "first look 64, margin 5%": {"looks": look_schedule(total), "margin": 0.05}}


def race_rule_replication(shapes, rng, rules: dict, alpha: float, worse: float = 0.0) -> dict[str, bool]:
    """Every rule raced on one replication; with ``worse`` > 0 the last candidate's draw effect is scaled up so its
    T. stddev is larger (then a drop of it is a true one, and we record whether *only* it was dropped)."""
    total = max(r["looks"][-1] for r in rules.values())
    p, stats = null_blocks(shapes, rng, total)
    if worse:
        stat, views = stats[shapes[-1]]
        stats[shapes[-1]] = (stat, views + worse * (views - views.mean((1, 2), keepdims=True)))
    races = {name: Race(list(shapes), r["looks"], alpha, **{k: v for k, v in r.items() if k != "looks"})
             for name, r in rules.items()}
    dropped = {name: set() for name in rules}
    for k in range(total):
        pk = torch.from_numpy(p[k])
        for stat, views in stats.values():
            v = torch.from_numpy(views[k])
            stat.update((pk + v) / 2, (pk + v).mean(1) / 2, k)
        for name, race in races.items():
            if race.due(k + 1):
                dropped[name] |= set(race.look({n: s for n, (s, _) in stats.items() if n in race.live}, k + 1))
    return {name: sorted(d) for name, d in dropped.items()}


def race_rule_cells(reps: int, seed: int, alpha: float = 0.05, worse: float = 0.0) -> list[dict]:
    """Each rule's rate of dropping a candidate in each null (with ``worse``: of dropping the worse one only)."""
    rules = race_rules(budget_blocks(ScoreConfig(), DRAWS))
    rows = []
    for n, (label, shapes) in enumerate(NULLS.items()):
        rng = np.random.default_rng([seed, 200 + n])
        runs = [race_rule_replication(shapes, rng, rules, alpha, worse) for _ in range(reps)]
        hit = (lambda d: d == [shapes[-1]]) if worse else bool
        rows.append({"null": label, "worse": worse, "reps": reps,
                     **{name: _rate([hit(r[name]) for r in runs]) for name in rules}})
    return rows
