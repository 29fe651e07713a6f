"""Strength sweeps: T. stddev and trained students for each strength of a DA family.

    python scripts/strength_sweep.py students --out DIR [--students resnet8,wrn_16_1] [--seeds 3] [--jobs N]
    python scripts/strength_sweep.py scores --out DIR [--seeds 2]
    python scripts/strength_sweep.py table --out DIR
    python scripts/strength_sweep.py report --out DIR [--figure PNG] [--markdown PAGE] [--section NAME]

``students`` trains one KD student per (student family, DA strength, seed) on the
bundled default with one fixed recipe, ``--jobs`` of them at a time in separate
processes, and writes one JSON row per finished student to ``DIR/rows/`` (written
atomically, so a stopped sweep resumes where it stopped: finished rows are skipped,
interrupted runs resume from their checkpoint). Jobs run seed by seed, so a sweep cut
short still holds every strength of every student family at the first seeds. ``scores`` ranks every strength
on the teacher alone with ``dastat rank`` (every strength on the same images, so their
differences are paired; every teacher-side statistic) into ``DIR/rank_seed<k>.json``.
``report`` joins both: ``DIR/strengths.csv`` (one row per student family and strength:
the students' mean and sd over seeds beside the teacher-side statistics), a figure of
the curves and the markdown section of docs/results.md, with each criterion's
recommendation beside the students' best strength.

``--teacher FILE`` and ``--grid "mixup=0.2,1;cutout=4,28"`` sweep another teacher or a
smaller grid (the out-of-sample check: a teacher and student family the criteria were
not chosen on). The first ``students`` or ``scores`` call records both in
``DIR/sweep.json``; later calls on DIR read them from there, so a sweep cannot mix
teachers or grids.
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


def parse_grid(text: str) -> dict[str, tuple[str, list[float]]]:
    """``"mixup=0.2,1;cutout=4,28"`` → the families' strength lists (each family's own argument)."""
    families = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        family, _, values = part.partition("=")
        if family not in FAMILIES or not values:
            raise SystemExit(f"--grid: {part!r} is not FAMILY=V1,V2,... with FAMILY one of {', '.join(FAMILIES)}")
        families[family] = (FAMILIES[family][0], [float(v) if "." in v else int(v) for v in values.split(",")])
    return families


def sweep_setting(out: Path, teacher: str | None = None, grid_text: str | None = None) -> dict:
    """The sweep's teacher and grid: recorded in ``out/sweep.json`` by the first call, read by the later ones."""
    path = out / "sweep.json"
    if path.exists():
        setting = json.loads(path.read_text())
        if (teacher and teacher != setting["teacher"]) or (grid_text and parse_grid(grid_text) != {
                k: tuple(v) for k, v in setting["grid"].items()}):
            raise SystemExit(f"{path} records another teacher or grid; sweep into another folder")
        setting["grid"] = {k: tuple(v) for k, v in setting["grid"].items()}
        return setting
    setting = dict(teacher=teacher, grid=parse_grid(grid_text) if grid_text else FAMILIES)
    if teacher or grid_text:  # the default sweep needs no file
        write_json(path, setting)
    return setting


def grid(families: dict | None = None) -> list[tuple[str, float, str]]:
    """Every (family, strength, DA spec) of the sweep, family by family."""
    return [(family, value, f"{family}({arg}={value})") for family, (arg, values) in (families or FAMILIES).items()
            for value in values]


def slug(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", spec).strip("_")


def write_text(path: Path, text: str) -> None:
    """Write through a temporary file and a rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2) + "\n")


# --- students ----------------------------------------------------------------------------


def train_one(out: str, student: str, seed: int, family: str, strength: float, spec: str, device: str,
              threads: int, recipe: dict, teacher: str | None = None) -> dict:
    """Train (or resume) one student and write its row; runs in a worker process."""
    import shutil

    import torch

    from dastat.kd import train

    torch.set_num_threads(threads)
    run_dir = Path(out) / "runs" / student / slug(spec) / f"seed{seed}"
    if (run_dir / "checkpoint.pt").exists():
        result = train(resume=run_dir, device=device, progress=False, teacher=teacher)
    else:
        if run_dir.exists():  # started but stopped before its first checkpoint
            shutil.rmtree(run_dir)
        result = train(run_dir, student=student, da=spec, seed=seed, device=device, progress=False,
                       teacher=teacher, **recipe)
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
    setting = sweep_setting(out, args.teacher, args.grid)
    recipe = dict(RECIPE, **{k: v for k, v in (("max_steps", args.max_steps), ("test_subset", args.test_subset))
                             if v is not None})
    jobs = [(s, seed, fam, value, spec) for seed in range(args.seeds) for s in args.students.split(",")
            for fam, value, spec in grid(setting["grid"]) if not row_path(out, s, spec, seed).exists()
            and (not args.families or fam in args.families.split(","))]
    print(f"{len(jobs)} students to train with {args.jobs} processes on {args.device}", flush=True)
    run_pool(jobs, lambda job: (train_one, str(out), *job, args.device, args.threads, recipe, setting["teacher"]),
             lambda job: f"{job[0]} {job[4]} seed {job[1]}", args.jobs, args.time_limit)
    return 0


def add_pool_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of :func:`run_pool`: processes, threads each, device and a time limit."""
    parser.add_argument("--jobs", type=int, default=1, help="students trained at a time, each in its own process")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--time-limit", type=float, default=None, metavar="S", help="start no student after S seconds")


def run_pool(jobs: list, call, name, processes: int, time_limit: float | None) -> None:
    """Run ``call(job)`` (a function and its arguments) for each job, ``processes`` at a time in
    fresh processes; print each finished student's row under ``name(job)``; start none after
    ``time_limit`` seconds. One failed student does not stop the others."""
    deadline = time.monotonic() + time_limit if time_limit else math.inf
    t0 = time.monotonic()
    queue = list(jobs)
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        pending = {}
        while queue or pending:
            while queue and len(pending) < processes and time.monotonic() < deadline:
                job = queue.pop(0)
                pending[pool.submit(*call(job))] = job
            if not pending:
                break
            done, _ = wait(pending, timeout=30, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                try:
                    row = future.result()
                    print(f"[{time.monotonic() - t0:6.0f}s] {name(job)}: test loss {row['test_loss']:.4f}, "
                          f"top-1 {row['test_top1']:.2f} ({row['seconds']} s)", flush=True)
                except Exception as exc:  # one failed student must not stop the sweep
                    print(f"FAILED {name(job)}: {type(exc).__name__}: {exc}", flush=True)
    if queue:
        print(f"time limit reached: {len(queue)} students not started", flush=True)


# --- teacher-side scores -----------------------------------------------------------------


def scores(args) -> int:
    """``dastat rank`` over every strength at each scoring seed (same images for all strengths)."""
    import subprocess

    out = Path(args.out)
    setting = sweep_setting(out, args.teacher, args.grid)
    teacher = ["--teacher", setting["teacher"], "--data", "fashion-mnist"] if setting["teacher"] else []
    for seed in range(args.seeds):
        path = out / f"rank_seed{seed}.json"
        if path.exists():
            continue
        command = [sys.executable, "-m", "dastat", "rank", *teacher,
                   *[a for fam, _, spec in grid(setting["grid"]) for a in ("--da", spec)
                     if not args.families or fam in args.families.split(",")],
                   "--seed", str(seed), "--no-progress", "--out", str(path)]
        print(" ".join(command), flush=True)
        subprocess.run(command, check=True)
    return 0


def canonical(spec: str) -> str:
    """The name dastat records for a spec (default arguments dropped: ``mixup(alpha=1)`` is ``mixup``)."""
    from dastat.augment import create
    from dastat.augment.base import AugmentContext

    return create(spec, AugmentContext()).spec


def load_scores(out: Path) -> dict[str, list[dict]]:
    """Each DA's teacher-side records, one per scoring seed."""
    by_da: dict[str, list[dict]] = {}
    for path in sorted(out.glob("rank_seed*.json")):
        data = json.loads(path.read_text())
        for record in data["results"] if isinstance(data, dict) else data:
            by_da.setdefault(record["da"], []).append(record)
    return by_da


# --- the joined table --------------------------------------------------------------------

#: Teacher-side criteria a strength can be chosen by, and which way is better.
CRITERIA = {"t_stddev": "lower", "teacher_entropy": "higher", "affinity": "higher", "kl_view": "lower"}


def load_rows(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "rows").glob("*.json"))]


def joined(out: Path):
    """One row per (student family, DA strength): the students' mean and sd beside the teacher's statistics."""
    import pandas as pd

    teacher = load_scores(out)
    lines = []
    for (student, family, strength, spec), group in pd.DataFrame(load_rows(out)).groupby(
            ["student", "family", "strength", "da"]):
        line = dict(student=student, family=family, strength=strength, da=spec, n_seeds=len(group))
        for col in ("test_loss", "test_top1"):
            line[col] = group[col].mean()
            line[f"{col}_sd"] = group[col].std(ddof=1) if len(group) > 1 else math.nan
        records = teacher.get(spec) or teacher.get(canonical(spec), [])
        for stat in CRITERIA:
            values = [r[stat] for r in records if isinstance(r.get(stat), (int, float))]
            line[stat] = statistics.fmean(values) if values else math.nan
            cis = [r.get(f"{stat}_ci") for r in records if r.get(f"{stat}_ci")]
            line[f"{stat}_ci_low"] = cis[0][0] if len(cis) == 1 else math.nan
            line[f"{stat}_ci_high"] = cis[0][1] if len(cis) == 1 else math.nan
        lines.append(line)
    return pd.DataFrame(lines).sort_values(["student", "family", "strength"]).reset_index(drop=True)


def table(args) -> int:
    frame = joined(Path(args.out))
    frame.to_csv(Path(args.out) / "strengths.csv", index=False)
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.5g}"))
    return 0


#: T. stddev first, then fidelity: among the strengths whose T. stddev interval overlaps the lowest one's
#: (those the teacher cannot tell from the best), the one whose views the teacher reads most like the
#: originals (the highest affinity).
MILDEST_TIED = "t_stddev, then affinity among the tied"


def _pick(group, criterion: str):
    """The row a criterion recommends among one family's strengths (None when it has no values)."""
    if criterion == MILDEST_TIED:
        if group["t_stddev"].isna().all():
            return None
        best = group.loc[group["t_stddev"].idxmin()]
        tied = group[group["t_stddev_ci_low"] <= best["t_stddev_ci_high"]]
        return tied.loc[tied["affinity"].idxmax()]
    if group[criterion].isna().all():
        return None
    return group.loc[group[criterion].idxmin() if CRITERIA[criterion] == "lower" else group[criterion].idxmax()]


def verdicts(frame) -> list[dict]:
    """For each (student family, DA family): the students' best strength and each criterion's pick.

    A pick "agrees" when its students' mean test loss is within one seed-sd of the best
    strength's mean; the seed-sd is pooled over the family's strengths (each strength has
    only a few seeds, so a single strength's sd is itself very noisy).
    """
    out = []
    for (student, family), group in frame.groupby(["student", "family"]):
        group = group.reset_index(drop=True)
        best = group.loc[group["test_loss"].idxmin()]
        sds = [v * v for v in group["test_loss_sd"] if math.isfinite(v)]
        sd = math.sqrt(statistics.fmean(sds)) if sds else math.nan  # one seed: no sd, so no pick "agrees"
        row = dict(student=student, family=family, best=best["strength"], best_loss=best["test_loss"], sd=sd,
                   edge=best["strength"] in (group["strength"].min(), group["strength"].max()))
        for criterion in [*CRITERIA, MILDEST_TIED]:
            pick = _pick(group, criterion)
            if pick is None:
                continue
            gap = pick["test_loss"] - best["test_loss"]
            row[criterion] = dict(pick=pick["strength"], loss=pick["test_loss"], gap=gap, agrees=bool(gap <= sd))
        out.append(row)
    return out


def curves(frame, path: Path, families: dict) -> None:
    """T. stddev (with its 95% interval) and each student family's test loss (mean ± sd) against strength."""
    from matplotlib.figure import Figure

    from dastat.plot import save_figure

    fig = Figure(figsize=(3.6 * len(families), 6.4), layout="constrained")
    axes = fig.subplots(2, len(families), sharex="col", squeeze=False)
    teacher = frame.drop_duplicates("da")
    for j, family in enumerate(families):
        arg = families[family][0]
        t = teacher[teacher["family"] == family].sort_values("strength")
        ax = axes[0][j]
        ax.errorbar(t["strength"], t["t_stddev"], yerr=[t["t_stddev"] - t["t_stddev_ci_low"],
                                                         t["t_stddev_ci_high"] - t["t_stddev"]],
                    marker="o", color="#000000", capsize=3)
        ax.set_title(family)
        ax.set_ylabel("T. stddev (95% CI)" if j == 0 else "")
        ax = axes[1][j]
        for student, color in zip(sorted(frame["student"].unique()), ("#E69F00", "#0072B2", "#009E73")):
            s = frame[(frame["family"] == family) & (frame["student"] == student)].sort_values("strength")
            ax.errorbar(s["strength"], s["test_loss"], yerr=s["test_loss_sd"], marker="o", color=color,
                        capsize=3, label=student)
        ax.set_xlabel(arg)
        ax.set_ylabel("student test loss (mean ± sd)" if j == 0 else "")
        if arg == "alpha":
            for a in (axes[0][j], axes[1][j]):
                a.set_xscale("log")
        if j == 0:
            ax.legend(fontsize=8)
    save_figure(fig, path)


SAYS = "## What the strength sweep says"
TITLES = {"strengths": "Strengths: which α, size or magnitude?"}


def markers(section: str) -> tuple[str, str]:
    """The comments that delimit a section of the page, so a report replaces only its own."""
    return f"<!-- {section}: written by scripts/strength_sweep.py report -->", f"<!-- {section}: end -->"


def replace_section(text: str, begin: str, end: str, block: str) -> str:
    """``text`` with the section from ``begin`` to ``end`` replaced by ``block`` (appended when absent)."""
    if begin in text:
        return text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    return text.rstrip("\n") + "\n\n" + block + "\n"


def _fmt(value: float, digits: int = 4) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def markdown(frame, found: list[dict], out: Path, figure: str | None, verdict: str, setting: dict,
             section: str, title: str) -> list[str]:
    """The strength sections of docs/results.md: setting, per-family tables, and the criteria's verdicts."""
    rows = load_rows(out)
    devices = sorted({r["device"] for r in rows})
    seeds = frame.groupby("student")["n_seeds"].agg(["min", "max"])
    teacher = f"the teacher `{setting['teacher']}`" if setting["teacher"] else "the bundled resnet20 teacher"
    lines = [markers(section)[0], f"# {title}", "",
             f"Each DA family's strength swept on {teacher}: T. stddev and the other "
             "teacher-side statistics from one `dastat rank` over every strength (same images, seed 0, "
             "fast protocol defaults), and KD students trained with each strength.", "",
             f"- students: {', '.join(sorted(frame['student'].unique()))}; recipe `quick` (the paper's optimiser "
             f"and two-view KD loss, cosine schedule) for {RECIPE['epochs']} epochs on a fixed "
             f"{RECIPE['subset']:,}-image subset, float32; test loss over all 10,000 test images",
             "- seeds per strength: " + ", ".join(f"{st} {lo}–{hi}" if lo != hi else f"{st} {lo}"
                                                for st, (lo, hi) in seeds.iterrows()),
             f"- trained on: {', '.join(devices)} (`python scripts/strength_sweep.py students --out "
             f"{out.as_posix()}`; the raw rows, one JSON per student, are in `{out.as_posix()}/rows/`)",
             f"- teacher side: `{out.as_posix()}/rank_seed0.json`; joined table: `{out.as_posix()}/strengths.csv`",
             ""]
    manifest = Path(setting["teacher"] or "").parent / "manifest.json"
    if setting["teacher"] and manifest.exists():  # the weights are not kept in the repository: say how to rebuild them
        facts = next(iter(json.loads(manifest.read_text()).values()))
        lines[-1:-1] = [f"- the teacher ({facts['arch']}, test top-1 {facts['test_top1']}%) is rebuilt by "
                        f"`{facts['command']}` ({facts['train_seconds']} s on this CPU; sha256 in `{manifest.as_posix()}`)"]
    if figure:
        lines += [f"![T. stddev and student test loss against strength, per family]({Path(figure).name})", ""]
    families = {f: v for f, v in setting["grid"].items() if f in set(frame["family"])}  # those with students
    for family, (arg, _) in families.items():
        part = frame[frame["family"] == family]
        students = sorted(part["student"].unique())
        lines += [f"## {family}: {arg}", "",
                  "| " + arg + " | T. stddev [95% CI] | affinity | " + " | ".join(
                      f"{st} loss (mean ± sd) | {st} top-1 %" for st in students) + " |",
                  "|---" * (3 + 2 * len(students)) + "|"]
        for strength, group in part.groupby("strength"):
            t = group.iloc[0]
            cells = [f"{strength:g}", f"{_fmt(t['t_stddev'], 5)} [{_fmt(t['t_stddev_ci_low'], 5)}, "
                                      f"{_fmt(t['t_stddev_ci_high'], 5)}]", _fmt(t["affinity"], 3)]
            for st in students:
                r = group[group["student"] == st]
                if r.empty:
                    cells += ["–", "–"]
                    continue
                r = r.iloc[0]
                cells += [f"{_fmt(r['test_loss'])} ± {_fmt(r['test_loss_sd'])} (n={r['n_seeds']})",
                          f"{r['test_top1']:.2f}"]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        for v in (v for v in found if v["family"] == family):
            picks = "; ".join(f"{c} → {v[c]['pick']:g} ({'within' if v[c]['agrees'] else 'not within'} one sd: "
                              f"{v[c]['gap']:+.4f})" for c in [*CRITERIA, MILDEST_TIED] if c in v)
            edge = " (at the grid's edge)" if v["edge"] else ""
            lines.append(f"- **{v['student']}**: students' best {arg} = {v['best']:g}{edge}, test loss "
                         f"{v['best_loss']:.4f}, seed-sd {v['sd']:.4f}. {picks}.")
        lines.append("")
    n_families = len(families)
    totals = {c: {st: sum(1 for v in found if v["student"] == st and c in v and v[c]["agrees"])
                  for st in sorted(frame["student"].unique())} for c in [*CRITERIA, MILDEST_TIED]}
    lines += ["## Criteria against the students", "",
              "A criterion's pick counts when its students' mean test loss is within one seed-sd of the "
              f"best strength's (the sd pooled over the family's strengths). Families (of {n_families}) where it does:", "",
              "| criterion | " + " | ".join(sorted(frame["student"].unique())) + " |",
              "|---" * (1 + frame["student"].nunique()) + "|"]
    lines += [f"| {c} | " + " | ".join(f"{n}/{n_families}" for n in totals[c].values()) + " |" for c in totals]
    return lines + ["", SAYS, "", verdict, "", markers(section)[1]]


def report(args) -> int:
    out = Path(args.out)
    setting = sweep_setting(out)
    frame = joined(out)
    frame.to_csv(out / "strengths.csv", index=False)
    found = verdicts(frame)
    write_text(out / "verdicts.json", json.dumps(found, indent=2, default=float) + "\n")
    if args.figure:
        curves(frame, Path(args.figure), {f: v for f, v in setting["grid"].items() if f in set(frame["family"])})
    if args.markdown:
        page = Path(args.markdown)
        text = page.read_text() if page.exists() else ""
        begin, end = markers(args.section)
        kept = re.search(rf"{re.escape(begin)}.*?{re.escape(SAYS)}\n\n(.*?)\n*{re.escape(end)}", text, re.S)
        verdict = args.verdict or (kept.group(1) if kept else None)
        if not verdict:
            raise SystemExit("give --verdict (the page holds none to keep)")
        title = args.title or TITLES.get(args.section) or args.section
        block = "\n".join(markdown(frame, found, out, args.figure, verdict, setting, args.section, title))
        write_text(page, replace_section(text, begin, end, block))
    for v in found:
        picks = ", ".join(f"{c} → {v[c]['pick']:g} (gap {v[c]['gap']:+.4f}, {'agrees' if v[c]['agrees'] else 'no'})"
                          for c in [*CRITERIA, MILDEST_TIED] if c in v)
        print(f"{v['student']:9} {v['family']:12} students' best {v['best']:g} "
              f"({v['best_loss']:.4f} ± {v['sd']:.4f}{', at the edge' if v['edge'] else ''}); {picks}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("students")
    s.add_argument("--out", required=True)
    s.add_argument("--students", default="resnet8,wrn_16_1")
    s.add_argument("--seeds", type=int, default=3)
    s.add_argument("--families", default=None, help="only these DA families, comma-separated")
    s.add_argument("--teacher", default=None, help="a teacher file (default: the bundled one)")
    s.add_argument("--grid", default=None, help='strengths to sweep, e.g. "mixup=0.2,1;cutout=4,28"')
    add_pool_arguments(s)
    s.add_argument("--max-steps", type=int, default=None, help="smoke tests: stop each student after N steps")
    s.add_argument("--test-subset", type=int, default=None, help="smoke tests: evaluate on the first N test images")
    s.set_defaults(func=students)
    c = sub.add_parser("scores")
    c.add_argument("--out", required=True)
    c.add_argument("--seeds", type=int, default=1, help="scoring seeds (each a full dastat rank)")
    c.add_argument("--teacher", default=None, help="a teacher file (default: the bundled one)")
    c.add_argument("--families", default=None, help="only these DA families, comma-separated")
    c.add_argument("--grid", default=None, help='strengths to sweep, e.g. "mixup=0.2,1;cutout=4,28"')
    c.set_defaults(func=scores)
    t = sub.add_parser("table")  # strengths.csv
    t.add_argument("--out", required=True)
    t.set_defaults(func=table)
    r = sub.add_parser("report")
    r.add_argument("--out", required=True)
    r.add_argument("--figure", default=None, help="write the curves to this image file")
    r.add_argument("--markdown", default=None, help="write (or replace) the strength sections in this page")
    r.add_argument("--section", default="strengths", help="the page section this report writes (its markers)")
    r.add_argument("--title", default=None, help="the section's heading")
    r.add_argument("--verdict", default=None, help="what the sweep says, in plain words (default: keep the page's)")
    r.set_defaults(func=report)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
