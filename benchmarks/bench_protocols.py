"""Fast protocol against the paper protocol: teacher forwards, agreement, and the docs table.

Ranks the paper's nine DAs on the bundled teacher twice — with the fast protocol
(default budget) and with the paper protocol for ``--paper-epochs`` passes over the
full training split — and prints, side by side:

* the teacher forwards the fast ranking made, against what the paper protocol's
  10 epochs need when run as the paper's code does (both views forwarded; a pool of
  two CutMix views for CutMixPick), target ≥ 20× fewer;
* per DA, both estimates with their 95% intervals and whether the fast estimate lies
  inside the paper protocol's interval;
* Kendall's τ between the two rankings, and for every pair they order differently,
  whether the paper protocol itself can separate that pair (paired test, p < 0.05).

    python benchmarks/bench_protocols.py --paper-epochs 1 --docs docs/protocols.md
    python benchmarks/bench_protocols.py --docs-only     # rewrite the docs from the saved results

The numbers in docs/protocols.md live between the marker comments below and are
written only from ``benchmarks/results/protocols.json`` (``render``), so the page
cannot drift from the saved results; a test checks that.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import time
from pathlib import Path

import torch
from scipy import stats

import dastat
from dastat.data import load_data
from dastat.io import atomic_write_text
from dastat.scoring import DEFAULT_MAX_IMAGES

PAPER_EPOCHS_REFERENCE = 10
BEGIN, END = "<!-- bench_protocols: begin -->", "<!-- bench_protocols: end -->"


def paper_code_forwards(da: str, n_train: int, epochs: int) -> int:
    """Teacher forwards of the paper's code: originals + views, or originals + a pool of two for CutMixPick."""
    per_image = 3 if da.startswith("cutmix_pick") else 2
    return epochs * n_train * per_image


def render(summary: dict) -> str:
    """The Markdown table and findings of docs/protocols.md, from a saved summary."""
    epochs = summary["paper_epochs_run"]
    lines = [f"| DA | paper protocol, {epochs} epoch (95% CI) | fast (95% CI) | fast inside? "
             "| fast forwards (alone) | unit |",
             "|---|---|---|---|---|---|"]
    for r in summary["rows"]:
        lines.append(f"| {r['da']} | {r['paper']:.5f} [{r['paper_ci'][0]:.5f}, {r['paper_ci'][1]:.5f}] | "
                     f"{r['fast']:.5f} [{r['fast_ci'][0]:.5f}, {r['fast_ci'][1]:.5f}] | "
                     f"{'yes' if r['inside'] else '**no**'} | {r['fast_forwards']:,} | {r['fast_unit']} |")
    inside = sum(r["inside"] for r in summary["rows"])
    lines += ["", f"- **Agreement:** the fast estimate lies inside the paper protocol's 95% interval for "
              f"**{inside}/{len(summary['rows'])}** DAs. Kendall's τ between the two rankings is "
              f"**{summary['kendall_tau']:.3f}** (p = {summary['kendall_p']:.2g})."]
    for d in summary["disagreements"]:
        verdict = "it separates them" if d["paper_separates"] else "it cannot separate them either"
        lines.append(f"- {d['pair'][0]} vs {d['pair'][1]} are ordered differently: paired p = {d['paper_p']:.2f} "
                     f"in the paper-protocol run — {verdict}.")
    lines.append(f"- **Cost:** the fast ranking made **{summary['fast_total_forwards']:,}** teacher forwards; the "
                 f"paper protocol's {PAPER_EPOCHS_REFERENCE} epochs, run as the paper's code runs them (both views "
                 f"forwarded, a pool of two CutMix views for CutMixPick), need "
                 f"**{summary['paper_10_epoch_forwards']:,}**: **{summary['forward_ratio']:.1f}× fewer**. The "
                 f"{epochs}-epoch paper run here made {summary['paper_total_forwards_run']:,} forwards in "
                 f"{summary['paper_seconds']:.0f} s.")
    if summary.get("paper_grouping", "5 batches") != "5 batches":
        lines.append(f"- The paper-protocol column was measured when groups were cut every "
                     f"{summary['paper_grouping']} rather than as 5 whole batches; rerun this benchmark to refresh it.")
    return "\n".join(lines)


def write_docs(path: str, summary: dict) -> None:
    """Replace the text between the markers of ``path`` with :func:`render` of ``summary``."""
    text = Path(path).read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    atomic_write_text(path, f"{head}{BEGIN}\n{render(summary)}\n{END}{tail}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--paper-epochs", type=int, default=1)
    p.add_argument("--max-images", type=int, default=DEFAULT_MAX_IMAGES)
    p.add_argument("--student", default="resnet8")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default="benchmarks/results/protocols.json")
    p.add_argument("--docs", default=None, help="also write the numbers into this Markdown file (between the markers)")
    p.add_argument("--docs-only", action="store_true", help="only rewrite docs/protocols.md from the saved --json")
    args = p.parse_args(argv)
    if args.docs_only:
        write_docs(args.docs or "docs/protocols.md", json.loads(Path(args.json).read_text()))
        return 0
    torch.set_num_threads(args.threads)
    data = load_data()
    teacher = dastat.load_teacher(None, data=data)

    start = time.perf_counter()
    fast = dastat.rank(None, teacher, data, student=args.student, max_images=args.max_images, seed=args.seed,
                       progress=True)
    fast_seconds = time.perf_counter() - start
    start = time.perf_counter()
    paper = dastat.rank(None, teacher, data, student=args.student, protocol="paper", epochs=args.paper_epochs,
                        seed=args.seed + 1, progress=True)
    paper_seconds = time.perf_counter() - start

    f = {r.da: r for r in fast}
    q = {r.da: r for r in paper}
    das = [r.da for r in paper]
    rows = []
    for da in das:
        lo, hi = q[da].t_stddev_ci
        rows.append({
            "da": da, "paper": q[da].t_stddev, "paper_ci": [lo, hi], "fast": f[da].t_stddev,
            "fast_ci": list(f[da].t_stddev_ci), "inside": bool(lo <= f[da].t_stddev <= hi),
            "fast_forwards": f[da].n_forward, "fast_unit": f[da].unit,
        })
    tau, tau_p = stats.kendalltau([f[d].t_stddev for d in das], [q[d].t_stddev for d in das])
    disagreements = []
    for a, b in itertools.combinations(das, 2):
        if (f[a].t_stddev - f[b].t_stddev) * (q[a].t_stddev - q[b].t_stddev) < 0:
            test = paper.compare(a, b)
            disagreements.append({"pair": [a, b], "paper_p": test.p_value, "paper_separates": test.p_value < 0.05})
    reference = sum(paper_code_forwards(d, len(data.train), PAPER_EPOCHS_REFERENCE) for d in das)
    summary = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "fast_total_forwards": fast.total_forward, "fast_seconds": round(fast_seconds, 1),
        "paper_epochs_run": args.paper_epochs, "paper_total_forwards_run": paper.total_forward,
        "paper_seconds": round(paper_seconds, 1),
        "paper_10_epoch_forwards": reference, "forward_ratio": reference / fast.total_forward,
        "paper_grouping": "5 batches", "kendall_tau": tau, "kendall_p": tau_p, "all_inside": all(r["inside"] for r in rows),
        "disagreements": disagreements, "rows": rows,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.json, json.dumps(summary, indent=2) + "\n")
    stem = Path(args.json).with_suffix("")
    atomic_write_text(f"{stem}_fast_ranking.json", fast.to_json() + "\n")
    atomic_write_text(f"{stem}_paper_ranking.json", paper.to_json() + "\n")

    from dastat.report import format_table

    print("fast ranking (with the student-aware statistics):")
    print(format_table(fast))
    by_ce = stats.kendalltau([f[d].t_stddev for d in das], [f[d].extra["ce_cov"] for d in das])
    print(f"Kendall τ(T. stddev, ce_cov) over the nine DAs, fast run: {by_ce[0]:.3f} (p = {by_ce[1]:.2g})\n")

    print(render(summary))
    print(f"\nfast ranking: {fast.total_forward:,} teacher forwards in {fast_seconds:.0f} s; "
          f"paper protocol, {PAPER_EPOCHS_REFERENCE} epochs as the paper's code runs it: {reference:,} "
          f"→ {reference / fast.total_forward:.1f}× fewer (target ≥ 20×)")
    print(f"paper protocol run here: {args.paper_epochs} epoch(s), {paper.total_forward:,} forwards, "
          f"{paper_seconds:.0f} s")
    print(f"Kendall τ(fast, paper) = {tau:.3f} (p = {tau_p:.2g}); fast inside the paper interval for "
          f"{sum(r['inside'] for r in rows)}/{len(rows)} DAs")
    for d in disagreements:
        verdict = "the paper protocol separates them" if d["paper_separates"] else "the paper protocol cannot separate them"
        print(f"  ordered differently: {d['pair'][0]} vs {d['pair'][1]} — paired p = {d['paper_p']:.3g}: {verdict}")
    if args.docs:
        write_docs(args.docs, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
