"""``tune``: race the strengths of DAs (a grid of candidates) and keep the ones with the lowest T. stddev.

Every candidate is scored on the same images and base views by the fast protocol's
:class:`~dastat.scoring.engine.Engine`, and all use the same random stream (the first
candidate's: for DAs of one family, the same partners, boxes and uniforms behind λ),
so their differences are measured far more precisely than their values. At a fixed
schedule of looks (64, 96, 144, … blocks, growing by half on multiples of the check
period, and the budget) every live candidate ``j`` is compared with every live candidate
``i`` of lower T. stddev by the one-sided paired delete-one-section jackknife t-test of
"``T_j / T_i - 1 > margin``" (an indifference zone of ``DROP_MARGIN`` = 4%). Each
candidate's hypothesis "``j`` is within the margin of the lowest T. stddev" gets the
smallest p-value of its tests so far times the ``K (m - 1)`` tests it could take (``K``
looks, ``m`` candidates; Bonferroni), and Holm's step-down procedure over the ``m``
hypotheses drops candidates, which then spend no more forwards. The race stops when one
candidate is left, when the upper confidence bound of every live one's relative
difference to the best is below ``tolerance`` (they are tied), when no live pair is
expected to separate by the budget, or at the budget. Were the t-test's p-values exact,
a candidate within the margin of the best would be dropped with probability at most
``alpha``; they are not when near-tied candidates' draw effects are differently skewed,
which is why the margin and the late first look are there: docs/calibration.md measures
the rate in those nulls (at most 2.8% at ``alpha`` = 5%), docs/tuning.md explains.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from ..augment.spec import MAX_CANDIDATES, expand_grid
from ..errors import UserError
from ..io import json_safe
from ..stats import Statistic, jackknife
from ..stats.compare import holm
from .config import ScoreConfig
from .engine import Engine
from .inputs import build_das, resolve_inputs
from .protocols import CHECK_EVERY, FastProtocol, budget_blocks
from .race_report import budget_to_decide, grid_edges, race_budget

ALPHA = 0.05
TOLERANCE = 0.01
#: A candidate is dropped only when its T. stddev is shown to exceed a lower one's by more than this (relative):
#: near-tied candidates whose draw effects are skewed differently are otherwise dropped far more often than
#: alpha says (docs/calibration.md measures it).
DROP_MARGIN = 0.04
#: The first look comes after this many blocks, and each later one after half as many again (rounded to the
#: check period). Earlier looks drop near-tied candidates whose draw effects are skewed far too often
#: (docs/calibration.md).
FIRST_LOOK, LOOK_GROWTH = 64, 1.5
STATUSES = ("best", "tied", "eliminated", "no value")


def look_schedule(total_blocks: int, first: int = FIRST_LOOK, growth: float = LOOK_GROWTH,
                  step: int = CHECK_EVERY) -> list[int]:
    """The blocks after which the race looks: ``first``, growing by ``growth``, and the budget.

    Looks fall on multiples of ``step`` blocks (the fast protocol's check period), so ``N``
    processes that divide it look after the same blocks as one process.

    >>> look_schedule(204), look_schedule(400), look_schedule(64), look_schedule(12)
    ([64, 96, 144, 204], [64, 96, 144, 208, 304, 400], [64], [12])
    """
    looks, k = [], first
    while k < total_blocks:
        looks.append(k)
        # at least one step on, whatever first and growth are
        k = max(k + step, int(k * growth) // step * step) if k % step == 0 else (k // step + 1) * step
    return looks + [total_blocks]


def race_looks(config: ScoreConfig, das: Sequence, num_classes: int) -> list[int]:
    """The looks of a race of ``das``: they race on common blocks, as many as the costliest one's budget allows."""
    draws = [FastProtocol(config).units(aug, num_classes).draws for aug in das]
    return look_schedule(min(budget_blocks(config, d) for d in draws))


@dataclass
class Look:
    """One look: the current best, the candidates it drops, whether the rest are tied with the best
    (within the tolerance), and whether none of them is expected to be told from it by the budget."""

    best: str
    eliminated: list[str]
    tied: bool
    settled: bool


def student_t(sections: int):
    """The reference distribution of the jackknife t statistic on ``sections`` sections."""
    from scipy import stats as st

    return st.t(sections - 1)


class PairedDifferences:
    """The relative differences ``T_j / T_i - 1`` of candidates' statistics, with delete-one-section jackknife
    standard errors over the sections they share; ``order`` lists the candidates by value, lowest first."""

    def __init__(self, stats: Mapping[str, Statistic]):
        self.values = {name: s.value() for name, s in stats.items()}
        self.order = sorted(self.values, key=lambda n: (not math.isfinite(self.values[n]), self.values[n]))
        self.sections = sorted(set().union(*(s.sections() for s in stats.values())))
        self._loo = {name: dict(zip(self.sections, (s.value(j) for j in self.sections))) for name, s in stats.items()}

    def __call__(self, j: str, i: str) -> tuple[float, float]:
        """``(T_j / T_i - 1, its standard error)``."""
        pick = lambda n, k: self.values[n] if k is None else self._loo[n][k]  # noqa: E731
        return jackknife(lambda k: pick(j, k) / pick(i, k) - 1, self.sections)

    def skewness(self, j: str, i: str) -> float:
        """The sample skewness of the delete-one-section values of ``T_j / T_i - 1`` (0 when they do not vary)."""
        loo = [self._loo[j][k] / self._loo[i][k] - 1 for k in self.sections]
        mean = sum(loo) / len(loo)
        m2 = sum((v - mean) ** 2 for v in loo) / len(loo)
        return sum((v - mean) ** 3 for v in loo) / len(loo) / m2 ** 1.5 if m2 > 0 else 0.0

    def pairs(self) -> list[tuple[str, str]]:
        """Every ``(j, i)`` with ``i`` of lower value than ``j``."""
        return [(j, i) for n, j in enumerate(self.order) for i in self.order[:n]]


def one_sided_p(r: float, se: float, reference) -> float:
    """The p-value of ``r > 0`` for an estimate ``r`` with standard error ``se`` (1 when undefined)."""
    if not (math.isfinite(r) and se >= 0):  # NaN standard error: too few sections
        return 1.0
    if se == 0:
        return 0.0 if r > 0 else 1.0
    return float(reference.sf(r / se))


MULTIPLICITY = ("holm", "bonferroni", "none")


class Race:
    """The racing rule over a fixed schedule of looks (in blocks); pure bookkeeping, no models.

    Each candidate ``j`` carries the hypothesis "``j`` is within ``margin`` of the lowest T. stddev"
    and a p-value against it: the smallest one-sided p of "``T_j / T_i - 1 > margin``" over the
    looks so far and the live candidates ``i`` of lower value, times the ``K (m - 1)`` tests it
    could take (Bonferroni); ``margin=0`` tests plain "``j`` is worse than ``i``". A candidate is dropped when ``multiplicity`` rejects its hypothesis at
    ``alpha``: ``"holm"`` (the default) steps down over the ``m`` hypotheses, ``"bonferroni"``
    tests each at ``alpha / m``, ``"none"`` each at ``alpha`` (no guarantee over tied best
    candidates; to study looser rules). ``reference(sections)`` is the t statistic's reference
    distribution (Student's t with ``sections - 1`` degrees of freedom by default); ``tests``
    replaces ``K (m - 1)`` (``m - 1`` ignores the repeated looks: to study what they cost);
    ``max_skew`` skips the tests of pairs whose delete-one-section values are more skewed than it
    (a rule measured in docs/calibration.md, not the default).
    """

    def __init__(self, candidates: Sequence[str], looks: Sequence[int], alpha: float = ALPHA,
                 tolerance: float = TOLERANCE, reference: Callable[[int], Any] = student_t,
                 multiplicity: str = "holm", tests: int | None = None, margin: float = DROP_MARGIN,
                 max_skew: float | None = None):
        if multiplicity not in MULTIPLICITY:
            raise ValueError(f"multiplicity is one of {MULTIPLICITY}, not {multiplicity!r}")
        self.looks, self.alpha, self.tolerance = list(looks), alpha, tolerance
        # margin > 0 tests the interval null "T_j / T_i - 1 <= margin" (an indifference zone) instead of "<= 0".
        self.reference, self.multiplicity, self.margin = reference, multiplicity, margin
        # max_skew: no test of a pair whose delete-one-section values are more skewed than this (a t-test's
        # tail is not to be trusted at the race's levels when the differences are skewed).
        self.max_skew = max_skew
        self.candidates = list(candidates)
        self.tests = len(self.looks) * max(len(self.candidates) - 1, 1) if tests is None else tests
        self.p_values = dict.fromkeys(self.candidates, 1.0)
        self.live, self.best, self.stopped, self.last, self._next = list(candidates), None, None, None, 0

    @property
    def level(self) -> float:
        """The per-test level at which the next candidate would be dropped."""
        family = {"holm": len(self.live), "bonferroni": len(self.candidates), "none": 1}[self.multiplicity]
        return self.alpha / (self.tests * max(family, 1))

    def due(self, blocks: int) -> bool:
        return self.stopped is None and self._next < len(self.looks) and blocks >= self.looks[self._next]

    def look(self, stats: Mapping[str, Statistic], blocks: int) -> list[str]:
        """Look at the live candidates' statistics after ``blocks`` blocks; the names dropped now."""
        while self._next < len(self.looks) and self.looks[self._next] <= blocks:
            self._next += 1
        diffs = PairedDifferences({n: stats[n] for n in self.live})
        reference = self.reference(len(diffs.sections)) if len(diffs.sections) > 1 else None
        if reference is not None:
            for j, i in diffs.pairs():
                if self.max_skew is not None and abs(diffs.skewness(j, i)) > self.max_skew:
                    continue
                r, se = diffs(j, i)
                self.p_values[j] = min(self.p_values[j], self.tests * one_sided_p(r - self.margin, se, reference))
        rejected = self._rejected()
        dropped = [n for n in self.live if n in rejected]
        self.live = [n for n in self.live if n not in dropped]
        self.best = next(n for n in diffs.order if n in self.live)
        self.last = self._ends(diffs, reference, dropped, math.sqrt(min(blocks, self.looks[-1]) / self.looks[-1]))
        if len(self.live) == 1:
            self.stopped = "one left"
        elif self.last.tied:
            self.stopped = f"all tied within {self.tolerance:g}"
        elif self._next == len(self.looks):
            self.stopped = "budget"
        elif self.last.settled:
            self.stopped = "none separable by the budget"
        return dropped

    def _rejected(self) -> set[str]:
        if self.multiplicity == "holm":
            names = list(self.p_values)
            return {n for n, p in zip(names, holm([self.p_values[n] for n in names])) if p <= self.alpha}
        cut = self.alpha / (len(self.candidates) if self.multiplicity == "bonferroni" else 1)
        return {n for n, p in self.p_values.items() if p <= cut}

    def _ends(self, diffs: PairedDifferences, reference, dropped: list[str], shrink: float) -> Look:
        """Whether the live candidates are tied with the best, and whether they are settled: no pair would be told
        apart at the next drop's level even if its standard error shrank by ``shrink`` (sqrt(blocks now / blocks at
        the budget)) and its difference stayed as it is."""
        q = float(reference.isf(self.level)) if reference is not None else math.inf
        live = [n for n in diffs.order if n in self.live]

        def bound(j: str, i: str, sign: float, shrink: float = 1.0) -> float:
            r, se = diffs(j, i)
            return r + sign * q * se * shrink

        tied = all(bound(j, live[0], +1) < self.tolerance for j in live[1:])
        settled = all(bound(j, i, -1, shrink) <= self.margin for n, j in enumerate(live) for i in live[:n])
        return Look(self.best, dropped, tied, settled)

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
