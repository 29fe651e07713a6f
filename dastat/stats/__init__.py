"""Statistics of a teacher's outputs under a data augmentation, as mergeable :class:`Statistic` objects."""

from .accumulators import Estimate, Statistic, jackknife, t_interval
from .columns import COLUMNS, Column, column, direction
from .tstddev import (GROUP_BATCHES, GROUP_SIZE, MeanStat, PaperGroups, SplitTStddev, TeacherEntropy, TStddev,
                      entropy, t_stddev)

__all__ = [
    "COLUMNS", "Column", "Estimate", "GROUP_BATCHES", "GROUP_SIZE", "MeanStat", "PaperGroups", "SplitTStddev", "Statistic",
    "TStddev", "TeacherEntropy", "column", "direction", "entropy", "jackknife", "t_interval", "t_stddev",
]
