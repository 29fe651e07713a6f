"""Fast protocol against the paper protocol, and the split estimate against one draw per batch.

Ranks the paper's nine DAs on the bundled teacher with the fast protocol (default budget,
the split estimate for the batch-random DAs), again with one draw per batch (the block
estimate), and with the paper protocol for ``--paper-epochs`` passes over the full
training split (or reuses a saved paper run, ``--paper-from``), and prints side by side:

* per DA, both estimates with their 95% intervals, and the paired check: each DA's ratio
  to identity, jackknifed over the sections the DA and identity share within each run
  (the two runs are independent), fast against paper, and whether their difference lies
  inside its combined 95% interval;
* the forwards at equal precision: what the fast protocol needs to make every DA at
  least as precise as the paper protocol's 10 epochs (its interval after
  ``--paper-epochs``, narrowed by √(epochs/10)), against what those 10 epochs need when
  run as the paper's code does (both views forwarded; a pool of two CutMix views for
  CutMixPick); and, labelled as such, the fast run's own forwards at its default stop;
* Kendall's τ between the two rankings, and for every pair they order differently,
  whether the paper protocol itself can separate that pair (paired test, p < 0.05);
* for mixup, cutmix, cutout and autoaugment, the forwards the block and the split
  estimates need for the same interval width (both run to the same budget), each ratio
  with its uncertainty (from single runs: the half-widths are themselves estimates), and
  how many adjacent pairs each ranking tells apart from how many forwards.

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
import math
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
from dastat.stats.accumulators import DEFAULT_SECTIONS, leave_one_out, ratio_jackknife, t_interval

sys.path.insert(0, str(Path(__file__).parent))
from doc_sections import write_section  # noqa: E402

BATCH_RANDOM = ("mixup", "cutmix", "cutout", "autoaugment")
WIDTH = 0.01  # the relative half-width at which the estimators' forwards are compared

PAPER_EPOCHS_REFERENCE = 10
BEGIN, END = "<!-- bench_protocols: begin -->", "<!-- bench_protocols: end -->"


def paper_code_forwards(da: str, n_train: int, epochs: int) -> int:
    """Teacher forwards of the paper's code: originals + views, or originals + a pool of two for CutMixPick."""
    per_image = 3 if da.startswith("cutmix_pick") else 2
    return epochs * n_train * per_image


def render(summary: dict) -> str:
    """The Markdown tables and findings of docs/protocols.md, from a saved summary."""
    epochs = summary["paper_epochs_run"]
    lines = [f"| DA | paper protocol, {epochs} epoch{'s' * (epochs != 1)} (95% CI) | fast (95% CI) "
             "| fast forwards (alone) | unit |",
             "|---|---|---|---|---|"]
    for r in summary["rows"]:
        lines.append(f"| {r['da']} | {r['paper']:.5f} [{r['paper_ci'][0]:.5f}, {r['paper_ci'][1]:.5f}] | "
                     f"{r['fast']:.5f} [{r['fast_ci'][0]:.5f}, {r['fast_ci'][1]:.5f}] | "
                     f"{r['fast_forwards']:,} | {r['fast_unit']} |")
    lines += _render_paired(summary)
    lines.append(f"- Kendall's τ between the two rankings is **{summary['kendall_tau']:.3f}** "
                 f"(p = {summary['kendall_p']:.2g}).")
    for d in summary["disagreements"]:
        verdict = "it separates them" if d["paper_separates"] else "it cannot separate them either"
        lines.append(f"- {d['pair'][0]} vs {d['pair'][1]} are ordered differently: paired p = {d['paper_p']:.2f} "
                     f"in the paper-protocol run — {verdict}.")
    lines += _render_cost(summary)
    lines += _render_estimators(summary)
    return "\n".join(lines)


def _pct(value: float) -> str:
    return f"{100 * value:+.2f}%"


def _render_paired(summary: dict) -> list[str]:
    lines = ["", "Paired check: each DA's T. stddev relative to identity's, jackknifed over the sections they share "
             "in one run (the two runs are independent, so their 95% intervals combine):", "",
             "| DA | fast: ratio to identity − 1 (95% CI) | paper (95% CI) | fast − paper (95% CI) | agree? |",
             "|---|---|---|---|---|"]
    for r in summary["paired"]:
        half = r["half_width"]
        lines.append(f"| {r['da']} | {_pct(r['fast_ratio'])} [{_pct(r['fast_ci'][0])}, {_pct(r['fast_ci'][1])}] | "
                     f"{_pct(r['paper_ratio'])} [{_pct(r['paper_ci'][0])}, {_pct(r['paper_ci'][1])}] | "
                     f"{_pct(r['difference'])} [{_pct(r['difference'] - half)}, {_pct(r['difference'] + half)}] | "
                     f"{'yes' if r['agree'] else '**no**'} |")
    agree = sum(r["agree"] for r in summary["paired"])
    lines += ["", f"- **Agreement:** fast and paper give the same ratio to identity, within the combined 95% interval, "
              f"for **{agree}/{len(summary['paired'])}** DAs."]
    return lines


def _render_cost(summary: dict) -> list[str]:
    eq, epochs = summary["equal_precision"], summary["paper_epochs_run"]
    wider = [r["da"] for r in eq["rows"] if r["fast_rhw"] > r["paper_10_rhw"]]
    return [
        f"- **Cost at equal precision:** to make every DA at least as precise as the paper protocol's "
        f"{PAPER_EPOCHS_REFERENCE} epochs (their {epochs}-epoch intervals narrowed by √({epochs}/"
        f"{PAPER_EPOCHS_REFERENCE}): ±{100 * min(r['paper_10_rhw'] for r in eq['rows']):.2f}% to "
        f"±{100 * max(r['paper_10_rhw'] for r in eq['rows']):.2f}%), the fast protocol needs about "
        f"**{eq['fast_forwards']:,.0f}** teacher forwards (its run's forwards for the DAs already that precise; "
        f"scaled by the squared ratio of widths for {', '.join(wider) or 'none'}); those {PAPER_EPOCHS_REFERENCE} "
        f"epochs, run as the paper's code runs them (both views forwarded, a pool of two CutMix views for "
        f"CutMixPick), need **{summary['paper_10_epoch_forwards']:,}**: **{eq['ratio']:.1f}× fewer** "
        f"(about ±{100 * eq['ratio_se_rel']:.0f}%: the widths are estimates from single runs).",
        f"- At its default stop (±1% or the budget) the fast ranking made {summary['fast_total_forwards']:,} forwards "
        f"({summary['forward_ratio']:.1f}× fewer than the paper's code), a count of cost rather than a saving at "
        f"equal precision: it leaves {', '.join(wider) or 'no DA'} less precise than {PAPER_EPOCHS_REFERENCE} paper "
        f"epochs. The {epochs}-epoch paper run here made {summary['paper_total_forwards_run']:,} forwards in "
        f"{summary['paper_seconds']:.0f} s.",
    ]


def _render_estimators(summary: dict) -> list[str]:
    width = 100 * summary["width"]
    lines = ["", f"Forwards each estimator needs for a 95% interval of ±{width:g}% (from runs of both to the same "
             "budget; half-width ∝ 1/√forwards):", "",
             "| DA | block (1 draw per batch): forwards, ± | split (4 draws per batch): forwards, ± "
             f"| to ±{width:g}%: block | to ±{width:g}%: split | split: fewer than block |", "|---|---|---|---|---|---|"]
    for r in summary["estimators"]:
        lines.append(f"| {r['da']} | {r['block_forwards']:,}, ±{100 * r['block_rhw']:.2f}% | {r['split_forwards']:,}, "
                     f"±{100 * r['split_rhw']:.2f}% | {r['block_to_width']:,.0f} | {r['split_to_width']:,.0f} | "
                     f"**{r['ratio']:.1f}×** ± {100 * r['ratio_se_rel']:.0f}% |")
    lines += ["", "- These ratios compare the fast protocol's two estimators with each other, not with the paper "
              "protocol; each comes from one run of each (its ± is the standard error of a ratio of two squared "
              "jackknife half-widths)."]
    n = summary["neighbours"]
    lines += ["", f"- **Neighbours told apart** (paired test, Holm-corrected, in the ranking of the nine): "
              f"**{n['split']}** of 8 adjacent pairs with the split estimate from {n['split_forwards']:,} forwards; "
              f"{n['block']} of 8 with one draw per batch from {n['block_forwards']:,} forwards."]
    return lines


def write_docs(path: str, summary: dict) -> None:
    """Replace the text between the markers of ``path`` with :func:`render` of ``summary``."""
    write_section(path, BEGIN, END, render(summary))


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
                     "block_to_width": old, "split_to_width": new, "ratio": old / new,
                     "ratio_se_rel": _squared_width_ratio_se(_df(a[da].n_units), _df(b[da].n_units))})
    return rows


def _df(n_units: int) -> int:
    """Degrees of freedom of a jackknife over the sections ``n_units`` units fill."""
    return min(n_units, DEFAULT_SECTIONS) - 1


def _squared_width_ratio_se(*dfs: int) -> float:
    """Relative standard error of a ratio of squared jackknife half-widths: each squared half-width is a
    variance estimate with relative standard error √(2/df)."""
    return math.sqrt(sum(2 / df for df in dfs))


def ratio_to_reference(ranking, da: str, reference: str = "identity") -> tuple[float, float, int]:
    """``da``'s T. stddev over ``reference``'s, less 1, its jackknife standard error and degrees of freedom,
    over the sections both were scored on in ``ranking`` (common images and base views)."""
    a, b = (ranking.sections[d]["t_stddev"] for d in (da, reference))
    sections = sorted(set(a["sections"]) & set(b["sections"]))
    num, den = (leave_one_out(lambda j, v=v: v["value"] if j is None else v["leave_one_out"][j], sections)
                for v in (a, b))
    ratio, se = ratio_jackknife(num, den, sections)
    return ratio, se, len(sections) - 1


def _paired(fast, paper, reference: str = "identity") -> list[dict]:
    """Per DA, the fast and the paper run's ratio to ``reference`` and whether they agree (Welch, 95%)."""
    rows = []
    for da in (r.da for r in paper if r.da != reference):
        f, f_se, f_df = ratio_to_reference(fast, da, reference)
        q, q_se, q_df = ratio_to_reference(paper, da, reference)
        se = math.hypot(f_se, q_se)
        df = se ** 4 / (f_se ** 4 / f_df + q_se ** 4 / q_df)
        half = float(stats.t.ppf(0.975, df) * se)
        rows.append({"da": da, "fast_ratio": f, "fast_ci": list(t_interval(f, f_se, f_df + 1)),
                     "paper_ratio": q, "paper_ci": list(t_interval(q, q_se, q_df + 1)),
                     "difference": f - q, "half_width": half, "df": df, "agree": abs(f - q) <= half})
    return rows


def _equal_precision(fast, paper, paper_epochs: int, n_train: int) -> dict:
    """Forwards for every DA at least as precise as the paper protocol's 10 epochs: the fast run's own
    forwards where it is already that precise, else scaled by the squared ratio of widths."""
    f, rows, var_rel = {r.da: r for r in fast}, [], 0.0
    for r in paper:
        target = r.relative_half_width * math.sqrt(paper_epochs / PAPER_EPOCHS_REFERENCE)
        mine = f[r.da]
        needed = float(mine.n_forward)
        if mine.relative_half_width > target:
            needed *= (mine.relative_half_width / target) ** 2
            var_rel += (needed * _squared_width_ratio_se(_df(mine.n_units), _df(r.n_units))) ** 2
        rows.append({"da": r.da, "paper_10_rhw": target, "fast_rhw": mine.relative_half_width,
                     "fast_forwards_run": mine.n_forward, "fast_forwards_needed": needed})
    total = sum(r["fast_forwards_needed"] for r in rows)
    reference = sum(paper_code_forwards(r.da, n_train, PAPER_EPOCHS_REFERENCE) for r in paper)
    return {"rows": rows, "fast_forwards": total, "ratio": reference / total,
            "ratio_se_rel": math.sqrt(var_rel) / total}


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
            "fast_ci": list(f[da].t_stddev_ci), "fast_forwards": f[da].n_forward, "fast_unit": f[da].unit,
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
        "kendall_tau": tau, "kendall_p": tau_p, "disagreements": disagreements, "rows": rows,
        "paired": _paired(fast, paper), "equal_precision": _equal_precision(fast, paper, paper_epochs, n_train), "estimators": estimators, "width": WIDTH,
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
