"""Fast protocol against the paper protocol, and the split estimate against one draw per batch.

Ranks the paper's nine DAs on the bundled teacher with the fast protocol (default budget,
the split estimate for the batch-random DAs), again with one draw per batch (the block
estimate), and with the paper protocol for ``--paper-epochs`` passes over the full
training split (or reuses a saved paper run, ``--paper-from``), and prints side by side:

* the teacher forwards the fast ranking made, against what the paper protocol's
  10 epochs need when run as the paper's code does (both views forwarded; a pool of
  two CutMix views for CutMixPick), target ≥ 20× fewer;
* per DA, both estimates with their 95% intervals and whether the fast estimate lies
  inside the paper protocol's interval;
* Kendall's τ between the two rankings, and for every pair they order differently,
  whether the paper protocol itself can separate that pair (paired test, p < 0.05);
* for mixup, cutmix, cutout and autoaugment, the forwards the block and the split
  estimates need for the same interval width (both run to the same budget), and how
  many adjacent pairs each ranking tells apart from how many forwards.

    python benchmarks/bench_protocols.py --paper-epochs 3 --docs docs/protocols.md
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
from types import SimpleNamespace

import torch
from scipy import stats

import dastat
import dastat.scoring
from dastat.data import load_data
from dastat.io import atomic_write_text
from dastat.scoring import DEFAULT_MAX_IMAGES, Ranking

BATCH_RANDOM = ("mixup", "cutmix", "cutout", "autoaugment")
WIDTH = 0.01  # the relative half-width at which the estimators' forwards are compared

PAPER_EPOCHS_REFERENCE = 10
BEGIN, END = "<!-- bench_protocols: begin -->", "<!-- bench_protocols: end -->"


def paper_code_forwards(da: str, n_train: int, epochs: int) -> int:
    """Teacher forwards of the paper's code: originals + views, or originals + a pool of two for CutMixPick."""
    per_image = 3 if da.startswith("cutmix_pick") else 2
    return epochs * n_train * per_image


def render(summary: dict) -> str:
    """The Markdown table and findings of docs/protocols.md, from a saved summary."""
    epochs = summary["paper_epochs_run"]
    lines = [f"| DA | paper protocol, {epochs} epoch{'s' * (epochs != 1)} (95% CI) | fast (95% CI) | fast inside? "
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
    lines += _render_estimators(summary)
    if summary.get("paper_grouping", "5 batches") != "5 batches":
        lines.append(f"- The paper-protocol column was measured when groups were cut every "
                     f"{summary['paper_grouping']} rather than as 5 whole batches; rerun this benchmark to refresh it.")
    return "\n".join(lines)


def _render_estimators(summary: dict) -> list[str]:
    width = 100 * summary["width"]
    lines = ["", f"Forwards each estimator needs for a 95% interval of ±{width:g}% (from runs of both to the same "
             "budget; half-width ∝ 1/√forwards):", "",
             "| DA | block (1 draw per batch): forwards, ± | split (4 draws per batch): forwards, ± "
             f"| to ±{width:g}%: block | to ±{width:g}%: split | fewer |", "|---|---|---|---|---|---|"]
    for r in summary["estimators"]:
        lines.append(f"| {r['da']} | {r['block_forwards']:,}, ±{100 * r['block_rhw']:.2f}% | {r['split_forwards']:,}, "
                     f"±{100 * r['split_rhw']:.2f}% | {r['block_to_width']:,.0f} | {r['split_to_width']:,.0f} | "
                     f"**{r['ratio']:.1f}×** |")
    n = summary["neighbours"]
    lines += ["", f"- **Neighbours told apart** (paired test, Holm-corrected, in the ranking of the nine): "
              f"**{n['split']}** of 8 adjacent pairs with the split estimate from {n['split_forwards']:,} forwards; "
              f"{n['block']} of 8 with one draw per batch from {n['block_forwards']:,} forwards."]
    return lines


def write_docs(path: str, summary: dict) -> None:
    """Replace the text between the markers of ``path`` with :func:`render` of ``summary``."""
    text = Path(path).read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    atomic_write_text(path, f"{head}{BEGIN}\n{render(summary)}\n{END}{tail}")


def _rank(args, teacher, data, **options):
    start = time.perf_counter()
    ranking = dastat.rank(None, teacher, data, student=args.student, seed=args.seed, progress=True, **options)
    return ranking, time.perf_counter() - start


def _saved_paper(path: str):
    """A paper-protocol ranking saved by an earlier run (records, paired values, forwards, seconds)."""
    saved = json.loads(Path(path).read_text())
    results = [SimpleNamespace(**r) for r in saved["records"]]
    return Ranking(results, saved["total_forward"], saved["seconds"], saved["sections"])


def _to_width(r, width: float) -> float:
    """Forwards this DA would need for a relative half-width of ``width`` (half-width ∝ 1/√forwards)."""
    return r.n_forward * (r.relative_half_width / width) ** 2


def _estimators(one_draw, split, das: tuple[str, ...], width: float) -> list[dict]:
    """Per DA, the forwards today's block estimate and the split estimate need for the same interval width."""
    a, b = {r.da: r for r in one_draw}, {r.da: r for r in split}
    rows = []
    for da in das:
        old, new = _to_width(a[da], width), _to_width(b[da], width)
        rows.append({"da": da, "block_forwards": a[da].n_forward, "block_rhw": a[da].relative_half_width,
                     "split_forwards": b[da].n_forward, "split_rhw": b[da].relative_half_width,
                     "block_to_width": old, "split_to_width": new, "ratio": old / new})
    return rows


def _neighbours(ranking) -> int:
    return sum(bool(r.extra.get("distinct_from_next")) for r in ranking)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--paper-epochs", type=int, default=3)
    p.add_argument("--paper-from", help="reuse the paper-protocol ranking saved by an earlier run (its JSON)")
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

    fast, fast_seconds = _rank(args, teacher, data, max_images=args.max_images)
    one_draw, _ = _rank(args, teacher, data, max_images=args.max_images, draws=1)
    # Both estimators run to the same budget, so that their widths compare on equal forwards.
    full = dict(max_images=args.max_images, precision=1e-9, seed=args.seed)
    block_run = dastat.scoring.measure(list(BATCH_RANDOM), teacher, data, draws=1, **full)
    split_run = dastat.scoring.measure(list(BATCH_RANDOM), teacher, data, **full)
    if args.paper_from:
        paper = _saved_paper(args.paper_from)
        paper_epochs, paper_seconds = json.loads(Path(args.paper_from).read_text())["epochs"], paper.seconds
    else:
        paper, paper_seconds = _rank(args, teacher, data, protocol="paper", epochs=args.paper_epochs)
        paper_epochs = args.paper_epochs
    summary = _summary(fast, fast_seconds, one_draw, paper, paper_epochs, paper_seconds,
                       _estimators(block_run, split_run, BATCH_RANDOM, WIDTH), len(data.train))
    _save(args, summary, fast, paper, paper_epochs)
    _print(summary, fast, args.docs)
    return 0


def _summary(fast, fast_seconds, one_draw, paper, paper_epochs, paper_seconds, estimators, n_train) -> dict:
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
            test = paper.compare(a, b, "t_stddev")
            disagreements.append({"pair": [a, b], "paper_p": test.p_value, "paper_separates": test.p_value < 0.05})
    reference = sum(paper_code_forwards(d, n_train, PAPER_EPOCHS_REFERENCE) for d in das)
    return {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "fast_total_forwards": fast.total_forward, "fast_seconds": round(fast_seconds, 1),
        "paper_epochs_run": paper_epochs, "paper_total_forwards_run": paper.total_forward,
        "paper_seconds": round(paper_seconds, 1),
        "paper_10_epoch_forwards": reference, "forward_ratio": reference / fast.total_forward,
        "paper_grouping": "5 batches", "kendall_tau": tau, "kendall_p": tau_p, "all_inside": all(r["inside"] for r in rows),
        "disagreements": disagreements, "rows": rows, "estimators": estimators, "width": WIDTH,
        "neighbours": {"split": _neighbours(fast), "split_forwards": fast.total_forward,
                       "block": _neighbours(one_draw), "block_forwards": one_draw.total_forward},
    }


def _save(args, summary: dict, fast, paper, paper_epochs: int) -> None:
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.json, json.dumps(summary, indent=2) + "\n")
    stem = Path(args.json).with_suffix("")
    atomic_write_text(f"{stem}_fast_ranking.json", fast.to_json() + "\n")
    if not args.paper_from:
        saved = {"epochs": paper_epochs, "total_forward": paper.total_forward, "seconds": paper.seconds,
                 "records": paper.to_records(), "sections": paper.sections}
        atomic_write_text(f"{stem}_paper_ranking.json", json.dumps(saved, allow_nan=False) + "\n")


def _print(summary: dict, fast, docs: str | None) -> None:
    from dastat.report import format_table

    print("fast ranking (with the student-aware statistics):")
    print(format_table(fast))
    print(render(summary))
    if docs:
        write_docs(docs, summary)


if __name__ == "__main__":
    sys.exit(main())
