"""More seeds for the middle of a saved validation: are its adjacent DAs told apart by students?

    python scripts/validation_seeds.py students --out DIR --das crop_flip,cutout,... \\
        --seeds resnet8=5,wrn_16_1=8 [--check resnet8:identity:0] [--jobs 2] [--time-limit S]
    python scripts/validation_seeds.py report --out DIR [--markdown docs/results.md]

A validation (``dastat validate``) saved under ``benchmarks/results/`` keeps each DA's
students as mean, sd and number of seeds. ``students`` trains further seeds of the named
DAs with the validation's own recorded options (student, recipe, overrides), one JSON row
per finished student in ``DIR/rows/`` (written atomically; a stopped sweep resumes).
Seeds already in the saved table are not retrained, except those named by ``--check``,
which retrain one saved seed to show that today's trainer reproduces it.

``report`` pools the saved seeds with the new ones (exactly, from their means and sds),
walks the DAs in T. stddev order and, for each adjacent pair, sets the teacher's
difference beside the students' (Welch's t-test and a 95% interval on the difference of
the mean test losses), then writes ``DIR/pairs.csv`` and the markdown section.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from strength_sweep import add_pool_arguments, replace_section, run_pool, slug, write_json, write_text  # noqa: E402

#: The saved validations, by student family.
VALIDATIONS = {
    "resnet8": Path("benchmarks/results/validate_fmnist"),
    "wrn_16_1": Path("benchmarks/results/validate_fmnist_wrn_16_1"),
}
SECTION = "validation-seeds"


@functools.cache
def saved_options(student: str) -> dict:
    stored = json.loads((VALIDATIONS[student] / "validate.json").read_text())
    return stored.get("options", stored)


@functools.cache
def saved_table(student: str) -> dict[str, dict]:
    """The saved validation's rows by DA (students' mean, sd, seeds; T. stddev and its interval)."""
    stored = json.loads((VALIDATIONS[student] / "results.json").read_text())
    return {row["da"]: row for row in stored["rows"]}


def teacher_separates(student: str) -> dict[str, bool | None]:
    """Whether the saved ranking called each DA distinct from the next (its neighbour test, Holm-corrected)."""
    stored = json.loads((VALIDATIONS[student] / "scores.json").read_text())
    records = stored["scores"] if isinstance(stored, dict) else stored
    return {r["da"]: r.get("distinct_from_next") for r in records}


def row_path(out: Path, student: str, da: str, seed: int) -> Path:
    return out / "rows" / f"{student}__{slug(da)}__seed{seed}.json"


def train_one(out: str, student: str, da: str, seed: int, device: str, threads: int) -> dict:
    """Train (or resume) one student with the validation's options; runs in a worker process."""
    import shutil

    import torch

    from dastat.kd import train

    torch.set_num_threads(threads)
    options = saved_options(student)
    run_dir = Path(out) / "runs" / student / slug(da) / f"seed{seed}"
    if (run_dir / "checkpoint.pt").exists():
        result = train(resume=run_dir, device=device, progress=False)
    else:
        if run_dir.exists():  # started but stopped before its first checkpoint
            shutil.rmtree(run_dir)
        result = train(run_dir, teacher=options["teacher"], data=options["data"], da=da, recipe=options["recipe"],
                       student=student, seed=seed, device=device, progress=False, **options["train_options"])
    final = result.final
    row = dict(student=student, da=da, seed=seed, test_loss=float(final["test_loss"]),
               test_top1=float(final["test_top1"]), seconds=round(result.seconds, 1), device=str(device),
               recipe=options["recipe"], train_options=options["train_options"])
    write_json(row_path(Path(out), student, da, seed), row)
    return row


def students(args) -> int:
    out = Path(args.out)
    das = args.das.split(",")
    targets = dict((s, int(n)) for s, n in (part.split("=") for part in args.seeds.split(",")))
    jobs = []
    for part in filter(None, (args.check or "").split(",")):
        student, da, seed = part.split(":")
        jobs.append((student, da, int(seed)))
    saved = {student: saved_table(student) for student in targets}
    # Seed by seed across both families, so a sweep cut short is balanced.
    for rank in range(max(targets.values())):
        for student, n in targets.items():
            for da in das:
                first = saved[student][da]["n_seeds"]
                if first + rank < n:
                    jobs.append((student, da, first + rank))
    jobs = [job for job in jobs if not row_path(out, *job).exists()]
    print(f"{len(jobs)} students to train with {args.jobs} processes on {args.device}", flush=True)
    run_pool(jobs, lambda job: (train_one, str(out), *job, args.device, args.threads),
             lambda job: f"{job[0]} {job[1]} seed {job[2]}", args.jobs, args.time_limit)
    return 0


# --- report ------------------------------------------------------------------------------


def pooled(n0: int, mean0: float, sd0: float, values: list[float]) -> tuple[int, float, float]:
    """Number, mean and sample sd of the saved seeds (given by n, mean, sd) and ``values`` together."""
    n1 = len(values)
    if n1 == 0:
        return n0, mean0, sd0
    mean1 = statistics.fmean(values)
    n = n0 + n1
    mean = (n0 * mean0 + n1 * mean1) / n
    sum_sq = (n0 - 1) * sd0 ** 2 + sum((v - mean1) ** 2 for v in values) + n0 * n1 / n * (mean0 - mean1) ** 2
    return n, mean, math.sqrt(sum_sq / (n - 1))


def load_rows(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "rows").glob("*.json"))]


def checks(rows: list[dict]) -> list[dict]:
    """Retrained saved seeds beside the values the saved table implies (2-seed DAs only: mean ± sd/√2)."""
    found = []
    for row in rows:
        saved = saved_table(row["student"])[row["da"]]
        if row["seed"] >= saved["n_seeds"] or saved["n_seeds"] != 2:
            continue
        half = saved["test_loss_std"] / math.sqrt(2)
        found.append(dict(row, saved=[saved["test_loss"] - half, saved["test_loss"] + half]))
    return found


def welch(a: tuple[int, float, float], b: tuple[int, float, float]) -> tuple[float, float, float, float]:
    """``mean_b - mean_a``, its 95% Welch interval and the two-sided p, from (n, mean, sd) of each."""
    from scipy import stats

    (na, ma, sa), (nb, mb, sb) = a, b
    if min(na, nb) < 2:
        return mb - ma, math.nan, math.nan, math.nan
    se = math.sqrt(sa ** 2 / na + sb ** 2 / nb)
    dof = se ** 4 / ((sa ** 2 / na) ** 2 / (na - 1) + (sb ** 2 / nb) ** 2 / (nb - 1))
    half = stats.t.ppf(0.975, dof) * se
    p = stats.ttest_ind_from_stats(mb, sb, nb, ma, sa, na, equal_var=False).pvalue
    return mb - ma, mb - ma - half, mb - ma + half, float(p)


def pairs(out: Path, student: str, rows: list[dict]) -> list[dict]:
    """Each adjacent pair (in T. stddev order) of the saved table: teacher and students side by side,
    the students over every seed (saved and new pooled) and over the new seeds alone."""
    saved = saved_table(student)
    new: dict[str, list[float]] = {da: [] for da in saved}
    for row in rows:
        if row["student"] == student and row["seed"] >= saved[row["da"]]["n_seeds"]:
            new[row["da"]].append(row["test_loss"])
    das = sorted(saved, key=lambda da: saved[da]["t_stddev"])
    every = {d: pooled(saved[d]["n_seeds"], saved[d]["test_loss"], saved[d]["test_loss_std"], new[d]) for d in das}
    fresh = {d: (len(v), statistics.fmean(v) if v else math.nan, statistics.stdev(v) if len(v) > 1 else math.nan)
             for d, v in new.items()}
    separates = teacher_separates(student)
    found = []
    for a, b in zip(das, das[1:]):
        diff, low, high, p = welch(every[a], every[b])
        new_diff, _, _, new_p = welch(fresh[a], fresh[b])
        tsd_a, tsd_b = saved[a]["t_stddev"], saved[b]["t_stddev"]
        found.append(dict(student=student, lower=a, higher=b, t_stddev_lower=tsd_a, t_stddev_higher=tsd_b,
                          t_stddev_gap_pct=100 * (tsd_b / tsd_a - 1),
                          teacher_separates=separates.get(a), n_lower=every[a][0], n_higher=every[b][0],
                          loss_lower=every[a][1], sd_lower=every[a][2], loss_higher=every[b][1],
                          sd_higher=every[b][2], loss_diff=diff, diff_low=low, diff_high=high, p=p,
                          separated=bool(p < 0.05), new_seeds=(fresh[a][0], fresh[b][0]), new_diff=new_diff,
                          new_p=new_p))
    return found


def markdown(found: list[dict], repro: list[dict], rows: list[dict], verdict: str) -> str:
    lines = [f"<!-- {SECTION}:start -->", "## Every adjacent pair with more seeds", ""]
    seconds = sum(r["seconds"] for r in rows)
    lines += ["- command: `python scripts/validation_seeds.py students --out benchmarks/results/validation_seeds "
              "--das crop_flip,cutout,flip,identity,cutmix_pick_s --seeds resnet8=5,wrn_16_1=8 "
              "--check resnet8:identity:0 --jobs 2`; the same with `--das cutmix_pick_t,mixup,cutmix,autoaugment` and "
              "`--seeds wrn_16_1=8`, then `--seeds resnet8=5` (resumed in a later session: runs resume from their rows); "
              "then `... report`",
              f"- {len(rows)} students trained with each validation's own recorded options, "
              f"{seconds / 3600:.1f} CPU-hours on the project's x86_64 box (2 cores, one torch thread per student); "
              "the saved seeds are pooled with the new ones from their means and sds",
              "- raw rows: `benchmarks/results/validation_seeds/rows/`; pair table: "
              "`benchmarks/results/validation_seeds/pairs.csv`",
              "- T. stddev separates: the saved ranking's neighbour test (equality, Holm-corrected), as it was "
              "run; today's 4% margin calls no pair below a 4% gap distinct", ""]
    for row in repro:
        lines.append(f"- reproduction: {row['student']} {row['da']} seed {row['seed']} retrained today: test loss "
                     f"{row['test_loss']:.4f}; the saved table's two seeds are {row['saved'][0]:.4f} and "
                     f"{row['saved'][1]:.4f}")
    lines += ["", "| student | lower T. stddev → higher | T. stddev gap | T. stddev separates? | seeds | "
              "S. test loss (mean ± sd) | difference [95% CI] | Welch p | new seeds only: difference (p) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in found:
        new = (f"{r['new_diff']:+.4f} ({r['new_p']:.3g})" if math.isfinite(r["new_p"]) else "–")
        sep = {True: "yes", False: "no", None: "–"}[r["teacher_separates"]]
        lines.append(f"| {r['student']} | {r['lower']} → {r['higher']} | {r['t_stddev_gap_pct']:+.2f}% | {sep} | "
                     f"{r['n_lower']}, {r['n_higher']} | {r['loss_lower']:.4f} ± {r['sd_lower']:.4f} → "
                     f"{r['loss_higher']:.4f} ± {r['sd_higher']:.4f} | {r['loss_diff']:+.4f} "
                     f"[{r['diff_low']:+.4f}, {r['diff_high']:+.4f}] | {r['p']:.3g} | {new} |")
    lines += ["", verdict, f"<!-- {SECTION}:end -->"]
    return "\n".join(lines)


def report(args) -> int:
    import pandas as pd

    out = Path(args.out)
    rows = load_rows(out)
    found = [p for student in VALIDATIONS for p in pairs(out, student, rows)]
    pd.DataFrame(found).to_csv(out / "pairs.csv.tmp", index=False)
    (out / "pairs.csv.tmp").replace(out / "pairs.csv")
    repro = checks(rows)
    for r in found:
        print(f"{r['student']:9s} {r['lower']:>14s} -> {r['higher']:<14s} T.sd {r['t_stddev_gap_pct']:+5.2f}%  "
              f"n={r['n_lower']},{r['n_higher']}  diff {r['loss_diff']:+.4f} [{r['diff_low']:+.4f}, "
              f"{r['diff_high']:+.4f}]  p={r['p']:.3g}")
    for r in repro:
        print(f"reproduction {r['student']} {r['da']} seed {r['seed']}: {r['test_loss']:.4f} vs saved {r['saved']}")
    if args.markdown:
        page = Path(args.markdown)
        text = page.read_text()
        start, end = f"<!-- {SECTION}:start -->", f"<!-- {SECTION}:end -->"
        verdict = args.verdict
        if verdict is None and start in text:
            old = text[text.index(start):text.index(end)].rstrip().splitlines()
            verdict = old[-1] if old and not old[-1].startswith("|") else ""
        section = markdown(found, repro, rows, verdict or "")
        write_text(page, replace_section(text, start, end, section))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("students")
    s.add_argument("--out", required=True)
    s.add_argument("--das", required=True, help="DAs to add seeds to, comma-separated")
    s.add_argument("--seeds", required=True, help="total seeds per DA by student family, e.g. resnet8=5,wrn_16_1=8")
    s.add_argument("--check", default=None, help="retrain saved seeds, e.g. resnet8:identity:0")
    add_pool_arguments(s)
    r = sub.add_parser("report")
    r.add_argument("--out", required=True)
    r.add_argument("--markdown", default=None, help="write (or replace) the section in this page")
    r.add_argument("--verdict", default=None, help="what the seeds say, in plain words (default: keep the page's)")
    args = parser.parse_args(argv)
    return {"students": students, "report": report}[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
