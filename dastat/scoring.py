"""``score`` and ``rank``: measure T. stddev for data augmentations on one teacher.

One engine serves both protocols and every DA in a ranking. It walks the training
split in *blocks* of ``batch_size`` images (the paper's batch, 64, which is also the
unit over which a DA shares one random draw). For each block it makes the base view
once, forwards the originals once, and then, for every DA still running, makes the
DA's view and forwards it, so all DAs in a ranking see the same images and base
views (common random numbers). Each DA feeds its own estimator:

* ``protocol="paper"`` — consecutive pairs form groups of 320 originals + 320 views;
  T. stddev is the sd of the group means, run for ``epochs`` passes (10 by default);
* ``protocol="fast"`` — the unit is the draw block (or the image pair when the DA's
  views are independent given their images, see :mod:`dastat.stats.tstddev`); it
  stops when the 95% interval's relative half-width is at most ``precision`` or when
  ``max_images`` originals have been used.

Every block's randomness comes from generators seeded by ``(seed, block index)``, so
results do not depend on how blocks are split between processes.
"""

from __future__ import annotations

import json
import math
import time
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, Sequence

import torch

from . import augment as augment_lib
from .augment.base import AugmentContext, Augmentation
from .data import ImageData
from .distributed import process_group, resolve_device
from .errors import UserError
from .seeding import stable_seed
from .stats import GROUP_SIZE, Grouper, MeanStat, TStddev, entropy
from .stats.companions import CE_STATISTICS, Companions, CrossEntropyStats, cross_entropy
from .stats.compare import holm, paired_test
from .teacher import Teacher, describe_inputs, load_teacher, resolve_teacher_and_data

PROTOCOLS = ("fast", "paper")
#: Statistics a ranking can be sorted by (``--by``), and whether lower is better: the
#: paper's proposition is that a good DA lowers the cross-entropy (co)variances.
RANK_BY = {
    "t_stddev": True, "teacher_entropy": False,
    "ce_var": True, "ce_cov": True, "ce_cov_cross": True, "risk_var": True,
    "ce_var_t": True, "ce_cov_t": True, "ce_cov_cross_t": True, "risk_var_t": True,
}
ALPHA = 0.05
DEFAULT_MAX_IMAGES = 32_768
CHECK_EVERY = 16  # blocks between stopping checks
MIN_BLOCKS = 32  # blocks before the first stopping check


@dataclass
class ScoreResult:
    """T. stddev of one DA on one teacher, with what it cost. Plain data: JSON/CSV ready."""

    da: str
    t_stddev: float
    t_stddev_ci: tuple[float, float]
    teacher_entropy: float
    teacher_entropy_ci: tuple[float, float]
    protocol: str
    n_forward: int
    n_images: int
    n_units: int
    unit: str
    seconds: float
    relative_half_width: float
    converged: bool
    teacher: str = ""
    data: str = ""
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A flat, JSON-ready record: intervals as lists, NaN/inf as None (strict JSON has neither)."""
        out = asdict(self)
        out.update(out.pop("extra"))
        return {key: _plain(value) for key, value in out.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    return value


class Ranking(list):
    """A list of :class:`ScoreResult`, best first; ``total_forward`` counts the model
    forwards the whole ranking made (originals are shared between its DAs)."""

    total_forward: int = 0
    seconds: float = 0.0
    _engine: "_Engine | None" = None

    def compare(self, a: str, b: str, by: str | None = None):
        """Paired test of DA ``a`` against DA ``b`` on the ranking's common images.

        Returns a :class:`dastat.stats.compare.PairedTest` (difference ``a - b`` in
        ``by``, its jackknife standard error, and an unadjusted two-sided p-value).
        """
        if self._engine is None:
            raise ValueError("this ranking was read back from a file; comparisons need the live estimators")
        runs = {r.aug.spec: r for r in self._engine.runs}
        missing = [d for d in (a, b) if d not in runs]
        if missing:
            raise UserError(f"no DA {missing[0]!r} in this ranking; it has: " + ", ".join(runs))
        by = by or (self[0].extra.get("rank_by", "t_stddev") if self else "t_stddev")
        return self._engine.compare(runs[a], runs[b], by)

    def to_records(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self]

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.to_records())

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_records(), **{"indent": 2, "allow_nan": False, **kwargs})


@dataclass
class _Run:
    """Book-keeping for one DA inside the engine."""

    aug: Augmentation
    salt: int
    tstd: TStddev
    ent: MeanStat
    unit: str
    ce_teacher: CrossEntropyStats = field(default_factory=CrossEntropyStats)
    ce_student: CrossEntropyStats = field(default_factory=CrossEntropyStats)
    companions: Companions = field(default_factory=Companions)
    grouper: Grouper | None = None
    n_groups: int = 0
    n_forward: int = 0
    n_images: int = 0
    seconds: float = 0.0
    done: bool = False
    converged: bool = False

    def stats(self):
        return (self.tstd, self.ent, self.ce_teacher, self.ce_student, self.companions)


class _Engine:
    def __init__(self, teacher: Teacher, data: ImageData, das: Sequence[Augmentation], *, protocol: str,
                 student: torch.nn.Module | None,
                 batch_size: int, seed: int, device: torch.device, epochs: int, precision: float,
                 max_images: int, progress: bool, rank: int = 0, world_size: int = 1):
        self.teacher, self.student, self.data, self.protocol = teacher, student, data, protocol
        self.total_forward = 0
        self.batch_size, self.seed, self.device = batch_size, seed, device
        self.epochs, self.precision, self.max_images = epochs, precision, max_images
        self.progress, self.rank, self.world_size = progress, rank, world_size
        c = data.num_classes
        self.runs: list[_Run] = []
        for aug in das:
            if protocol == "paper":
                unit, per_group = "group", 1
            elif not (aug.shared_randomness or aug.mixes or aug.batch_dependent):
                unit, per_group = "pair", GROUP_SIZE
            else:
                unit, per_group = "block", GROUP_SIZE / batch_size
            self.runs.append(_Run(
                aug=aug, salt=zlib.crc32(aug.spec.encode()), tstd=TStddev(c, per_group), ent=MeanStat(), unit=unit,
                grouper=Grouper(c) if protocol == "paper" else None,
            ))

    # -- the stream of blocks ---------------------------------------------------

    def _blocks(self) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """(global block index, uint8 images, labels), over epochs of the shuffled split."""
        split = self.data.train
        n = len(split)
        per_epoch = math.ceil(n / self.batch_size) if self.protocol == "paper" else n // self.batch_size
        if per_epoch == 0:
            raise UserError(f"the training split has {n} images, fewer than one batch of {self.batch_size}")
        k, epoch = 0, 0
        while self.protocol != "paper" or epoch < self.epochs:
            gen = torch.Generator().manual_seed(stable_seed(self.seed, "epoch", epoch))
            stream = split.batches(self.batch_size, shuffle=True, generator=gen, drop_last=self.protocol != "paper")
            for x, y in stream:
                if k % self.world_size == self.rank:
                    yield k, x, y
                k += 1
            epoch += 1

    def _total_blocks(self) -> int | None:
        n = len(self.data.train)
        if self.protocol == "paper":
            return self.epochs * math.ceil(n / self.batch_size)
        return math.ceil(self.max_images / self.batch_size)

    # -- one block --------------------------------------------------------------

    @torch.inference_mode()
    def _forward(self, model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(model(x).float(), dim=-1)

    @torch.inference_mode()
    def _step(self, k: int, x: torch.Tensor, y: torch.Tensor) -> None:
        active = [r for r in self.runs if not r.done]
        t0 = time.perf_counter()
        x = self.data.base_view(x.to(self.device, non_blocking=True), torch.Generator().manual_seed(stable_seed(self.seed, k)))
        y = y.to(self.device)
        n = x.shape[0]
        logp_orig = self._forward(self.teacher, x)
        p_orig = logp_orig.exp()
        h_orig = entropy(p_orig)
        logs_orig = self._forward(self.student, x) if self.student is not None else None
        self.total_forward += n
        # Per-pair block statistics need blocks of equal size (the paper's last batch is smaller).
        full_block = n == self.batch_size
        shared = (time.perf_counter() - t0) / len(active)
        for run in active:
            t1 = time.perf_counter()
            result = run.aug(x, y, generator=torch.Generator().manual_seed(stable_seed(self.seed, k, run.salt)))
            if result.teacher_logits is not None:
                logp_view = torch.log_softmax(result.teacher_logits.float(), dim=-1)
                spent = result.forwards
            elif result.x is x:
                logp_view, spent = logp_orig, 0
            else:
                logp_view = self._forward(self.teacher, result.x)
                spent = n + result.forwards
            run.n_forward += n + spent
            self.total_forward += spent
            run.n_images += n
            p_view = logp_view.exp()
            h_view = entropy(p_view)
            self._update(run, k, p_orig, p_view)
            run.ent.update(torch.cat([h_orig, h_view]), k)
            run.companions.update(p_orig, p_view, y, result.y, result.params, k)
            if full_block:
                run.ce_teacher.update(h_orig, h_view, k)
                if self.student is not None:
                    if result.student_logits is not None:  # a DA that ranked views by the student
                        logs_view = torch.log_softmax(result.student_logits.float(), dim=-1)
                    else:
                        logs_view = logs_orig if result.x is x else self._forward(self.student, result.x)
                    run.ce_student.update(cross_entropy(p_orig, logs_orig), cross_entropy(p_view, logs_view), k)
            run.seconds += time.perf_counter() - t1 + shared

    @staticmethod
    def _update(run: _Run, k: int, p_orig: torch.Tensor, p_view: torch.Tensor) -> None:
        if run.unit == "group":
            for group_mean in run.grouper.push(p_orig, p_view):
                run.tstd.update(group_mean.unsqueeze(0), run.n_groups)
                run.n_groups += 1
        elif run.unit == "block":
            run.tstd.update(((p_orig.double() + p_view.double()) / 2).mean(0, keepdim=True), k)
        else:
            run.tstd.update((p_orig.double() + p_view.double()) / 2, k)

    # -- stopping ---------------------------------------------------------------

    def _check(self, n_blocks: int, *, precision: bool) -> None:
        """Stop DAs at their image budget (every block) or at the target precision (every few blocks)."""
        for run in self.runs:
            if run.done:
                continue
            if run.n_images * self.world_size >= self.max_images:
                run.done = True
            elif precision and n_blocks >= MIN_BLOCKS:
                estimate = _global(run.tstd).compute()
                if estimate.relative_half_width <= self.precision:
                    run.done = run.converged = True

    def total_forward_global(self) -> int:
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return self.total_forward
        t = torch.tensor([self.total_forward], dtype=torch.float64)
        dist.all_reduce(t)
        return int(t.item())

    def run(self) -> list[ScoreResult]:
        from tqdm.auto import tqdm

        bar = tqdm(total=self._total_blocks(), unit="batch", disable=not self.progress or self.rank != 0,
                   desc=f"T. stddev ({self.protocol})", leave=False, dynamic_ncols=True)
        n_blocks = 0
        for k, x, y in self._blocks():
            self._step(k, x, y)
            n_blocks += 1
            bar.update(self.world_size)
            if self.protocol == "fast":
                at_checkpoint = n_blocks % CHECK_EVERY == 0
                self._check(n_blocks * self.world_size, precision=at_checkpoint)
                if at_checkpoint:
                    bar.set_postfix(running=sum(not r.done for r in self.runs))
            if all(r.done for r in self.runs):
                break
        bar.close()
        return [self._result(run) for run in self.runs]

    def _result(self, run: _Run) -> ScoreResult:
        tstd = _global(run.tstd).compute()
        ent = _global(run.ent).compute()
        if self.protocol == "paper":
            run.converged = True
        n_forward, n_images, seconds = _global_counts(run)
        extra: dict[str, Any] = {}
        ce_t = _global(run.ce_teacher).compute()
        ce_s = _global(run.ce_student).compute() if self.student is not None else None
        for name, estimate in ce_t.items():
            _put(extra, f"{name}_t", estimate)
        for name in ce_t:
            _put(extra, name, ce_s[name] if ce_s is not None else None)
        for name, estimate in _global(run.companions).compute(mixes=run.aug.mixes).items():
            _put(extra, name, estimate)
        extra.update(describe_inputs(self.teacher, self.data))
        extra.update({"epochs": self.epochs} if self.protocol == "paper"
                     else {"precision": self.precision, "max_images": self.max_images})
        return ScoreResult(
            da=run.aug.spec, t_stddev=tstd.value, t_stddev_ci=tstd.ci, teacher_entropy=ent.value,
            teacher_entropy_ci=ent.ci, protocol=self.protocol, n_forward=n_forward, n_images=n_images,
            n_units=tstd.n_units, unit=run.unit, seconds=round(seconds, 3),
            relative_half_width=tstd.relative_half_width, converged=run.converged,
            teacher=self.teacher.source, data=self.data.spec, seed=self.seed, extra=extra,
        )


    def stat_function(self, run: _Run, name: str):
        """``(f, sections)``: the statistic ``name`` of ``run`` leaving out a section, and its live sections."""
        if name == "t_stddev":
            tstd = _global(run.tstd)
            return tstd.value, tstd.sections()
        if name == "teacher_entropy":
            acc = _global(run.ent).acc
            return acc.mean, [int(j) for j in torch.nonzero(acc.count > 0).flatten()]
        base, teacher_only = (name[:-2], True) if name.endswith("_t") else (name, False)
        if base not in CE_STATISTICS:
            raise UserError(f"cannot rank by {name!r}; choose one of: " + ", ".join(RANK_BY))
        if not teacher_only and self.student is None:
            raise UserError(f"ranking by {name} needs a student: pass --student SPEC")
        sums = _global(run.ce_teacher if teacher_only else run.ce_student).sums
        fn = CE_STATISTICS[base]
        return (lambda j: fn(sums.totals(j))), sums.live_sections("blocks")


    def compare(self, run_a: _Run, run_b: _Run, name: str):
        """Paired jackknife test of ``name`` between two DAs over their shared sections."""
        fa, sa = self.stat_function(run_a, name)
        fb, sb = self.stat_function(run_b, name)
        return paired_test(fa, fb, sorted(set(sa) | set(sb)))


def _put(out: dict[str, Any], name: str, estimate) -> None:
    """``name`` and ``name_ci`` from an Estimate (None when not available)."""
    if estimate is None or not math.isfinite(estimate.value):
        out[name], out[f"{name}_ci"] = None, None
    else:
        out[name], out[f"{name}_ci"] = estimate.value, list(estimate.ci)


def _global(stat):
    """A copy of ``stat`` summed over all processes (the stat itself if not distributed)."""
    import copy

    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return stat
    clone = copy.deepcopy(stat)
    clone.sync()
    return clone


def _global_counts(run: _Run) -> tuple[int, int, float]:
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return run.n_forward, run.n_images, run.seconds
    t = torch.tensor([run.n_forward, run.n_images, run.seconds], dtype=torch.float64)
    dist.all_reduce(t)
    seconds = float(t[2]) / dist.get_world_size()
    return int(t[0]), int(t[1]), seconds


# --- the public API ------------------------------------------------------------------


def _as_list(das: str | Augmentation | Sequence[str | Augmentation] | None) -> list:
    if das is None:
        return []
    if isinstance(das, (str, Augmentation)):
        return [das]
    return list(das)


def default_das(student: bool) -> list[str]:
    """The paper's nine DAs, less ``cutmix_pick_s`` when there is no student."""
    return [d for d in augment_lib.PAPER_DAS if student or d != "cutmix_pick_s"]


def load_student(spec: str | None, data: ImageData, *, seed: int = 0, device=None, trust: bool = False):
    """A student for student-aware DAs: a checkpoint, or a zoo name for a fresh seeded network."""
    if spec is None:
        return None
    from . import models

    if spec in models.list():
        torch.manual_seed(seed)
        net = models.create(spec, num_classes=data.num_classes, in_channels=data.channels)
        student = Teacher(net, data.mean, data.std, num_classes=data.num_classes, in_channels=data.channels,
                          arch=spec, source=f"{spec} (fresh, seed {seed})")
    else:
        student = load_teacher(spec, data=data, trust=trust)
    return student.to(device) if device is not None else student


def _prepare(teacher, data, student, device, seed):
    device = resolve_device(device)
    teacher, data = resolve_teacher_and_data(teacher, data)
    if student is not None and not isinstance(student, torch.nn.Module):
        student = load_student(student, data, seed=seed)
    teacher = teacher.to(device).eval()
    if student is not None:
        student = student.to(device).eval()
    return teacher, data, student, device


def rank(
    das: str | Augmentation | Sequence[str | Augmentation] | None = None,
    teacher: Teacher | str | None = None,
    data: ImageData | str | None = None,
    *,
    protocol: str = "fast",
    student: torch.nn.Module | str | None = None,
    epochs: int = 10,
    precision: float = 0.01,
    max_images: int = DEFAULT_MAX_IMAGES,
    batch_size: int = 64,
    seed: int = 0,
    device: str | torch.device | None = "auto",
    progress: bool = False,
    by: str = "t_stddev",
) -> Ranking:
    """Score several DAs on the same images and sort them, best first, by ``by``.

    ``das=None`` means the paper's nine (``cutmix_pick_s`` only with a ``student``).
    Each result also says whether it is distinguishable from the next one
    (``distinct_from_next``: a paired jackknife t-test on the difference in ``by``,
    Holm-corrected over the adjacent pairs, at level 0.05; ``p_next`` is the
    adjusted p-value). Under ``torchrun`` each process takes every
    ``world_size``-th block; the estimators are summed across processes, and every
    process gets the same result.
    """
    if by not in RANK_BY:
        raise UserError(f"cannot rank by {by!r}; choose one of: " + ", ".join(RANK_BY))
    start = time.perf_counter()
    results, engine = _score_all(das, teacher, data, protocol=protocol, student=student, epochs=epochs,
                                 precision=precision, max_images=max_images, batch_size=batch_size, seed=seed,
                                 device=device, progress=progress, by=by)
    lower = RANK_BY[by]
    pairs = sorted(zip(results, engine.runs), key=lambda rr: _sort_key(_value(rr[0], by), lower))
    adjusted = holm([engine.compare(run_a, run_b, by).p_value
                     for (_, run_a), (_, run_b) in zip(pairs, pairs[1:])])
    ranking = Ranking()
    for i, (result, _) in enumerate(pairs):
        p = adjusted[i] if i < len(adjusted) else None
        result.extra.update({
            "rank_by": by,
            "p_next": None if p is None or not math.isfinite(p) else p,
            "distinct_from_next": None if p is None or not math.isfinite(p) else bool(p < ALPHA),
        })
        ranking.append(result)
    ranking.total_forward = engine.total_forward_global()
    ranking.seconds = time.perf_counter() - start
    ranking._engine = engine
    return ranking


def _value(result: ScoreResult, name: str) -> float:
    value = getattr(result, name, None)
    if value is None:
        value = result.extra.get(name)
    return math.nan if value is None else float(value)


def _sort_key(value: float, lower_is_better: bool) -> tuple[bool, float]:
    return (math.isnan(value), value if lower_is_better else -value)


def _score_all(das, teacher, data, *, protocol, student, epochs, precision, max_images, batch_size, seed,
               device, progress, by="t_stddev") -> tuple[list[ScoreResult], "_Engine"]:
    """Results in the order the DAs were given, and the engine that holds their estimators."""
    if protocol not in PROTOCOLS:
        raise UserError(f"unknown protocol {protocol!r}; choose 'fast' or 'paper'")
    if batch_size < 2:
        raise UserError("--batch-size must be at least 2")
    if not 0 < precision < 1:
        raise UserError("--precision is a relative half-width, between 0 and 1 (0.01 = 1%)")
    if epochs < 1 or max_images < batch_size:
        raise UserError("--epochs must be ≥ 1 and --max-images at least one batch")
    teacher, data, student, device = _prepare(teacher, data, student, device, seed)
    if student is None and by in CE_STATISTICS:
        raise UserError(f"ranking by {by} needs a student: pass --student SPEC (or rank by {by}_t)")
    specs = _as_list(das) or default_das(student is not None)
    context = AugmentContext(num_classes=data.num_classes, image_size=data.image_size, channels=data.channels,
                             mean=data.mean, std=data.std, dataset=data.name, teacher=teacher, student=student)
    built = [d if isinstance(d, Augmentation) else augment_lib.create(d, context) for d in specs]
    seen = set()
    for aug in built:
        if aug.spec in seen:
            raise UserError(f"the DA {aug.spec!r} is listed twice")
        seen.add(aug.spec)
    rank_, world_size = process_group()
    engine = _Engine(teacher, data, built, protocol=protocol, student=student, batch_size=batch_size, seed=seed, device=device,
                     epochs=epochs, precision=precision, max_images=max_images, progress=progress,
                     rank=rank_, world_size=world_size)
    return engine.run(), engine


def score(
    da: str | Augmentation | Sequence[str | Augmentation],
    teacher: Teacher | str | None = None,
    data: ImageData | str | None = None,
    *,
    protocol: str = "fast",
    student: torch.nn.Module | str | None = None,
    epochs: int = 10,
    precision: float = 0.01,
    max_images: int = DEFAULT_MAX_IMAGES,
    batch_size: int = 64,
    seed: int = 0,
    device: str | torch.device | None = "auto",
    progress: bool = False,
) -> ScoreResult | list[ScoreResult]:
    """Score one DA (returns a :class:`ScoreResult`) or several (a list, in the order given).

    The arguments mean what they mean for :func:`rank`.
    """
    specs = _as_list(da)
    if not specs:
        raise UserError("give at least one DA to score")
    results, _ = _score_all(specs, teacher, data, protocol=protocol, student=student, epochs=epochs,
                            precision=precision, max_images=max_images, batch_size=batch_size, seed=seed,
                            device=device, progress=progress)
    return results[0] if isinstance(da, (str, Augmentation)) else results
