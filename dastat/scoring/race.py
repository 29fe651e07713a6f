"""``tune``: race the strengths of DAs (a grid of candidates) and keep the ones with the lowest T. stddev.

Every candidate is scored on the same images and base views by the fast protocol's
:class:`~dastat.scoring.engine.Engine`, and all use the same random stream (the first
candidate's: for DAs of one family, the same partners, boxes and uniforms behind λ),
so their differences are measured far more precisely than their values. At a fixed
schedule of looks (16, 24, 36, 54, … blocks, growing by half, and the budget) every
live candidate ``j`` is compared with every live candidate ``i`` of lower T. stddev by
the one-sided paired delete-one-section jackknife t-test on ``T_j / T_i - 1`` at the
per-test level ``alpha / (K m (m - 1))`` (``K`` looks, ``m`` candidates); ``j`` is
dropped, and spends no more forwards, once one test says it is worse. The race stops
when one candidate is left, when the upper confidence bound of every live one's
relative difference to the best is below ``tolerance`` (they are tied), when no live
pair is expected to separate by the budget, or at the budget. Dropping a candidate
whose T. stddev is the lowest needs one of the ``K m (m - 1)`` one-sided tests of a
true null to reject, so by the union bound it happens with probability at most
``alpha``, whatever the dependence between looks (docs/tuning.md).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from ..augment.spec import expand_grid
from ..errors import UserError
from ..io import json_safe
from ..stats import Statistic, jackknife
from .config import ScoreConfig
from .engine import Engine
from .inputs import build_das, resolve_inputs
from .protocols import FastProtocol, budget_blocks

ALPHA = 0.05
TOLERANCE = 0.01
#: The first look comes after this many blocks (a jackknife t-test on fewer sections has too few degrees
#: of freedom to drop anything at the per-test level), and each later one after half as many again.
FIRST_LOOK, LOOK_GROWTH = 16, 1.5
STATUSES = ("best", "tied", "eliminated")


def look_schedule(total_blocks: int, first: int = FIRST_LOOK, growth: float = LOOK_GROWTH) -> list[int]:
    """The blocks after which the race looks: ``first``, growing by ``growth``, and the budget.

    >>> look_schedule(204), look_schedule(64), look_schedule(12)
    ([16, 24, 36, 54, 81, 121, 181, 204], [16, 24, 36, 54, 64], [12])
    """
    looks, k = [], first
    while k < total_blocks:
        looks.append(k)
        k = max(k + 1, int(k * growth))  # at least one block on, whatever first and growth are
    return looks + [total_blocks]


@dataclass
class Look:
    """One look: the current best, the candidates it drops, whether the rest are tied with the best
    (within the tolerance), and whether none of them is expected to be told from it by the budget."""

    best: str
    eliminated: list[str]
    tied: bool
    settled: bool


def t_critical(level: float, sections: int) -> float:
    """The one-sided critical value of the jackknife t-test on ``sections`` sections."""
    from scipy import stats as st

    return float(st.t.ppf(1 - level, sections - 1)) if sections > 1 else math.inf


def race_look(stats: Mapping[str, Statistic], level: float, tolerance: float, shrink: float = 1.0,
              critical: Callable[[float, int], float] = t_critical) -> Look:
    """One look over the live candidates' statistics (``value(exclude)``, ``sections()``, common sections).

    ``j`` is dropped when, for some candidate ``i`` of lower value, the one-sided paired
    jackknife t-test at ``level`` says ``T_j / T_i - 1 > 0``; the rest are tied when the
    upper bound of each one's relative difference to the best is below ``tolerance``; they are
    settled when no pair would be told apart even if its standard error shrank by ``shrink``
    (sqrt(blocks now / blocks at the budget)) and its difference stayed as it is.
    """
    values = {name: s.value() for name, s in stats.items()}
    order = sorted(values, key=lambda n: (not math.isfinite(values[n]), values[n]))
    sections = sorted(set().union(*(s.sections() for s in stats.values())))
    loo = {name: dict(zip(sections, (s.value(j) for j in sections))) for name, s in stats.items()}
    q = critical(level, len(sections))
    pick = lambda n, j: values[n] if j is None else loo[n][j]  # noqa: E731

    def bounds(j: str, i: str, shrink: float = 1.0) -> tuple[float, float]:
        r, se = jackknife(lambda k: pick(j, k) / pick(i, k) - 1, sections)
        return r - q * se * shrink, r + q * se * shrink

    eliminated = [j for n, j in enumerate(order) if any(bounds(j, i)[0] > 0 for i in order[:n])]
    live = [j for j in order if j not in eliminated]
    return Look(order[0], eliminated, all(bounds(j, order[0])[1] < tolerance for j in live[1:]),
                all(bounds(j, i, shrink)[0] <= 0 for n, j in enumerate(live) for i in live[:n]))


class Race:
    """The racing rule over a fixed schedule of looks (in blocks); pure bookkeeping, no models.

    ``critical(level, sections)`` is the tests' critical value (the jackknife t-test's by default);
    ``level`` replaces the per-test level ``alpha / (K m (m - 1))`` (to study looser rules).
    """

    def __init__(self, candidates: Sequence[str], looks: Sequence[int], alpha: float = ALPHA,
                 tolerance: float = TOLERANCE, critical: Callable[[float, int], float] = t_critical,
                 level: float | None = None):
        self.looks, self.alpha, self.tolerance, self.critical = list(looks), alpha, tolerance, critical
        m = len(candidates)
        self.level = alpha / (len(self.looks) * max(m * (m - 1), 1)) if level is None else level
        self.live, self.best, self.stopped, self._next = list(candidates), None, None, 0

    def due(self, blocks: int) -> bool:
        return self.stopped is None and self._next < len(self.looks) and blocks >= self.looks[self._next]

    def look(self, stats: Mapping[str, Statistic], blocks: int) -> list[str]:
        """Look at the live candidates' statistics after ``blocks`` blocks; the names dropped now."""
        while self._next < len(self.looks) and self.looks[self._next] <= blocks:
            self._next += 1
        shrink = math.sqrt(min(blocks, self.looks[-1]) / self.looks[-1])
        result = race_look({n: stats[n] for n in self.live}, self.level, self.tolerance, shrink, self.critical)
        self.live = [n for n in self.live if n not in result.eliminated]
        self.best = result.best
        if len(self.live) == 1:
            self.stopped = "one left"
        elif result.tied:
            self.stopped = f"all tied within {self.tolerance:g}"
        elif self._next == len(self.looks):
            self.stopped = "budget"
        elif result.settled:
            self.stopped = "none separable by the budget"
        return result.eliminated

    def status(self, name: str) -> str:
        return "best" if name == self.best else "tied" if name in self.live else "eliminated"


class RaceProtocol(FastProtocol):
    """The fast protocol's units and stream; DAs stop when the race drops them or is over."""

    name = "race"

    def __init__(self, config: ScoreConfig, race: Race):
        super().__init__(config)
        self.race = race

    def total_blocks(self, n_train: int) -> int:
        return self.race.looks[-1]

    def after_block(self, collectors: Sequence, n_blocks: int, world_size: int) -> None:
        if not self.race.due(n_blocks * world_size):
            return
        live = [c for c in collectors if not c.done]
        dropped = self.race.look({c.aug.spec: c.tstd.synced() for c in live}, n_blocks * world_size)
        for c in live:
            c.done = c.aug.spec in dropped or self.race.stopped is not None

    def settings(self) -> dict[str, Any]:
        bs = self.config.batch_size
        return {"max_images": self.config.max_images, "draws": self.config.draws, "alpha": self.race.alpha,
                "tolerance": self.race.tolerance,
                "per_test_level": self.race.level, "looks_images": [k * bs for k in self.race.looks]}


@dataclass
class TuneResult:
    """A race's outcome: one record per candidate (best first), the forwards it made, and what full
    scoring of every candidate to the budget would have made (``full_scoring_forward``)."""

    records: list[dict[str, Any]]
    total_forward: int
    full_scoring_forward: int
    settings: dict[str, Any]

    @property
    def best(self) -> str:
        return next(r["candidate"] for r in self.records if r["status"] == "best")

    def to_records(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.records]

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.to_records())

    def to_json(self, **kwargs) -> str:
        return json.dumps({"results": self.to_records(), "total_forward": self.total_forward,
                           "full_scoring_forward": self.full_scoring_forward, "settings": self.settings},
                          **{"indent": 2, "allow_nan": False, **kwargs})


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
    # The candidates race on common blocks, as many as the costliest one's budget allows.
    draws = [FastProtocol(config).units(aug, data.num_classes).draws for aug in das]
    race = Race([aug.spec for aug in das], look_schedule(min(budget_blocks(config, d) for d in draws)), alpha,
                tolerance)
    engine = Engine(teacher, data, das, None, config, device, protocol=RaceProtocol(config, race), common_draws=True)
    ranking = engine.run()
    records = [{"candidate": r.da, "t_stddev": json_safe(r.t_stddev), "t_stddev_ci": json_safe(r.t_stddev_ci),
                "status": race.status(r.da), "eliminated_after": None if race.status(r.da) != "eliminated"
                else r.n_images, "n_forward": r.n_forward} for r in ranking]
    records.sort(key=lambda r: (STATUSES.index(r["status"]), r["t_stddev"] is None, r["t_stddev"] or 0))
    # Full scoring to the budget forwards the originals once and every candidate's views to its own budget.
    views = [(r.n_forward - r.n_images) // r.n_images for r in ranking]
    own = [budget_blocks(config, v) * config.batch_size for v in views]
    full = max(own) + sum(n * v for n, v in zip(own, views))
    settings = {**engine.protocol.settings(), "batch_size": config.batch_size, "seed": config.seed,
                "candidates": len(candidates), "stopped": race.stopped,
                "images": max(r.n_images for r in ranking)}
    return TuneResult(records, ranking.total_forward, full, settings)
