"""Statistics of a teacher's outputs under a data augmentation, as mergeable accumulators."""

from .accumulators import Accumulator, MeanAccumulator, UnitMoments, jackknife, t_interval
from .tstddev import GROUP_SIZE, Estimate, Grouper, MeanStat, TStddev, entropy, t_stddev

__all__ = [
    "Accumulator", "Estimate", "GROUP_SIZE", "Grouper", "MeanAccumulator", "MeanStat", "TStddev",
    "UnitMoments", "entropy", "jackknife", "t_interval", "t_stddev",
]
