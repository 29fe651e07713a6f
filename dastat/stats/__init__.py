"""Statistics of a teacher's outputs under a data augmentation, as mergeable :class:`Statistic` objects."""

from .accumulators import Estimate, Statistic, jackknife, t_interval
from .direction import DIRECTION, direction
from .tstddev import (GROUP_BATCHES, GROUP_SIZE, MeanStat, PaperGroups, SplitTStddev, TeacherEntropy, TStddev,
                      entropy, t_stddev)

__all__ = [
    "DIRECTION", "Estimate", "GROUP_BATCHES", "GROUP_SIZE", "MeanStat", "PaperGroups", "SplitTStddev", "Statistic",
    "TStddev", "TeacherEntropy", "direction", "entropy", "jackknife", "t_interval", "t_stddev",
]
