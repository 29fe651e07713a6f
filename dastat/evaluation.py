"""Check a teacher on its data's test split: top-1, top-5, mean cross-entropy and calibration.

The metrics are pure functions of logits and labels, accumulated batch by batch, so a
test split of any size streams through in constant memory. Calibration is the expected
calibration error (ECE) over 15 equal-width confidence bins ``(i/15, (i+1)/15]``:
``Σ_b |n_b| / N · |accuracy_b − mean confidence_b|``, with the confidence being the
top class's softmax probability (Guo et al., 2017).

A checkpoint that records its own accuracy (RepDistiller's ``best_acc``, or ``acc``,
``accuracy``, ``test_acc``, ``acc1``, ``top1``) gets it beside the measured top-1
(``recorded_top1``), and a gap of more than :data:`GAP_POINTS` points is a
:class:`~dastat.errors.DastatWarning`: the one comparison that catches a bad download,
the wrong normalisation or the wrong data.

>>> logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
>>> topk_correct(logits, torch.tensor([0, 0]), (1,))
{1: 1}
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch

from .errors import DastatWarning, UserError

ECE_BINS = 15
#: Checkpoint entries that record the checkpoint's own test accuracy, in the order they are looked for.
RECORDED_KEYS = ("best_acc", "acc", "accuracy", "test_acc", "best_acc1", "acc1", "top1")
#: A measured top-1 this many percentage points from the recorded one is warned about.
GAP_POINTS = 5.0


def recorded_accuracy(teacher: Any) -> tuple[str, float] | None:
    """``(entry, top-1 as a fraction)`` that a checkpoint records for itself, or None.

    Values above 1 are percentages (RepDistiller stores ``best_acc`` as 72.34); values outside
    [0, 100] are not accuracies and are ignored.

    >>> class T: meta = {"extras": {"epoch": 240, "best_acc": 72.34}}
    >>> recorded_accuracy(T())
    ('best_acc', 0.7234)
    """
    extras = (getattr(teacher, "meta", None) or {}).get("extras") or {}
    for key in RECORDED_KEYS:
        value = extras.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 100:
            return key, value / 100 if value > 1 else float(value)
    return None


def check_against_record(teacher: Any, top1: float, n_images: int) -> tuple[str, float] | None:
    """The recorded accuracy, after warning once when the measured ``top1`` is far from it."""
    recorded = recorded_accuracy(teacher)
    if recorded is not None and abs(top1 - recorded[1]) * 100 > GAP_POINTS:
        import warnings

        warnings.warn(f"the checkpoint records {100 * recorded[1]:.2f}% as {recorded[0]!r}, but its top-1 measured "
                      f"here is {100 * top1:.2f}% on {n_images:,} test images; likely causes: a damaged or wrong "
                      "download, the wrong normalisation (--mean/--std), or other data than it was trained on",
                      DastatWarning, stacklevel=3)
    return recorded


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 5)) -> dict[int, int]:
    """How many labels are among the ``k`` largest logits, for each ``k`` (capped at the class count)."""
    top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices
    hits = top == labels.view(-1, 1)
    return {k: int(hits[:, :k].any(dim=1).sum()) for k in ks}


def cross_entropy_sum(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Σ −log softmax(logits)[label], in float64."""
    return float(torch.nn.functional.cross_entropy(logits.double(), labels, reduction="sum"))


def calibration_bins(confidence: torch.Tensor, correct: torch.Tensor, bins: int = ECE_BINS) -> torch.Tensor:
    """Per confidence bin ``(i/bins, (i+1)/bins]``: [count, Σ confidence, Σ correct] (bins×3, float64)."""
    confidence = confidence.double().flatten()
    index = (torch.ceil(confidence * bins).long() - 1).clamp_(0, bins - 1)
    out = torch.zeros(bins, 3, dtype=torch.float64)
    out.index_add_(0, index, torch.stack([torch.ones_like(confidence), confidence, correct.double().flatten()], 1))
    return out


def ece_from_bins(table: torch.Tensor) -> float:
    """The expected calibration error of a :func:`calibration_bins` table (summed over batches)."""
    n = float(table[:, 0].sum())
    return float((table[:, 2] - table[:, 1]).abs().sum() / n) if n else math.nan


def expected_calibration_error(confidence: torch.Tensor, correct: torch.Tensor, bins: int = ECE_BINS) -> float:
    """ECE of predictions with top-class ``confidence`` that were ``correct`` (bool or 0/1)."""
    return ece_from_bins(calibration_bins(confidence, correct, bins))


@dataclass
class EvalResult:
    """A teacher's test-split metrics (accuracies as fractions). Plain data: JSON ready."""

    top1: float
    top5: float
    loss: float
    ece: float
    n_images: int
    teacher: str
    data: str
    seconds: float
    inputs: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    #: The top-1 the checkpoint records for itself (a fraction) and the entry it is under; None when it has none.
    recorded_top1: float | None = None
    recorded_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}

    def to_json(self, **kwargs) -> str:
        """The JSON every dastat command writes: ``{"provenance": ..., "results": [this record]}``."""
        from .provenance import with_provenance

        record = self.to_dict()
        provenance = record.pop("provenance")
        return json.dumps(with_provenance([record], provenance), **{"indent": 2, "allow_nan": False, **kwargs})


class _Totals:
    """Running sums of the metrics over batches."""

    def __init__(self):
        self.n, self.loss, self.hits, self.bins = 0, 0.0, {1: 0, 5: 0}, torch.zeros(ECE_BINS, 3, dtype=torch.float64)

    def update(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        logits, labels = logits.float().cpu(), labels.cpu()
        for k, v in topk_correct(logits, labels, (1, 5)).items():
            self.hits[k] += v
        self.loss += cross_entropy_sum(logits, labels)
        confidence, predicted = logits.softmax(dim=1).max(dim=1)
        self.bins += calibration_bins(confidence, predicted == labels)
        self.n += labels.numel()


def evaluate(teacher: Any = None, data: Any = None, *, max_images: int | None = None, batch_size: int = 256,
             device: str | torch.device | None = "auto", seed: int = 0, **resolve: Any) -> EvalResult:
    """Top-1, top-5, mean cross-entropy and ECE of ``teacher`` on ``data``'s test split.

    ``teacher`` and ``data`` are what :func:`dastat.setting.resolve_teacher_and_data`
    takes (specs or loaded objects; ``resolve`` passes its other keywords, e.g.
    ``workers``); ``max_images`` keeps a random subset of that many test images (``seed``).
    """
    from .distributed import resolve_device
    from .provenance import provenance
    from .setting import describe_inputs, resolve_teacher_and_data

    if batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    dev = resolve_device(device)
    teacher, data = resolve_teacher_and_data(teacher, data, device=dev, **resolve)
    if data.test is None:
        raise UserError(f"{data.spec or data.name} has no test split to evaluate on (a val/ or test/ folder)")
    if max_images is not None and max_images < len(data.test):
        data = data.subset(test=max_images, seed=seed)
    totals, start = _Totals(), time.perf_counter()
    with torch.inference_mode():
        for x, y in data.test.batches(batch_size):
            totals.update(teacher(x.to(dev, non_blocking=True)), y)
    recorded = check_against_record(teacher, totals.hits[1] / totals.n, totals.n)
    return EvalResult(
        recorded_top1=recorded and recorded[1], recorded_key=recorded and recorded[0],
        top1=totals.hits[1] / totals.n, top5=totals.hits[5] / totals.n, loss=totals.loss / totals.n,
        ece=ece_from_bins(totals.bins), n_images=totals.n, teacher=getattr(teacher, "source", str(teacher)),
        data=data.spec, seconds=round(time.perf_counter() - start, 3), inputs=describe_inputs(teacher, data),
        provenance=provenance(device=dev, teacher=teacher, data=data, batch_size=batch_size, seed=seed,
                              max_images=max_images))
