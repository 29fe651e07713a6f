"""Strength sweeps: T. stddev and trained students for each strength of a DA family.

    python scripts/strength_sweep.py students --out DIR [--students resnet8,wrn_16_1] [--seeds 3] [--jobs N]
    python scripts/strength_sweep.py scores --out DIR [--seeds 2]
    python scripts/strength_sweep.py table --out DIR

``students`` trains one KD student per (student family, DA strength, seed) on the
bundled default with one fixed recipe, ``--jobs`` of them at a time in separate
processes, and writes one JSON row per finished student to ``DIR/rows/`` (written
atomically, so a stopped sweep resumes where it stopped: finished rows are skipped,
interrupted runs resume from their checkpoint). Jobs run seed by seed, so a sweep cut
short still holds every strength of every student family at the first seeds. ``scores`` scores every strength
on the teacher alone (every statistic dastat has, several scoring seeds) into
``DIR/scores.json``. ``table`` joins both into ``DIR/strengths.csv``: one row per
(student family, strength) with the students' mean and sd over seeds beside the
teacher-side statistics.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path

#: The strengths of each family: each DA's own strength argument, from weak to strong.
FAMILIES = {
    "mixup": ("alpha", [0.1, 0.2, 0.5, 1, 2, 4, 8]),
    "cutmix": ("alpha", [0.1, 0.2, 0.5, 1, 2, 4, 8]),
    "cutout": ("size", [4, 8, 12, 16, 20, 28]),  # 28 px covers the whole Fashion-MNIST image
    "randaugment": ("magnitude", [1, 5, 9, 15, 21, 30]),  # torchvision's 31 bins: 0..30
}

#: The students' recipe: the paper's optimiser and two-view KD loss (``quick``), 3 epochs
#: on a fixed 20,000-image subset, in float32 on every device (so CPU and GPU students follow
#: the same numerics); the test loss is over all 10,000 test images.
RECIPE = dict(recipe="quick", epochs=3, subset=20000, amp="off")


def grid() -> list[tuple[str, float, str]]:
    """Every (family, strength, DA spec) of the sweep, family by family."""
    return [(family, value, f"{family}({arg}={value})") for family, (arg, values) in FAMILIES.items()
            for value in values]


def slug(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", spec).strip("_")


def write_json(path: Path, obj) -> None:
    """Write through a temporary file and a rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


# --- students ----------------------------------------------------------------------------


def train_one(out: str, student: str, seed: int, family: str, strength: float, spec: str, device: str,
              threads: int, recipe: dict) -> dict:
    """Train (or resume) one student and write its row; runs in a worker process."""
    import shutil

    import torch

    from dastat.kd import train

    torch.set_num_threads(threads)
    run_dir = Path(out) / "runs" / student / slug(spec) / f"seed{seed}"
    if (run_dir / "checkpoint.pt").exists():
        result = train(resume=run_dir, device=device, progress=False)
    else:
        if run_dir.exists():  # started but stopped before its first checkpoint
            shutil.rmtree(run_dir)
        result = train(run_dir, student=student, da=spec, seed=seed, device=device, progress=False, **recipe)
    final = result.final
    row = dict(student=student, family=family, strength=strength, da=spec, seed=seed,
               test_loss=float(final["test_loss"]), test_top1=float(final["test_top1"]),
               train_loss=float(final.get("train_loss", math.nan)), epochs=len(result.history),
               seconds=round(result.seconds, 1), device=str(device), recipe=recipe,
               history=[{k: v for k, v in h.items() if isinstance(v, (int, float))} for h in result.history])
    write_json(row_path(Path(out), student, spec, seed), row)
    return row


def row_path(out: Path, student: str, spec: str, seed: int) -> Path:
    return out / "rows" / f"{student}__{slug(spec)}__seed{seed}.json"


def students(args) -> int:
    out = Path(args.out)
    recipe = dict(RECIPE, **{k: v for k, v in (("max_steps", args.max_steps), ("test_subset", args.test_subset))
                             if v is not None})
    jobs = [(s, seed, fam, value, spec) for seed in range(args.seeds) for s in args.students.split(",")
            for fam, value, spec in grid() if not row_path(out, s, spec, seed).exists()]
    print(f"{len(jobs)} students to train with {args.jobs} processes on {args.device}", flush=True)
    deadline = time.monotonic() + args.time_limit if args.time_limit else math.inf
    t0 = time.monotonic()
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        pending = {}
        queue = list(jobs)
        while queue or pending:
            while queue and len(pending) < args.jobs and time.monotonic() < deadline:
                job = queue.pop(0)
                pending[pool.submit(train_one, str(out), *job, args.device, args.threads, recipe)] = job
            if not pending:
                break
            done, _ = wait(pending, timeout=30, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                try:
                    row = future.result()
                    print(f"[{time.monotonic() - t0:6.0f}s] {job[0]} {job[4]} seed {job[1]}: "
                          f"test loss {row['test_loss']:.4f}, top-1 {row['test_top1']:.2f} ({row['seconds']} s)",
                          flush=True)
                except Exception as exc:  # one failed student must not stop the sweep
                    print(f"FAILED {job}: {type(exc).__name__}: {exc}", flush=True)
            if time.monotonic() >= deadline and not queue:
                break
            if time.monotonic() >= deadline:
                print(f"time limit reached: {len(queue)} students not started", flush=True)
                queue.clear()
    return 0


# --- teacher-side scores -----------------------------------------------------------------


def scores(args) -> int:
    import dastat

    out = Path(args.out)
    path = out / "scores.json"
    done = json.loads(path.read_text()) if path.exists() else []
    have = {(r["da"], r["score_seed"]) for r in done}
    student = dastat.models.create(args.student, num_classes=10, in_channels=1) if args.student else None
    for seed in range(args.seeds):
        for family, value, spec in grid():
            if (spec, seed) in have:
                continue
            t = time.perf_counter()
            kwargs = {"student": student} if student is not None else {}
            result = dastat.score(spec, seed=seed, max_images=args.max_images, **kwargs)
            row = {k: v for k, v in result.to_dict().items()}
            row.update(family=family, strength=value, score_seed=seed, seconds=round(time.perf_counter() - t, 1))
            done.append(row)
            write_json(path, json.loads(json.dumps(done, default=_json_default)))
            print(f"{spec} seed {seed}: T. stddev {row.get('t_stddev')} ({row['seconds']} s)", flush=True)
    return 0


def _json_default(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


# --- the joined table --------------------------------------------------------------------


def load_rows(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "rows").glob("*.json"))]


def table(args) -> int:
    import pandas as pd

    out = Path(args.out)
    rows = load_rows(out)
    scored = json.loads((out / "scores.json").read_text()) if (out / "scores.json").exists() else []
    teacher = {}
    for r in scored:
        teacher.setdefault(r["da"], []).append(r)
    lines = []
    for (student, family, strength, spec), group in pd.DataFrame(rows).groupby(
            ["student", "family", "strength", "da"]):
        line = dict(student=student, family=family, strength=strength, da=spec, n_seeds=len(group))
        for col in ("test_loss", "test_top1"):
            line[col] = group[col].mean()
            line[f"{col}_sd"] = group[col].std(ddof=1) if len(group) > 1 else math.nan
        for stat in ("t_stddev", "teacher_entropy", "affinity", "kl_view", "t_accuracy", "ce_cov"):
            values = [r[stat] for r in teacher.get(spec, []) if isinstance(r.get(stat), (int, float))]
            line[stat] = statistics.fmean(values) if values else math.nan
        lines.append(line)
    frame = pd.DataFrame(lines).sort_values(["student", "family", "strength"])
    frame.to_csv(out / "strengths.csv", index=False)
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.5g}"))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("students")
    s.add_argument("--out", required=True)
    s.add_argument("--students", default="resnet8,wrn_16_1")
    s.add_argument("--seeds", type=int, default=3)
    s.add_argument("--jobs", type=int, default=1)
    s.add_argument("--threads", type=int, default=1, help="torch threads per process")
    s.add_argument("--device", default="cpu")
    s.add_argument("--time-limit", type=float, default=None, metavar="S", help="start no student after S seconds")
    s.add_argument("--max-steps", type=int, default=None, help="smoke tests: stop each student after N steps")
    s.add_argument("--test-subset", type=int, default=None, help="smoke tests: evaluate on the first N test images")
    s.set_defaults(func=students)
    c = sub.add_parser("scores")
    c.add_argument("--out", required=True)
    c.add_argument("--seeds", type=int, default=2)
    c.add_argument("--max-images", type=int, default=None)
    c.add_argument("--student", default=None, help="a fresh student for the student-aware statistics")
    c.set_defaults(func=scores)
    t = sub.add_parser("table")
    t.add_argument("--out", required=True)
    t.set_defaults(func=table)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
