"""dastat: choose the data augmentation for knowledge distillation from the teacher alone.

A good data augmentation (DA) for knowledge distillation lowers the covariance of
the teacher–student cross-entropy; the teacher-only proxy "T. stddev" (the standard
deviation of the teacher's mean probability) ranks DAs the way students' test loss
does (Wang et al., NeurIPS 2022). dastat measures it, fast and with confidence
intervals, and closes the loop with a KD trainer, correlations and plots.

>>> import dastat
>>> ranking = dastat.rank(["identity", "cutmix"], max_images=1024)  # doctest: +SKIP
>>> ranking.to_frame()[["da", "t_stddev", "t_stddev_ci"]]           # doctest: +SKIP

Heavy modules (torch models, scipy, pandas, matplotlib) load on first use, so
``import dastat`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "score": "dastat.scoring",
    "rank": "dastat.scoring",
    "ScoreResult": "dastat.scoring",
    "Ranking": "dastat.scoring",
    "tune": "dastat.scoring",
    "TuneResult": "dastat.scoring",
    "ScoreConfig": "dastat.scoring",
    "load_teacher": "dastat.teacher",
    "Teacher": "dastat.teacher",
    "load_data": "dastat.data",
    "evaluate": "dastat.evaluation",
    "correlate": "dastat.analysis",
    "correlate_groups": "dastat.analysis",
    "load_results": "dastat.tables",
    "UserError": "dastat.errors",
}

__all__ = sorted(_EXPORTS) + ["augment", "models", "plot", "stats"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    if name in ("augment", "models", "plot", "stats", "kd"):
        return importlib.import_module(f"dastat.{name}")
    raise AttributeError(f"module 'dastat' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
