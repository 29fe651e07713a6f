"""The real teacher's exact T. stddev for identity and flip, against both protocols.

For a DA whose view depends only on its own image, a group of 320 (image, view) units is
an average of 320 independent draws of ``z = (p(x) + p(v)) / 2``, so the quantity both
protocols estimate is ``mean_c sqrt(Var(z_c) / 320)``, with ``Var`` over an image drawn
from the training split, its base view (padded crop and flip) and the DA's draw. Here
that variance is computed directly, from every one of the 60,000 training images under
``--passes`` fresh base views and draws (plain sums in float64; its standard error from
32 disjoint image sections), on the bundled teacher. Against it:

* the fast protocol (pair units, default stop) over ``--seeds`` seeds: the relative bias
  of its estimate and the share of its 95% intervals that contain the target;
* the paper protocol: a run made here for identity and flip (``--paper-epochs``) and saved runs
  (``--paper-from``), each against its own interval.

Within one epoch the paper's groups partition the training split, so their image part
has a finite-population factor ``(N − 320)/(N − 1)``: it lowers the paper's target by at
most 0.27% (less, since base views and draws are fresh), shown beside it.

    python benchmarks/bench_exact_target.py --passes 3 --seeds 40 --threads 1 --docs docs/calibration.md
    python benchmarks/bench_exact_target.py --reuse --paper-epochs 10 --threads 1 \
        --paper-from benchmarks/results/protocols_paper_ranking.json --docs docs/calibration.md
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

import dastat
from dastat.augment import create
from dastat.data import load_data
from dastat.io import atomic_write_text
from dastat.seeding import generator

sys.path.insert(0, str(Path(__file__).parent))
from doc_sections import publish, write_section  # noqa: E402

GROUP = 320
SECTIONS = 32
DAS = ("identity", "flip")
BEGIN, END = "<!-- bench_exact_target: begin -->", "<!-- bench_exact_target: end -->"


@torch.inference_mode()
def population(teacher, data, passes: int, images: int | None = None, batch: int = 1000) -> dict[str, dict]:
    """Per DA, the exact target and its standard error from every training image (or the first ``images``)
    under ``passes`` fresh base views and draws."""
    classes, flip = data.num_classes, create("flip")
    indices = torch.arange(min(images or len(data.train), len(data.train)))
    sums = {da: np.zeros((SECTIONS, 3, classes)) for da in DAS}  # per section: count, Σz, Σz²
    for k in range(passes):
        for i, (x, y) in enumerate(data.train.batches(batch, indices=indices)):
            x = data.base_view(x, generator("exact-target", k, i, "base"))
            p = torch.softmax(teacher(x).double(), -1)
            view = flip(x, y, generator=generator("exact-target", k, i, "flip")).x
            z = {"identity": p, "flip": (p + torch.softmax(teacher(view).double(), -1)) / 2}
            section = (torch.arange(i * batch, i * batch + len(x)) % SECTIONS).numpy()
            for da in DAS:
                values = z[da].numpy()
                for s in range(SECTIONS):
                    v = values[section == s]
                    sums[da][s, 0] += len(v)
                    sums[da][s, 1] += v.sum(0)
                    sums[da][s, 2] += (v ** 2).sum(0)
        print(f"pass {k + 1}/{passes} done", file=sys.stderr, flush=True)
    return {da: _target(sums[da]) for da in DAS}


def _t_stddev(count: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> float:
    mean = s1 / count
    var = (s2 - count * mean ** 2) / (count - 1)
    return float(np.sqrt(var / GROUP).mean())


def _target(sums: np.ndarray) -> dict:
    """The target on all units and its standard error from the spread of the 32 sections' own values."""
    total = sums.sum(0)
    per_section = np.array([_t_stddev(*s) for s in sums])
    return {"target": _t_stddev(*total), "se": float(per_section.std(ddof=1) / math.sqrt(SECTIONS)),
            "units": int(total[0, 0])}


def fast_runs(teacher, data, seeds: int) -> dict[str, list[dict]]:
    """The fast protocol's identity and flip, one ranking per seed (default stop)."""
    runs = {da: [] for da in DAS}
    for seed in range(seeds):
        for r in dastat.rank(list(DAS), teacher, data, seed=seed, progress=False):
            runs[r.da].append({"seed": seed, "t_stddev": r.t_stddev, "ci": list(r.t_stddev_ci),
                               "n_images": r.n_images})
    return runs


def paper_run(teacher, data, epochs: int, path: Path) -> dict:
    """The paper protocol for identity and flip over ``epochs`` epochs, saved to ``path``."""
    start = time.perf_counter()
    ranking = dastat.rank(list(DAS), teacher, data, protocol="paper", epochs=epochs, seed=0, progress=False)
    saved = {"epochs": epochs, "total_forward": ranking.total_forward, "seconds": time.perf_counter() - start,
             "records": ranking.to_records(), "source": "this benchmark, identity and flip only"}
    atomic_write_text(path, json.dumps(saved, allow_nan=False) + "\n")
    return saved


def _paper_rows(saved: dict, targets: dict) -> dict:
    """A further paper run, summarised per DA against the target: its value, interval and whether it holds it."""
    rows = {}
    for r in saved["records"]:
        if r["da"] in targets:
            truth, (low, high) = targets[r["da"]]["target"], r["t_stddev_ci"]
            rows[r["da"]] = {"value": r["t_stddev"], "ci": [low, high], "inside": bool(low <= truth <= high),
                             "relative": r["t_stddev"] / truth - 1}
    return {"epochs": saved["epochs"], "source": saved["source"], "rows": rows}


def summarise(target: dict, runs: list[dict], paper: dict | None, n_train: int) -> dict:
    truth = target["target"]
    rel = np.array([r["t_stddev"] / truth - 1 for r in runs])
    cover = np.array([r["ci"][0] <= truth <= r["ci"][1] for r in runs])
    row = {**target, "fast_bias": float(rel.mean()), "fast_bias_se": float(rel.std(ddof=1) / math.sqrt(len(rel))),
           "fast_coverage": float(cover.mean()), "fast_coverage_se": float(math.sqrt(cover.mean() * (1 - cover.mean())
                                                                                    / len(cover))),
           "fast_runs": len(runs), "fast_images": float(np.mean([r["n_images"] for r in runs])),
           "paper_target_fpc": truth * math.sqrt((n_train - GROUP) / (n_train - 1))}
    if paper:
        row.update(paper=paper["t_stddev"], paper_ci=paper["t_stddev_ci"], paper_units=paper["n_units"],
                   paper_inside=bool(paper["t_stddev_ci"][0] <= truth <= paper["t_stddev_ci"][1]))
    return row


def render(summary: dict) -> str:
    lines = ["## The real teacher: the exact target", "",
             "For identity and flip, whose views depend only on their own image, the target is computed from "
             f"every training image (`python benchmarks/bench_exact_target.py`, docstring): "
             f"{summary['passes']} passes of {summary['n_train']:,} images with fresh base views and draws, on the "
             f"bundled teacher; {summary['machine']}, {summary['seconds']:.0f} s. The fast protocol ran "
             f"{summary['seeds']} times (seeds 0–{summary['seeds'] - 1}, default stop); the paper protocol's row is "
             f"one {summary['paper_epochs']}-epoch run ({summary['paper_source']}, {summary['paper_seconds']:.0f} s).",
             "",
             "| DA | exact target (± se) | fast: bias | fast: 95% intervals containing it (95% CI) | fast: mean images | paper run (95% CI) "
             "| paper − target | target inside the paper's CI? |", "|---|---|---|---|---|---|---|---|"]
    for da, r in summary["rows"].items():
        paper = (f"{r['paper']:.5f} [{r['paper_ci'][0]:.5f}, {r['paper_ci'][1]:.5f}] | "
                 f"{100 * (r['paper'] / r['target'] - 1):+.2f}% | {'yes' if r['paper_inside'] else '**no**'}"
                 if "paper" in r else "– | – | –")
        lines.append(f"| {da} | {r['target']:.6f} ± {100 * r['se'] / r['target']:.2f}% | "
                     f"{100 * r['fast_bias']:+.2f}% ± {100 * r['fast_bias_se']:.2f}% | "
                     f"{_coverage(r['fast_coverage'], r['fast_runs'])} | "
                     f"{r['fast_images']:,.0f} | {paper} |")
    for other in summary["other_papers"]:
        read = "; ".join(f"{da} {r['value']:.5f} [{r['ci'][0]:.5f}, {r['ci'][1]:.5f}], {100 * r['relative']:+.2f}%"
                         f" ({'inside' if r['inside'] else '**outside**'} its interval)"
                         for da, r in other["rows"].items())
        lines += ["", f"The paper protocol's {other['epochs']}-epoch run in {other['source']} read: {read}."]
    fpc = max(1 - r["paper_target_fpc"] / r["target"] for r in summary["rows"].values())
    lines += ["", f"The paper's groups partition each epoch's images, which lowers its target by at most "
              f"{100 * fpc:.2f}% (finite population); that does not change the last column."]
    return "\n".join(lines)


def _coverage(share: float, runs: int) -> str:
    """``k/n`` with its exact (Clopper–Pearson) 95% interval: a binomial standard error says nothing at 0 or n."""
    hits = round(share * runs)
    ci = stats.binomtest(hits, runs).proportion_ci()
    return f"{hits}/{runs} [{100 * ci.low:.1f}%, {100 * ci.high:.1f}%]"


def write_docs(path: Path, summary: dict) -> None:
    write_section(path, BEGIN, END, render(summary))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=3, help="passes over the training split for the target")
    parser.add_argument("--seeds", type=int, default=60, help="fast-protocol runs")
    parser.add_argument("--paper-from", type=Path, nargs="*",
                        default=[Path("benchmarks/results/protocols_paper_ranking.json")],
                        help="saved paper-protocol rankings to compare (bench_protocols' nine-DA run, or an earlier "
                             "--paper-epochs run); the first is the table's row, the others are listed below it")
    parser.add_argument("--paper-epochs", type=int, default=None,
                        help="run the paper protocol for identity and flip for this many epochs here, save it "
                             "beside --json, and make it the table's row")
    parser.add_argument("--reuse", action="store_true",
                        help="take the target and the fast runs from --json (only the paper side is redone)")
    parser.add_argument("--images", type=int, default=None, help="only the first N training images (a quick check)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/exact_target.json"))
    parser.add_argument("--docs", type=Path, default=None)
    parser.add_argument("--docs-only", action="store_true", help="only rewrite --docs from the saved --json")
    args = parser.parse_args(argv)
    if args.docs_only:
        write_docs(args.docs, json.loads(args.json.read_text()))
        return 0
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    data = load_data()
    teacher = dastat.load_teacher(None, data=data)
    previous = json.loads(args.json.read_text()) if args.reuse else None
    if previous:
        targets, runs = {da: previous["rows"][da] for da in DAS}, previous["runs"]
    else:
        targets, runs = population(teacher, data, args.passes, args.images), fast_runs(teacher, data, args.seeds)
    seconds = time.perf_counter() - start
    papers = [paper_run(teacher, data, args.paper_epochs, args.json.with_name(args.json.stem + "_paper.json"))
              ] if args.paper_epochs else []
    for path in args.paper_from:
        saved = json.loads(path.read_text())
        saved.setdefault("source", "bench_protocols (the nine DAs)")
        papers.append(saved)
    saved = papers[0] if papers else None
    paper = {r["da"]: r for r in saved["records"]} if saved else {}
    n_train = min(args.images or len(data.train), len(data.train))
    summary = {"passes": args.passes, "seeds": args.seeds, "n_train": n_train,
               "paper_epochs": saved["epochs"] if saved else None,
               "paper_source": saved["source"] if saved else None, "paper_seconds": saved["seconds"] if saved else None,
               "other_papers": [_paper_rows(other, targets) for other in papers[1:]],
               "machine": f"{platform.machine()}, {args.threads} torch threads, torch {torch.__version__}",
               "rows": {da: summarise(targets[da], runs[da], paper.get(da), n_train) for da in DAS},
               "runs": runs}
    if previous:
        summary.update({k: previous[k] for k in ("passes", "seeds", "machine")}, seconds=previous["seconds"])
    else:
        summary["seconds"] = seconds
    publish(args.json, summary, render(summary), args.docs, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
