"""The column catalogue: every statistic the scorer produces has one entry, and every table reads it."""

from __future__ import annotations

import torch

from dastat.augment import AugmentContext, create
from dastat.display import short_name, unit
from dastat.plot import axis_label
from dastat.scoring.collector import DACollector
from dastat.scoring.protocols import Units, feed_pairs
from dastat.stats.columns import (COLUMNS, OUTCOMES, RANKABLE, SCORES, STUDENT_ONLY, VALIDATED, column,
                                  direction)
from dastat.stats import GROUP_SIZE, TStddev
from dastat.stats.companions import CE_STATISTICS, Companions


def test_the_papers_directions():
    # The paper: a lower T. stddev and lower cross-entropy (co)variances mean a better DA; students are
    # better with a lower test loss and a higher top-1; affinity and view KL describe, they do not grade.
    assert direction("t_stddev") == direction("T. stddev") == "lower"
    assert all(direction(n) == "lower" for n in ("ce_cov", "ce_cov_t", "risk_var", "ce_var_t", "test_loss"))
    assert direction("test_acc") == direction("teacher_entropy") == "higher"
    assert direction("affinity") is direction("kl_view") is direction("no_such_column") is None
    assert column("no_such_column") is None


def _collector(student: bool) -> DACollector:
    aug = create("flip", AugmentContext())
    return DACollector(aug, Units("pair", TStddev(10, GROUP_SIZE), feed_pairs), student=student)


def test_every_statistic_the_scorer_makes_is_catalogued():
    estimates = _collector(student=True).estimates()
    made = {"t_stddev", "teacher_entropy"} | {k for k in estimates if not k.endswith("_ci")}
    assert made <= set(SCORES), made - set(SCORES)
    assert {*CE_STATISTICS, *Companions.STATISTICS} <= set(COLUMNS)


def test_rankable_columns_are_the_ones_a_collector_can_rank_by():
    assert set(_collector(student=True)._rankable()) == set(RANKABLE)
    without = set(_collector(student=False)._rankable())
    assert without == set(RANKABLE) - set(STUDENT_ONLY)
    assert set(STUDENT_ONLY) == set(CE_STATISTICS)


def test_tables_read_the_catalogue():
    assert short_name("ce_cov_cross_t") == "CE covariance across images, teacher-only"
    assert unit("kl_view") == "nats" and unit("unknown") is None and short_name("unknown") == "unknown"
    assert axis_label("order_violation") == "order violations (share, lower is better)"
    assert "test_loss" in OUTCOMES and "t_stddev" not in OUTCOMES
    # Validation tables carry each statistic beside its teacher-only version.
    assert VALIDATED[:4] == ("t_stddev", "teacher_entropy", "ce_cov", "ce_cov_t")
    assert all(COLUMNS[n].kind == "score" for n in VALIDATED)


def test_every_statistic_class_names_a_catalogued_column():
    from dastat.stats import SplitTStddev, TeacherEntropy, TStddev

    for cls in (TStddev, SplitTStddev, TeacherEntropy):
        assert cls.name in COLUMNS, cls
    stat = Companions().statistic("kl_view")
    assert stat.name in COLUMNS and isinstance(stat.compute().value, float)
    assert torch.isnan(torch.tensor(Companions().estimates(mixes=True)["order_violation"].value))
