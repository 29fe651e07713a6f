"""``tune``: race the strengths of DAs (a grid of candidates) on a teacher and keep the lowest T. stddev.

Every candidate is scored on the same images and base views by the fast protocol's
:class:`~dastat.scoring.engine.Engine`, and all use the same random stream (the first
candidate's: for DAs of one family, the same partners, boxes and uniforms behind λ),
so their differences are measured far more precisely than their values. The racing rule
(:class:`~dastat.scoring.race.Race`) decides at each look which candidates stop.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, Sequence

from ..augment.spec import MAX_CANDIDATES, expand_grid
from ..errors import UserError
from ..io import json_safe
from .config import ScoreConfig
from .engine import Engine
from .inputs import build_das, resolve_inputs
from .protocols import FastProtocol, budget_blocks
from .race import ALPHA, FIRST_LOOK, STATUSES, TOLERANCE, PairedDifferences, Race, look_schedule
from .race_report import budget_to_decide, grid_edges, race_budget


def race_looks(config: ScoreConfig, das: Sequence, num_classes: int) -> list[int]:
    """The looks of a race of ``das``: they race on common blocks, as many as the costliest one's budget allows."""
    draws = [FastProtocol(config).units(aug, num_classes).draws for aug in das]
    return look_schedule(min(budget_blocks(config, d) for d in draws))


class RaceProtocol(FastProtocol):
    """The fast protocol's units and stream; DAs stop when the race drops them or is over."""

    name = "race"

    def __init__(self, config: ScoreConfig, race: Race):
        super().__init__(config)
        self.race = race

    def total_blocks(self, n_train: int) -> int:
        return self.race.looks[-1]

    def after_block(self, collectors: Sequence, n_blocks: int, world_size: int) -> None:
        for c in collectors:  # no candidate uses a block past the last look, whatever the process count
            c.stop_index = self.race.looks[-1]
        if not self.race.due(n_blocks * world_size):
            return
        live = [c for c in collectors if not c.done]
        dropped = self.race.look({c.aug.spec: c.tstd.synced() for c in live}, n_blocks * world_size)
        for c in live:
            c.done = c.aug.spec in dropped or self.race.stopped is not None

    def settings(self) -> dict[str, Any]:
        bs = self.config.batch_size
        return {"max_images": self.config.max_images, "draws": self.config.draws, "alpha": self.race.alpha,
                "tolerance": self.race.tolerance, "margin": self.race.margin,
                "multiplicity": self.race.multiplicity, "tests_per_candidate": self.race.tests,
                "looks_images": [k * bs for k in self.race.looks]}


@dataclass
class TuneResult:
    """A race's outcome: one record per candidate (best first), the forwards it made, and what full
    scoring of every candidate to the budget would have made (``full_scoring_forward``)."""

    records: list[dict[str, Any]]
    total_forward: int
    full_scoring_forward: int
    settings: dict[str, Any]

    @property
    def best(self) -> str | None:
        """The best candidate; None when no candidate has a value (the budget was too small for any)."""
        return next((r["candidate"] for r in self.records if r["status"] == "best"), None)

    def to_records(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.records]

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.to_records())

    def to_json(self, **kwargs) -> str:
        return json.dumps({"results": self.to_records(), "total_forward": self.total_forward,
                           "full_scoring_forward": self.full_scoring_forward, "settings": self.settings},
                          **{"indent": 2, "allow_nan": False, **kwargs})

    def __repr__(self) -> str:  # a short table, not every record's dict
        from ..display import tune_text

        return tune_text(self)

    def _repr_html_(self) -> str:  # a notebook shows this table
        from ..display import tune_html

        return tune_html(self)


def race_plan(grids: str | Sequence[str], config: ScoreConfig | None = None, options: dict | None = None,
              alpha: float = ALPHA, tolerance: float = TOLERANCE) -> tuple[list[str], ScoreConfig]:
    """The candidates of the grids and the settings of a race; a UserError for anything no race can use."""
    if not 0 < alpha < 1:
        raise UserError(f"--alpha is an error rate between 0 and 1, not {alpha}")
    if not 0 <= tolerance < 1:
        raise UserError(f"--tolerance is a relative difference between 0 and 1 (0.01 = 1%), not {tolerance}")
    config = dataclasses.replace(config or ScoreConfig(), **(options or {})).validate()
    if config.protocol != "fast":
        raise UserError("tune races with the fast protocol; drop --protocol or set it to 'fast'")
    grids = [grids] if isinstance(grids, str) else list(grids)
    candidates = [spec for grid in grids for spec in expand_grid(grid)]
    if len(candidates) > MAX_CANDIDATES:
        raise UserError(f"the grids give {len(candidates)} candidates, over the limit of {MAX_CANDIDATES}; "
                        "tune fewer values at a time")
    if len(candidates) < 2:
        raise UserError("tune races at least two candidates; give alternatives such as 'cutmix(alpha=0.2|1)'")
    return candidates, config


def tune(grids: str | Sequence[str], teacher=None, data=None, *, alpha: float = ALPHA, tolerance: float = TOLERANCE,
         config: ScoreConfig | None = None, **options) -> TuneResult:
    """Race the candidates of one or more grids (``"cutmix(alpha=0.2|0.5|1)"``) on a teacher; see the module doc.

    ``options`` override fields of ``config`` (``max_images``, ``batch_size``, ``seed``,
    ``device``, ``progress``); ``alpha`` bounds the probability of dropping a truly best
    candidate, ``tolerance`` is the relative T. stddev difference that counts as a tie.
    """
    candidates, config = race_plan(grids, config, options, alpha, tolerance)
    teacher, data, _, device = resolve_inputs(teacher, data, None, config.device, config.seed)
    das = build_das(candidates, data, teacher, None)
    race = Race([aug.spec for aug in das], race_looks(config, das, data.num_classes), alpha, tolerance)
    engine = Engine(teacher, data, das, None, config, device, protocol=RaceProtocol(config, race), common_draws=True)
    ranking = engine.run()
    records = [_record(r, race) for r in ranking]
    records.sort(key=lambda r: (STATUSES.index(r["status"]), r["t_stddev"] is None, r["t_stddev"] or 0))
    # Full scoring to the budget forwards the originals once and every candidate's views to its own budget.
    views = [(r.n_forward - r.n_images) // r.n_images for r in ranking]
    own = [budget_blocks(config, v) * config.batch_size for v in views]
    full = max(own) + sum(n * v for n, v in zip(own, views))
    best = next((r["candidate"] for r in records if r["status"] == "best"), None)
    settings = {**engine.protocol.settings(), "batch_size": config.batch_size, "seed": config.seed,
                "candidates": len(candidates), "stopped": race.stopped or _stopped_early(ranking),
                "images": max(r.n_images for r in ranking),
                "undecided": len(race.live) if race.stopped == "budget" else 0,
                "decide_max_images": _decide(race, engine, ranking, config),
                "edge": grid_edges(best, [grids] if isinstance(grids, str) else list(grids)) if best else [],
                "too_small_to_race": race_budget(race.looks, config.batch_size, _views_in_a_race(config, das, views,
                                                                                               data.num_classes),
                                                 FIRST_LOOK)}
    return TuneResult(records, ranking.total_forward, full, settings)


def _decide(race: Race, engine: Engine, ranking, config: ScoreConfig) -> int | None:
    """The ``--max-images`` that would decide a race the budget stopped with more than one live candidate."""
    if race.stopped != "budget" or len(race.live) < 2:
        return None
    diffs = PairedDifferences({c.aug.spec: c.tstd.synced() for c in engine.collectors if c.aug.spec in race.live})
    if len(diffs.sections) < 2:
        return None
    images = max(r.n_images for r in ranking if r.da in race.live)
    need = budget_to_decide(diffs, race.best, race.live, float(race.reference(len(diffs.sections)).isf(race.level)),
                            race.tolerance, images, race.margin)
    return None if need is None else int(math.ceil(need * config.max_images / images))


def _views_in_a_race(config: ScoreConfig, das: Sequence, views: Sequence[int], num_classes: int) -> list[int]:
    """Each candidate's forwards per original in a race long enough to look twice: a budget too small for a
    split estimate scores a batch-random DA with one draw, a longer one with ``draws``."""
    large = FastProtocol(dataclasses.replace(config, max_images=10 ** 9))
    return [max(v, large.units(aug, num_classes).draws) for aug, v in zip(das, views)]


def _record(r, race: Race) -> dict[str, Any]:
    """One candidate's row; one without a T. stddev is "no value", neither best nor tied nor ranked."""
    status = race.status(r.da) if r.t_stddev is not None and math.isfinite(r.t_stddev) else "no value"
    return {"candidate": r.da, "t_stddev": json_safe(r.t_stddev), "t_stddev_ci": json_safe(r.t_stddev_ci),
            "status": status, "eliminated_after": r.n_images if status == "eliminated" else None,
            "n_forward": r.n_forward}


def _stopped_early(ranking) -> str | None:
    """Why a race that never looked stopped: a degenerate teacher (see :mod:`.degenerate`)."""
    reason = ranking[0].extra.get("degenerate_teacher") if len(ranking) else None
    return f"degenerate teacher ({reason} outputs)" if reason else None
