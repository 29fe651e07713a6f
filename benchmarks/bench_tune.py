"""Racing (``dastat.tune``) against full scoring of every candidate (``dastat.rank``) on the bundled default.

For each seed, the grid's candidates (12 by default, three DA families) are scored
twice with the same budget: every candidate to ``--max-images`` by ``dastat.rank``
(fast protocol), and by the race of ``dastat.tune``. Printed and saved per seed and in
total: the model forwards of both and their ratio (target ≥ 3× fewer for the race),
and whether the race's best/tied set contains rank's winner or a candidate that rank's
own paired test cannot tell from the winner (p ≥ 0.05).

    python benchmarks/bench_tune.py --seeds 1 --max-images 2048     # smoke run
    nohup nice -n 5 python benchmarks/bench_tune.py --jobs 2 &       # the real thing (≈20–30 min on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

import torch

import dastat
from dastat.augment.spec import expand_grid
from dastat.data import load_data
from dastat.io import atomic_write_text
from dastat.scoring import DEFAULT_MAX_IMAGES

GRIDS = ["cutmix(alpha=0.2|0.5|1|2)", "mixup(alpha=0.2|0.5|1|2)", "cutout(size=4|8|12|16)"]
ALPHA = 0.05


def one_seed(seed: int, teacher, data, max_images: int) -> dict:
    candidates = [spec for grid in GRIDS for spec in expand_grid(grid)]
    start = time.perf_counter()
    ranking = dastat.rank(candidates, teacher, data, seed=seed, max_images=max_images)
    rank_seconds = time.perf_counter() - start
    start = time.perf_counter()
    race = dastat.tune(GRIDS, teacher, data, seed=seed, max_images=max_images)
    tune_seconds = time.perf_counter() - start
    winner = ranking[0].da
    kept = [r["candidate"] for r in race.records if r["status"] != "eliminated"]
    indistinct = {r.da for r in ranking if r.da == winner or ranking.compare(r.da, winner).p_value >= ALPHA}
    return {
        "seed": seed, "rank_winner": winner, "rank_indistinct_from_winner": sorted(indistinct),
        "tune_best": race.best, "tune_kept": kept, "contains": bool(indistinct & set(kept)),
        "rank_forward": ranking.total_forward, "tune_forward": race.total_forward,
        "tune_full_scoring_forward": race.full_scoring_forward,
        "ratio": ranking.total_forward / race.total_forward, "stopped": race.settings["stopped"],
        "rank_seconds": round(rank_seconds, 1), "tune_seconds": round(tune_seconds, 1),
        "rank": [{"da": r.da, "t_stddev": r.t_stddev} for r in ranking], "tune": race.to_records(),
    }


def run_seed(seed: int, max_images: int, threads: int) -> dict:
    """One seed in a process of its own (``--jobs``): its own teacher and data, ``threads`` torch threads."""
    torch.set_num_threads(threads)
    data = load_data()
    return one_seed(seed, dastat.load_teacher(None, data=data), data, max_images)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--max-images", type=int, default=DEFAULT_MAX_IMAGES)
    p.add_argument("--threads", type=int, default=1, help="torch threads per seed")
    p.add_argument("--jobs", type=int, default=1, help="seeds run at once, each in its own process")
    p.add_argument("--json", default="benchmarks/results/tune.json")
    args = p.parse_args(argv)
    rows = []
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run_seed, seed, args.max_images, args.threads) for seed in range(args.seeds)]
        for future in as_completed(futures):
            row = future.result()
            rows.append(row)
            rows.sort(key=lambda r: r["seed"])
            save(args, rows)  # after every seed, so that a long run leaves its finished seeds behind
            print(f"seed {row['seed']}: rank {row['rank_forward']:,} forwards (winner {row['rank_winner']}), tune "
                  f"{row['tune_forward']:,} (best {row['tune_best']}, kept {len(row['tune_kept'])}, "
                  f"{row['stopped']}): {row['ratio']:.2f}× fewer; contains winner or an indistinct one: "
                  f"{row['contains']}", flush=True)
    summary = save(args, rows)
    print(f"total: rank {summary['rank_forward']:,} forwards, tune {summary['tune_forward']:,}: "
          f"{summary['ratio']:.2f}× fewer; containment {summary['contains']}/{len(rows)} seeds; saved to {args.json}")
    return 0


def save(args, rows: list[dict]) -> dict:
    rank_total, tune_total = sum(r["rank_forward"] for r in rows), sum(r["tune_forward"] for r in rows)
    summary = {"grids": GRIDS, "max_images": args.max_images, "seeds": len(rows), "threads": args.threads,
               "jobs": args.jobs, "machine": f"{platform.machine()}, {multiprocessing.cpu_count()} CPUs, "
                                             f"{args.threads} torch thread(s) per seed",
               "rank_forward": rank_total, "tune_forward": tune_total, "ratio": rank_total / tune_total,
               "contains": sum(r["contains"] for r in rows), "rows": rows}
    atomic_write_text(args.json, json.dumps(summary, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    raise SystemExit(main())
