"""Scoring data augmentations by T. stddev: :func:`score` one DA, :func:`rank` several.

The pieces, each in its own module: :class:`ScoreConfig` (the settings), the seeded
block stream (:mod:`.stream`), the protocols (:mod:`.protocols`), the per-DA
collector (:mod:`.collector`), the engine that runs them (:mod:`.engine`), what a
run returns (:class:`ScoreResult`, :class:`Ranking`), the one place that turns
teacher/data/student specs into models (:func:`resolve_inputs`), and the race that
:func:`tune` runs over a grid of DA strengths (:mod:`.race`).
"""

from ..stats.columns import RANKABLE
from .config import DEFAULT_DRAWS, DEFAULT_MAX_IMAGES, PROTOCOLS, ScoreConfig
from .engine import measure, rank, score
from .inputs import build_das, default_das, load_student, resolve_inputs
from .tune import TuneResult, tune
from .results import Ranking, ScoreResult
from .stream import Block, BlockStream

__all__ = [
    "Block", "BlockStream", "DEFAULT_DRAWS", "DEFAULT_MAX_IMAGES", "PROTOCOLS", "RANKABLE", "Ranking", "ScoreConfig",
    "ScoreResult", "TuneResult", "build_das", "default_das", "load_student", "measure", "rank", "resolve_inputs",
    "score", "tune",
]
