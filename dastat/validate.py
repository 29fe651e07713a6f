"""Validate a ranking: score every DA, train students with each, and correlate.

``validate(out, das=..., student="resnet8", seeds=2, recipe="quick")`` writes, under
``out``:

* ``validate.json`` — the options of the sweep (a rerun must use the same ones);
* ``scores.json`` — the ranking of the DAs by T. stddev (with every statistic);
* ``runs/<da>/seed<k>/`` — one :func:`dastat.kd.train` run folder per (DA, seed);
* ``results.csv`` / ``results.json`` — one row per DA: its statistics with their
  intervals, and the students' final test loss and top-1 (mean and std over seeds).

A rerun with the same ``out`` skips the score and every (DA, seed) run already
finished, and resumes one that was interrupted, so a long sweep survives a stop.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .errors import UserError
from .io import atomic_write_text

#: Statistics copied from the scores into the results table (with their ``_ci``).
SCORE_COLUMNS = ("t_stddev", "teacher_entropy", "ce_cov", "ce_cov_t", "risk_var", "risk_var_t", "affinity",
                 "kl_view", "order_violation")


@dataclass
class ValidationResult:
    """The results table and the correlations of T. stddev with the students' test loss and top-1."""

    out: Path
    rows: list[dict[str, Any]]
    correlations: dict[str, Any]

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows)


def _slug(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", spec).strip("_") or "da"


def _sweep_config(**kwargs: Any) -> dict[str, Any]:
    return json.loads(json.dumps(kwargs, default=str))


def validate(
    out: str | Path,
    *,
    das: Sequence[str] | None = None,
    teacher: str | None = None,
    data: str | None = None,
    student: str = "resnet8",
    seeds: int = 2,
    recipe: str = "quick",
    train_options: dict[str, Any] | None = None,
    score_options: dict[str, Any] | None = None,
    device: str = "auto",
    progress: bool = True,
    log=print,
) -> ValidationResult:
    """Score ``das`` (default: the paper's nine), train ``seeds`` students per DA, correlate."""
    from . import scoring
    from .analysis import correlate
    from .kd import train

    if seeds < 1:
        raise UserError("--seeds must be at least 1")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    das = list(das) if das else scoring.default_das(student=True)
    train_options = {k: v for k, v in (train_options or {}).items() if v is not None}
    score_options = {k: v for k, v in (score_options or {}).items() if v is not None}
    config = _sweep_config(das=das, teacher=teacher, data=data, student=student, seeds=seeds, recipe=recipe,
                           train_options=train_options, score_options=score_options)
    config_path = out / "validate.json"
    if config_path.exists():
        stored = json.loads(config_path.read_text())
        if stored != config:
            changed = sorted(k for k in set(stored) | set(config) if stored.get(k) != config.get(k))
            raise UserError(f"{out} holds a validation with different options ({', '.join(changed)}); "
                            "rerun it with the same options or choose another --out")
    else:
        atomic_write_text(config_path, json.dumps(config, indent=2) + "\n")

    # 1. The scores (the student makes cutmix_pick_s and the ce_* statistics possible).
    scores_path = out / "scores.json"
    if scores_path.exists():
        scores = json.loads(scores_path.read_text())
        log(f"scores: reusing {scores_path}")
    else:
        ranking = scoring.rank(das, teacher, data, student=student, device=device, progress=progress,
                               **score_options)
        scores = ranking.to_records()
        atomic_write_text(scores_path, json.dumps(scores, indent=2, default=str) + "\n")
        log(f"scores: {len(scores)} DAs ranked, written to {scores_path}")
    by_da = {r["da"]: r for r in scores}

    # 2. The students, one run folder per (DA, seed); finished runs are skipped.
    finals: dict[str, list[dict[str, Any]]] = {}
    for da in das:
        canonical = _canonical(da, by_da)
        for seed in range(seeds):
            run_dir = out / "runs" / _slug(canonical) / f"seed{seed}"
            if (run_dir / "student_final.pth").exists():
                log(f"train: {canonical} seed {seed} already finished")
            elif (run_dir / "checkpoint.pt").exists():
                log(f"train: resuming {canonical} seed {seed}")
                train(resume=run_dir, device=device, progress=progress)
            else:
                log(f"train: {canonical} seed {seed}")
                train(run_dir, teacher=teacher, data=data, da=da, recipe=recipe, student=student, seed=seed,
                      device=device, progress=progress, **train_options)
            rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
            finals.setdefault(canonical, []).append(rows[-1])

    # 3. The table and the correlations.
    table = []
    for canonical, runs in finals.items():
        score = by_da[canonical]
        row: dict[str, Any] = {"da": canonical}
        for name in SCORE_COLUMNS:
            row[name] = score.get(name)
            row[f"{name}_ci"] = score.get(f"{name}_ci")
        for key, column in (("test_loss", "test_loss"), ("test_top1", "test_acc")):
            values = [float(r[key]) for r in runs]
            row[column] = statistics.fmean(values)
            row[f"{column}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        row["n_seeds"] = len(runs)
        table.append(row)
    table.sort(key=lambda r: r["t_stddev"])
    correlations = {}
    if len(table) >= 3:
        x = [r["t_stddev"] for r in table]
        for target in ("test_loss", "test_acc"):
            try:
                correlations[target] = correlate(x, [r[target] for r in table]).to_dict()
            except UserError as exc:  # e.g. every student ended with the same loss
                correlations[target] = {"n": len(table), "error": str(exc)}
    _write_table(out, table, correlations)
    return ValidationResult(out, table, correlations)


def _canonical(spec: str, scores: dict[str, Any]) -> str:
    """The canonical spec the scorer recorded for a DA the user named."""
    if spec in scores:
        return spec
    from .augment import create
    from .augment.base import AugmentContext

    try:
        name = create(spec, AugmentContext()).spec
    except UserError:
        name = spec
    if name not in scores:
        raise UserError(f"the scores in this folder have no DA {spec!r}")
    return name


def _write_table(out: Path, table: list[dict[str, Any]], correlations: dict[str, Any]) -> None:
    import pandas as pd

    frame = pd.DataFrame(table)
    for column in [c for c in frame.columns if c.endswith("_ci")]:
        frame[f"{column}_low"] = [v[0] if isinstance(v, list) else math.nan for v in frame[column]]
        frame[f"{column}_high"] = [v[1] if isinstance(v, list) else math.nan for v in frame[column]]
        frame = frame.drop(columns=column)
    atomic_write_text(out / "results.csv", frame.to_csv(index=False))
    atomic_write_text(out / "results.json", json.dumps({"rows": table, "correlations": correlations},
                                                       indent=2, default=str) + "\n")


def format_correlations(correlations: dict[str, Any]) -> str:
    def num(value):
        return "nan" if value is None else f"{value:.3g}"

    lines = []
    for target, c in correlations.items():
        if "error" in c:
            lines.append(f"T. stddev vs {target}: no correlation ({c['error']})")
            continue
        lines.append(f"T. stddev vs {target} over {c['n']} DAs: Pearson {num(c['pearson'])} (p={num(c['pearson_p'])}), "
                     f"Spearman {num(c['spearman'])} (p={num(c['spearman_p'])}), "
                     f"Kendall {num(c['kendall'])} (p={num(c['kendall_p'])})")
    return "\n".join(lines)
