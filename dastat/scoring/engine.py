"""``score`` and ``rank``: measure T. stddev for data augmentations on one teacher.

One :class:`Engine` serves both protocols and every DA of a run. It walks the
:class:`~dastat.scoring.stream.BlockStream`; for each block it makes the base view
once, forwards the originals once, and then, for every DA still running, makes the
DA's view and forwards it, so all DAs see the same images and base views (common
random numbers). Each DA's :class:`~dastat.scoring.collector.DACollector` gathers
its statistics; the protocol object says what a T. stddev unit is and when to stop.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Sequence

import torch

from ..augment import PAPER_DAS
from ..augment.base import Augmentation
from ..distributed import all_reduce, process_group
from ..errors import UserError
from ..setting import describe_inputs
from ..stats import entropy
from ..stats.columns import RANKABLE, STUDENT_ONLY, direction
from ..stats.compare import holm
from .collector import DACollector, Originals
from .config import ScoreConfig
from .degenerate import DegeneracyProbe
from .intervals import bounded_interval
from .inputs import build_das, default_das, resolve_inputs
from .protocols import CHECK_EVERY, make_protocol
from .results import Ranking, ScoreResult

ALPHA = 0.05
NEEDS_STUDENT = "it picks each view by the student's loss, so it needs --student SPEC (a checkpoint or a zoo name)"
DAs = str | Augmentation | Sequence[str | Augmentation] | None


class Engine:
    """One scoring run: the teacher (and student), the data, the DAs' collectors, the protocol.

    ``protocol`` defaults to the one ``config`` names; with ``common_draws`` every DA draws
    from the first one's random stream (so DAs of one family share partners, boxes and
    the uniforms behind their strengths) instead of its own.
    """

    def __init__(self, teacher, data, das: Sequence[Augmentation], student, config: ScoreConfig, device, *,
                 protocol=None, common_draws: bool = False):
        self.teacher, self.data, self.student, self.config, self.device = teacher, data, student, config, device
        self.protocol = protocol or make_protocol(config)
        self.rank, self.world_size = process_group()
        self.total_forward = 0
        self.probe = DegeneracyProbe()
        self.collectors = []
        for aug in das:
            salt = self.collectors[0].salt if common_draws and self.collectors else None
            self.collectors.append(DACollector(aug, self.protocol.units(aug, data.num_classes),
                                               student=student is not None, salt=salt))

    @torch.inference_mode()
    def _logp(self, model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(model(x).float(), dim=-1)

    def _originals(self, block) -> Originals:
        x = self.data.base_view(block.x.to(self.device, non_blocking=True), block.generator())
        logp = self._logp(self.teacher, x)
        p = logp.exp()
        self.probe.add(p)
        student = self._logp(self.student, x) if self.student is not None else None
        self.total_forward += x.shape[0]
        return Originals(x, block.y.to(self.device), logp, p, entropy(p), student)

    def _view(self, c: DACollector, block, orig: Originals, full_block: bool) -> None:
        """Make DA ``c``'s view of the block, forward it (unless the DA did or it is the original), update ``c``."""
        n = orig.x.shape[0]
        result = c.aug(orig.x, orig.y, generator=block.generator(c.salt))
        if result.teacher_logits is not None:
            logp_view, spent = torch.log_softmax(result.teacher_logits.float(), dim=-1), result.forwards
        elif result.x is orig.x:
            logp_view, spent = orig.logp, 0
        else:
            logp_view, spent = self._logp(self.teacher, result.x), n + result.forwards
        c.n_forward += n + spent
        c.n_images += n
        self.total_forward += spent
        student_view = None
        if full_block and self.student is not None:
            if result.student_logits is not None:  # a DA that ranked views by the student
                student_view = torch.log_softmax(result.student_logits.float(), dim=-1)
            else:
                student_view = orig.student_logp if result.x is orig.x else self._logp(self.student, result.x)
        c.update(block.index, orig, result, logp_view, full_block=full_block, student_logp_view=student_view,
                 more_draws=[self._draw(c, block, orig, r) for r in range(1, c.draws)])

    def _draw(self, c: DACollector, block, orig: Originals, r: int) -> tuple[torch.Tensor, dict]:
        """Draw ``r`` of DA ``c`` on the block's images: the teacher's probabilities on its views, and its params."""
        result = c.aug(orig.x, orig.y, generator=block.generator(c.salt, r))
        c.n_forward += orig.x.shape[0]
        self.total_forward += orig.x.shape[0]
        return self._logp(self.teacher, result.x).exp(), result.params

    @torch.inference_mode()
    def _step(self, block) -> None:
        # A DA skips the blocks at or past its global budget (set by the protocol): the last round of
        # processes may end part-way, and N processes use exactly the blocks one process would.
        active = [c for c in self.collectors if not c.done and block.index < getattr(c, "stop_index", math.inf)]
        if not active:
            return
        t0 = time.perf_counter()
        orig = self._originals(block)
        full_block = orig.x.shape[0] == self.config.batch_size
        shared = (time.perf_counter() - t0) / len(active)
        for c in active:
            t1 = time.perf_counter()
            self._view(c, block, orig, full_block)
            c.seconds += time.perf_counter() - t1 + shared

    def run(self) -> Ranking:
        """Walk the blocks until every DA is done; the results in the order the DAs were given."""
        from ..progress import progress_bar

        bar = progress_bar(self.protocol.total_blocks(len(self.data.train)), f"T. stddev ({self.protocol.name})",
                           enabled=self.config.progress and self.rank == 0, unit="batch")
        if bar is None:
            from tqdm.auto import tqdm

            bar = tqdm(disable=True)
        n_blocks = 0
        for n_blocks, block in enumerate(self.protocol.stream(self.data.train, self.rank, self.world_size), 1):
            self._step(block)
            bar.update(self.world_size)
            self.protocol.after_block(self.collectors, n_blocks, self.world_size)
            if self.probe.decide(n_blocks) is not None:  # nothing to measure: stop every DA here
                for c in self.collectors:
                    c.done = True
            if all(c.done for c in self.collectors):
                break
            if n_blocks % CHECK_EVERY == 0:
                bar.set_postfix(running=sum(not c.done for c in self.collectors))
        self.probe.decide(n_blocks, last=True)  # a run shorter than the probe still gets its verdict
        bar.close()
        return Ranking([self._result(c) for c in self.collectors], self._total_forward())

    def _total_forward(self) -> int:
        return int(all_reduce(torch.tensor([self.total_forward], dtype=torch.float64)).item())

    def _result(self, c: DACollector) -> ScoreResult:
        self.protocol.finish(c)
        tstd, ent = c.tstd.synced().compute(), c.entropy.synced().compute()
        n_forward, n_images, seconds = c.counts()
        extra = {**c.estimates(), **describe_inputs(self.teacher, self.data), **self.protocol.settings(),
                 "batch_size": self.config.batch_size}
        if self.probe.reason is not None:
            extra["degenerate_teacher"] = self.probe.reason
        return ScoreResult(
            da=c.aug.spec, t_stddev=tstd.value, t_stddev_ci=tstd.ci, teacher_entropy=ent.value,
            teacher_entropy_ci=bounded_interval("teacher_entropy", ent.value, ent.ci), protocol=self.protocol.name,
            n_forward=n_forward, n_images=n_images,
            n_units=tstd.n_units, unit=c.unit, seconds=round(seconds, 3),
            relative_half_width=tstd.relative_half_width, converged=c.converged,
            teacher=self.teacher.source, data=self.data.spec, seed=self.config.seed, extra=extra,
        )

    def paired_values(self) -> dict[str, dict[str, dict]]:
        """Per DA and rankable statistic, the values a paired test needs (see :class:`Ranking`)."""
        names = [n for n in RANKABLE if self.student is not None or n not in STUDENT_ONLY]
        return {c.aug.spec: {n: c.sections(n) for n in names} for c in self.collectors}


def _config(config: ScoreConfig | None, options: dict) -> ScoreConfig:
    config = config or ScoreConfig()
    return (dataclasses.replace(config, **options) if options else config).validate()


def measure(das: DAs, teacher=None, data=None, *, student=None, config: ScoreConfig | None = None,
            **options) -> Ranking:
    """Score DAs on the same images; the results in the order given (``das=None``: the paper's nine)."""
    start = time.perf_counter()
    config = _config(config, options)
    if config.by not in RANKABLE:
        raise UserError(f"cannot rank by {config.by!r}; choose one of: " + ", ".join(RANKABLE))
    teacher, data, student, device = resolve_inputs(teacher, data, student, config.device, config.seed)
    if student is None and config.by in STUDENT_ONLY:
        raise UserError(f"ranking by {config.by} needs a student: pass --student SPEC (or rank by {config.by}_t)")
    specs = [das] if isinstance(das, (str, Augmentation)) else list(das or [])
    engine = Engine(teacher, data, build_das(specs, data, teacher, student), student, config, device)
    ranking = engine.run()
    ranking.sections = engine.paired_values()
    ranking.seconds = time.perf_counter() - start
    if not specs and student is None:  # the paper's nine, less the one that needs a student
        ranking.left_out = {d: NEEDS_STUDENT for d in PAPER_DAS if d not in default_das(False)}
    return ranking


def score(da: str | Augmentation, teacher=None, data=None, *, student=None, config: ScoreConfig | None = None,
          **options) -> ScoreResult:
    """Score one DA: its :class:`ScoreResult`. ``options`` override fields of ``config`` (a
    :class:`ScoreConfig`); the arguments mean what they mean for :func:`rank`."""
    if not isinstance(da, (str, Augmentation)):
        raise UserError("score() takes one DA; use dastat.rank() to score several on the same images")
    return measure(da, teacher, data, student=student, config=config, **options)[0]


def rank(das: DAs = None, teacher=None, data=None, *, student=None, config: ScoreConfig | None = None,
         **options) -> Ranking:
    """Score several DAs on the same images and sort them, best first, by ``config.by``.

    ``das=None`` means the paper's nine (``cutmix_pick_s`` only with a ``student``).
    Each result also says whether it is distinguishable from the next one
    (``distinct_from_next``: a paired jackknife t-test of "they differ in ``by`` by more
    than 4%" (:data:`dastat.stats.compare.MARGIN`), Holm-corrected over the adjacent
    pairs, at level 0.05; ``p_next`` is the adjusted p-value). Under ``torchrun`` each process takes every
    ``world_size``-th block; the statistics are summed across processes, and every
    process gets the same result.
    """
    ranking = measure(das, teacher, data, student=student, config=config, **options)
    by = _config(config, options).by
    higher = direction(by) == "higher"
    ranking.results.sort(key=lambda r: _sort_key(r.get(by), higher))
    # A DA without a value has no place in the order: it is listed after the ranked ones, with no rank.
    ranked = [r for r in ranking if _has_value(r.get(by))]
    adjusted = holm([ranking.compare(a.da, b.da, by).p_value for a, b in zip(ranked, ranked[1:])])
    for i, result in enumerate(ranking):
        p = adjusted[i] if i < len(adjusted) and math.isfinite(adjusted[i]) else None
        result.extra.update({"rank_by": by, "rank": i + 1 if i < len(ranked) else None, "p_next": p,
                             "distinct_from_next": None if p is None else bool(p < ALPHA)})
    return ranking


def _has_value(value: float | None) -> bool:
    return value is not None and math.isfinite(float(value))


def _sort_key(value: float | None, higher_is_better: bool) -> tuple[bool, float]:
    value = math.nan if value is None else float(value)
    return (math.isnan(value), -value if higher_is_better else value)
