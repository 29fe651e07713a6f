"""Validate a ranking: score every DA, train students with each, and correlate.

``validate(out, das=..., student="resnet8", seeds=2, recipe="quick")`` writes, under
``out``:

* ``validate.json`` — the options of the sweep (a rerun must use the same ones) and
  their provenance;
* ``scores.json`` — the ranking of the DAs by T. stddev (with every statistic);
* ``runs/<da>/seed<k>/`` — one :func:`dastat.kd.train` run folder per (DA, seed);
* ``results.csv`` (with its provenance sidecar) / ``results.json`` — one row per DA: its
  statistics with their intervals, and the students' final test loss and top-1 (mean
  and std over seeds), and the correlations.

A rerun with the same ``out`` skips the score and every (DA, seed) run already
finished, and resumes one that was interrupted, so a long sweep survives a stop. A
folder that is not empty and holds no sweep is refused, so no user file is overwritten.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from .errors import UserError
from .io import atomic_write_text
from .kd.rundir import read_json
from .provenance import provenance, records_of, with_provenance, write_csv_sidecar
from .stats.columns import VALIDATED

KIND = "dastat validate"


@dataclass
class ValidationResult:
    """The results table and the correlations of T. stddev with the students' test loss and top-1."""

    out: Path
    rows: list[dict[str, Any]]
    correlations: dict[str, Any]
    provenance: dict[str, Any] | None = None

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows)

    def to_json(self) -> str:
        """What ``validate --json`` prints and ``results.json`` holds: dastat's one JSON shape, the table's rows
        as ``results`` beside the provenance, and the correlations."""
        return json.dumps(with_provenance(self.rows, self.provenance, correlations=self.correlations), indent=2,
                          default=str)


def _slug(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", spec).strip("_") or "da"


def _open_sweep(out: Path, options: dict[str, Any], record: dict[str, Any]) -> None:
    """Start the sweep in ``out`` or check that the one there has the same options; never take a user's folder."""
    config_path = out / "validate.json"
    if not config_path.exists():
        if out.is_dir() and any(out.iterdir()):
            raise UserError(f"{out} is not empty and holds no dastat validation; choose a new or empty --out")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create the folder {out}: {exc.strerror}") from None
        atomic_write_text(config_path, json.dumps({"kind": KIND, "options": options, "provenance": record},
                                                  indent=2) + "\n")
        return
    stored = read_json(config_path, f"delete {out} to start the sweep over, or choose another --out")
    if isinstance(stored, dict) and "kind" not in stored and "das" in stored:  # written before it had a kind
        stored = {"kind": KIND, "options": stored}
    if not isinstance(stored, dict) or stored.get("kind") != KIND or not isinstance(stored.get("options"), dict):
        raise UserError(f"{config_path} is not the record of a dastat validation; choose another --out")
    if stored["options"] != options:
        changed = sorted(k for k in set(stored["options"]) | set(options)
                         if stored["options"].get(k) != options.get(k))
        raise UserError(f"{out} holds a validation with different options ({', '.join(changed)}); "
                        "rerun it with the same options or choose another --out")


def _scores(out: Path, das: list[str], options: dict[str, Any], record: dict[str, Any], device: str,
            progress: bool, log: Callable) -> dict[str, dict[str, Any]]:
    """The DAs' scores by canonical spec: read from ``scores.json``, or computed and written there."""
    from . import scoring

    path = out / "scores.json"
    if path.exists():
        # Any shape dastat wrote: {"provenance", "results"}, or the older bare list and {"scores": ...}.
        stored = records_of(read_json(path, "delete it to score the DAs again"))
        if stored is None or not all(isinstance(r, dict) and "da" in r for r in stored):
            raise UserError(f"{path} is not a dastat scores file; delete it to score the DAs again")
        log(f"scores: reusing {path}")
        return {r["da"]: r for r in stored}
    ranking = scoring.rank(das, options["teacher"], options["data"], student=options["student"], device=device,
                           progress=progress, **options["score_options"])
    scores = ranking.to_records()
    atomic_write_text(path, json.dumps(with_provenance(scores, record), indent=2, default=str) + "\n")
    log(f"scores: {len(scores)} DAs ranked, written to {path}")
    return {r["da"]: r for r in scores}


def _final_row(run_dir: Path) -> dict[str, Any]:
    """The last epoch's metrics of a finished run, or one sentence saying how to redo it."""
    path, redo = run_dir / "metrics.jsonl", f"delete {run_dir} to train that student again"
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line]
        row = json.loads(lines[-1])
        float(row["test_loss"]), float(row["test_top1"])
    except OSError:
        raise UserError(f"{path} is missing; {redo}") from None
    except (ValueError, IndexError, KeyError, TypeError):
        raise UserError(f"{path} is truncated or corrupt; {redo}") from None
    return row


def _train_students(out: Path, das: list[str], by_da: dict[str, Any], options: dict[str, Any], *, device: str,
                    progress: bool, workers: int | None, command: str | None,
                    log: Callable) -> dict[str, list[dict[str, Any]]]:
    """One run folder per (DA, seed); finished runs are skipped, stopped ones resumed."""
    from .kd import train

    finals: dict[str, list[dict[str, Any]]] = {}
    runtime = dict(device=device, progress=progress, workers=workers, command=command)
    for da in das:
        canonical = _canonical(da, by_da)
        for seed in range(options["seeds"]):
            run_dir = out / "runs" / _slug(canonical) / f"seed{seed}"
            if (run_dir / "student_final.pth").exists():
                log(f"train: {canonical} seed {seed} already finished")
            elif (run_dir / "checkpoint.pt").exists():
                log(f"train: resuming {canonical} seed {seed}")
                train(resume=run_dir, **runtime)
            else:
                log(f"train: {canonical} seed {seed}")
                train(run_dir, teacher=options["teacher"], data=options["data"], da=da, recipe=options["recipe"],
                      student=options["student"], seed=seed, **runtime, **options["train_options"])
            finals.setdefault(canonical, []).append(_final_row(run_dir))
    return finals


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
    workers: int | None = None,
    command: str | None = None,
    log=print,
) -> ValidationResult:
    """Score ``das`` (default: the paper's nine), train ``seeds`` students per DA, correlate.

    ``workers`` sets the decoding processes of data read from files (it does not change
    the numbers); ``command`` is recorded in the provenance (default: this process's).
    """
    from . import scoring

    if seeds < 1:
        raise UserError("--seeds must be at least 1")
    out = Path(out)
    das = list(das) if das else scoring.default_das(student=True)
    train_options = {k: v for k, v in (train_options or {}).items() if v is not None}
    score_options = {k: v for k, v in (score_options or {}).items() if v is not None}
    options = json.loads(json.dumps(dict(das=das, teacher=teacher, data=data, student=student, seeds=seeds,
                                         recipe=recipe, train_options=train_options, score_options=score_options),
                                    default=str))
    record = provenance(command=command, device=device, seed=None, batch_size=train_options.get("batch_size"),
                        protocol=score_options.get("protocol", "fast"), teacher=teacher, data=data or "fashion-mnist",
                        student=student, recipe=recipe, das=das, seeds=seeds)
    _open_sweep(out, options, record)
    by_da = _scores(out, das, options, record, device, progress, log)
    finals = _train_students(out, das, by_da, options, device=device, progress=progress, workers=workers,
                             command=command, log=log)
    table = _table(finals, by_da)
    correlations = _correlations(table)
    result = ValidationResult(out, table, correlations, record)
    _write_table(out, result)
    return result


def _table(finals: dict[str, list[dict[str, Any]]], by_da: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per DA: its statistics and the students' mean and std over seeds, by T. stddev."""
    table = []
    for canonical, runs in finals.items():
        score = by_da[canonical]
        row: dict[str, Any] = {"da": canonical}
        for name in VALIDATED:
            row[name] = score.get(name)
            row[f"{name}_ci"] = score.get(f"{name}_ci")
        for key, column in (("test_loss", "test_loss"), ("test_top1", "test_acc")):
            values = [float(r[key]) for r in runs]
            row[column] = statistics.fmean(values)
            row[f"{column}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        row["n_seeds"] = len(runs)
        table.append(row)
    # A DA whose T. stddev could not be estimated (too few images) goes last.
    return sorted(table, key=lambda r: (r["t_stddev"] is None, r["t_stddev"] or 0.0))


def _correlations(table: list[dict[str, Any]]) -> dict[str, Any]:
    from .analysis import correlate

    correlations = {}
    table = [r for r in table if r["t_stddev"] is not None]
    if len(table) >= 3:
        x = [r["t_stddev"] for r in table]
        for target in ("test_loss", "test_acc"):
            try:
                correlations[target] = correlate(x, [r[target] for r in table]).to_dict()
            except UserError as exc:  # e.g. every student ended with the same loss
                correlations[target] = {"n": len(table), "error": str(exc)}
    return correlations


def _canonical(spec: str, scores: dict[str, Any]) -> str:
    """The canonical spec the scorer recorded for a DA the user named."""
    if spec in scores:
        return spec
    from .augment import create

    try:
        name = create(spec).spec
    except UserError:
        name = spec
    if name not in scores:
        raise UserError(f"the scores in this folder have no DA {spec!r}")
    return name


def _write_table(out: Path, result: ValidationResult) -> None:
    frame = result.to_frame()
    for column in [c for c in frame.columns if c.endswith("_ci")]:
        frame[f"{column}_low"] = [v[0] if isinstance(v, list) else math.nan for v in frame[column]]
        frame[f"{column}_high"] = [v[1] if isinstance(v, list) else math.nan for v in frame[column]]
        frame = frame.drop(columns=column)
    atomic_write_text(out / "results.csv", frame.to_csv(index=False))
    write_csv_sidecar(out / "results.csv", result.provenance)
    atomic_write_text(out / "results.json", result.to_json() + "\n")


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
