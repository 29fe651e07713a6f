"""Statistics of a teacher's outputs under a data augmentation, as mergeable accumulators."""

from .accumulators import Accumulator, MeanAccumulator, UnitMoments, jackknife, t_interval
from .direction import DIRECTION, direction, lower_is_better
from .tstddev import GROUP_SIZE, Estimate, Grouper, MeanStat, TStddev, entropy, t_stddev

__all__ = [
    "Accumulator", "DIRECTION", "Estimate", "GROUP_SIZE", "Grouper", "MeanAccumulator", "MeanStat", "TStddev",
    "UnitMoments", "direction", "entropy", "jackknife", "lower_is_better", "t_interval", "t_stddev",
]
