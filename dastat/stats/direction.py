"""Which direction is better for each statistic dastat reports — the one place that says so.

Ranking, reports and plots read :func:`direction`; a statistic class states the same
fact as its ``direction`` attribute. The paper's proposition is that a good DA lowers
the teacher–student cross-entropy (co)variances, so those are "lower"; affinity and
the KL between an image and its view describe a DA rather than grade it (``None``).

>>> direction("t_stddev"), direction("test_acc"), direction("kl_view")
('lower', 'higher', None)
"""

from __future__ import annotations

DIRECTION: dict[str, str | None] = {
    "t_stddev": "lower",
    "teacher_entropy": "higher",
    "ce_var": "lower", "ce_cov": "lower", "ce_cov_cross": "lower", "risk_var": "lower",
    "ce_var_t": "lower", "ce_cov_t": "lower", "ce_cov_cross_t": "lower", "risk_var_t": "lower",
    "order_violation": "lower",
    "affinity": None, "kl_view": None,
    # Outcomes of training a student.
    "test_loss": "lower", "s_test_loss": "lower",
    "test_acc": "higher", "s_test_acc": "higher", "test_top1": "higher", "test_top5": "higher",
}


def direction(name: str) -> str | None:
    """``"lower"`` or ``"higher"`` if that is better for ``name``; ``None`` when neither (or unknown)."""
    return DIRECTION.get(name.lower().replace(". ", "_").replace(" ", "_"))
