"""What the race's error control costs: ``dastat tune``'s rule against looser ones, on the same recorded views.

For each seed the 12 candidates of ``bench_tune.py`` are scored on ``--blocks`` common
blocks with common draws (exactly what ``dastat.tune`` would forward if nobody were
dropped), and the teacher's outputs on every block are kept. The race is then replayed
on those outputs under six rules, which differ only in how a candidate is dropped. Each
candidate's p-value is its smallest jackknife t-test p so far times the ``K (m - 1)``
tests it could take (``K`` looks, ``m`` candidates), and it is dropped when

* ``holm, t`` — ``dastat tune``'s rule: Holm's step-down procedure over the ``m``
  candidates rejects it at ``alpha``, so that *no* truly best candidate is dropped with
  probability above ``alpha``;
* ``bonferroni, t`` — the p-value is at most ``alpha / m`` (the same guarantee, single step);
* ``per-candidate, t`` — the p-value is at most ``alpha``: each truly best candidate on its
  own is dropped with probability at most ``alpha`` (with ``b`` tied best, any one of
  them with probability up to ``b · alpha``);
* ``holm, z`` and ``per-candidate, z`` — with the normal distribution in place of
  Student's, i.e. ignoring that the jackknife standard error is itself estimated from
  ``sections − 1`` degrees of freedom (too liberal at the early looks);
* ``holm, t, one look`` — ``tune``'s rule with p-values multiplied by ``m − 1`` only, as if
  the race looked once: no guarantee at all, but a bound on what any sharper correction
  for the repeated looks (a group-sequential boundary) could save.

Printed and saved: each rule's forwards per seed and their ratio to the forwards of
``dastat.rank`` on the same grid and seed, read from ``bench_tune.py``'s results.

    python benchmarks/bench_race_rules.py --jobs 2                 # ≈ 25 min on 2 cores
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import torch
from scipy import stats as st

import dastat
from dastat.augment.spec import expand_grid
from dastat.data import load_data
from dastat.io import atomic_write_text
from dastat.scoring import ScoreConfig
from dastat.scoring.engine import Engine
from dastat.scoring.inputs import build_das
from dastat.scoring.protocols import FastProtocol
from dastat.scoring.race import Race, student_t
from dastat.scoring.tune import RaceProtocol, race_looks

GRIDS = ["cutmix(alpha=0.2|0.5|1|2)", "mixup(alpha=0.2|0.5|1|2)", "cutout(size=4|8|12|16)"]
normal = lambda sections: st.norm()  # noqa: E731
#: rule: (multiplicity, reference distribution, whether p-values are corrected for the repeated looks)
RULES = {"holm, t": ("holm", student_t, True), "bonferroni, t": ("bonferroni", student_t, True),
         "per-candidate, t": ("none", student_t, True), "holm, z": ("holm", normal, True),
         "per-candidate, z": ("none", normal, True), "holm, t, one look": ("holm", student_t, False)}


def record(seed: int, blocks: int, teacher, data, das) -> tuple[dict[str, list], list[int]]:
    """Every candidate's fed blocks (index and views) over ``blocks`` common blocks, and the race's looks."""
    config = ScoreConfig(seed=seed, progress=False)
    looks = race_looks(config, das, data.num_classes)
    keep_all = Race([aug.spec for aug in das], [blocks])  # one look, at the end: nobody is dropped before
    engine = Engine(teacher, data, das, None, config, "cpu", protocol=RaceProtocol(config, keep_all),
                    common_draws=True)
    fed: dict[str, list] = {c.aug.spec: [] for c in engine.collectors}
    for c in engine.collectors:
        def keep(stat, k, views, feed=c.units.feed, blocks=fed[c.aug.spec]):
            blocks.append((k, views))
            feed(stat, k, views)
        c.units = dataclasses.replace(c.units, feed=keep)
    engine.run()
    return fed, looks


def replay(fed: dict[str, list], looks: list[int], rule: str, units) -> int | None:
    """The forwards of the race under ``rule``; None when it would run past the recorded blocks.
    ``units(name)`` gives a fresh :class:`~dastat.scoring.protocols.Units` for candidate ``name``."""
    multiplicity, reference, looks_corrected = RULES[rule]
    names, batch = list(fed), len(fed[next(iter(fed))][0][1].p_orig)
    race = Race(names, looks, reference=reference, multiplicity=multiplicity,
                tests=None if looks_corrected else len(names) - 1)
    stats = {name: units(name) for name in names}
    ran, done = dict.fromkeys(names, 0), 0
    for k in looks:
        if k > len(fed[names[0]]):
            return None
        for name in race.live:
            for index, views in fed[name][done:k]:
                stats[name].feed(stats[name].statistic, index, views)
            ran[name] = k
        done = k
        race.look({name: stats[name].statistic for name in race.live}, k)
        if race.stopped:
            break
    draws = {name: len(fed[name][0][1].p_views) for name in names}
    return done * batch + sum(ran[name] * batch * draws[name] for name in names)


def one_seed(seed: int, blocks: int) -> dict:
    torch.set_num_threads(1)
    data = load_data()
    teacher = dastat.load_teacher(None, data=data)
    das = build_das([spec for grid in GRIDS for spec in expand_grid(grid)], data, teacher, None)
    fed, looks = record(seed, blocks, teacher, data, das)
    by_spec, protocol = {aug.spec: aug for aug in das}, FastProtocol(ScoreConfig(seed=seed))

    def units(name):
        return protocol.units(by_spec[name], data.num_classes)

    return {"seed": seed, "looks": looks, "forward": {rule: replay(fed, looks, rule, units) for rule in RULES}}


def _cell(forward: int | None, ratio: float | None, blocks: int) -> str:
    return f"{forward:,} ({ratio:.2f}×)" if forward else f"past {blocks} blocks"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--blocks", type=int, default=128, help="common blocks recorded per seed")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--tune-results", default="benchmarks/results/tune.json")
    p.add_argument("--json", default="benchmarks/results/race_rules.json")
    args = p.parse_args(argv)
    rank = {r["seed"]: r["rank_forward"] for r in json.loads(open(args.tune_results).read())["rows"]}
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        rows = list(pool.map(one_seed, range(args.seeds), [args.blocks] * args.seeds))
    for row in rows:
        row["rank_forward"] = rank[row["seed"]]
        row["ratio"] = {rule: f and rank[row["seed"]] / f for rule, f in row["forward"].items()}
    print(f"{'rule':18s} " + "".join(f"  {'seed ' + str(r['seed']) + ': forwards (ratio)':>30s}" for r in rows)
          + "  all: ratio")
    for rule in RULES:
        forwards = [r["forward"][rule] for r in rows]
        total = sum(r["rank_forward"] for r in rows) / sum(forwards) if all(forwards) else None
        print(f"{rule:18s} " + "".join(f"  {_cell(r['forward'][rule], r['ratio'][rule], args.blocks):>30s}"
                                       for r in rows) + (f"  {total:.2f}×" if total else "  –"))
    atomic_write_text(args.json, json.dumps({"grids": GRIDS, "blocks": args.blocks, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
