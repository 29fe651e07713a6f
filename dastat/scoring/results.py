"""What scoring returns: :class:`ScoreResult` for one DA and :class:`Ranking` for several. Plain data."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

from ..errors import UserError
from ..io import json_safe
from ..stats.compare import MARGIN, PairedTest, paired_test


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
        return json_safe(out)

    def get(self, name: str) -> Any:
        """The statistic ``name``: a field, or an entry of ``extra`` (None when absent)."""
        return getattr(self, name) if name in self.__dataclass_fields__ else self.extra.get(name)


@dataclass
class Ranking:
    """Several DAs scored on the same images: ``results`` (best first after :func:`dastat.rank`),
    the model forwards the whole run made (``total_forward``; originals are shared between its
    DAs), its ``seconds``, per DA and statistic the leave-one-section-out values that paired
    tests need (``sections``), and the DAs left out with the reason (``left_out``)."""

    results: list[ScoreResult]
    total_forward: int = 0
    seconds: float = 0.0
    sections: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict, repr=False)
    #: DAs of the requested set that were not scored, each with the reason (``cutmix_pick_s`` without a student).
    left_out: dict[str, str] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Iterator[ScoreResult]:
        return iter(self.results)

    def __getitem__(self, index):
        return self.results[index]

    def compare(self, a: str, b: str, by: str | None = None, margin: float = MARGIN) -> PairedTest:
        """Paired test of DA ``a`` against DA ``b`` on the ranking's common images.

        Returns a :class:`dastat.stats.compare.PairedTest` (difference ``a - b`` in
        ``by``, its jackknife standard error, and the unadjusted two-sided p-value of
        "one exceeds the other by more than ``margin``", relative; ``margin=0`` tests
        equality, which differently skewed DAs fail far more often than the level says:
        docs/calibration.md).
        """
        missing = [d for d in (a, b) if d not in self.sections]
        if missing:
            raise UserError(f"no DA {missing[0]!r} in this ranking; it has: " + ", ".join(self.sections))
        by = by or (self.results[0].extra.get("rank_by", "t_stddev") if self.results else "t_stddev")
        if by not in self.sections[a]:
            raise UserError(f"this ranking has no paired values of {by!r}; it has: " + ", ".join(self.sections[a]))
        sa, sb = self.sections[a][by], self.sections[b][by]
        sections = sorted(set(sa["sections"]) | set(sb["sections"]))
        return paired_test(_leave_out(sa), _leave_out(sb), sections, margin)

    def to_records(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.results]

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.to_records())

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_records(), **{"indent": 2, "allow_nan": False, **kwargs})

    def __repr__(self) -> str:  # a short table, not every field of every result
        from ..display import ranking_text

        return ranking_text(self)

    def _repr_html_(self) -> str:  # a notebook shows this table
        from ..display import ranking_html

        return ranking_html(self)


def _leave_out(values: dict[str, Any]):
    """The statistic as a function of the section left out (None: all sections), from stored values."""
    def value(j: int | None) -> float:
        v = values["value"] if j is None else values["leave_one_out"][j]
        return math.nan if v is None else v

    return value
