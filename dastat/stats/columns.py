"""Every column dastat reports, in one catalogue: what it is called, its unit, what it
means, which direction is better, and what it can do (rank DAs, needs a student).

Ranking (``--by``), reports, the HTML page, plots and validation tables all read their
names, glossaries and orders from here; a statistic added to the scorer gets one row.
The paper's proposition is that a good DA lowers the teacher–student cross-entropy
(co)variances, so those are "lower"; affinity and the KL between an image and its view
describe a DA rather than grade it (no direction: ``context`` says what higher means).

>>> direction("t_stddev"), direction("test_acc"), direction("kl_view")
('lower', 'higher', None)
>>> COLUMNS["ce_cov_t"].label, COLUMNS["ce_cov_t"].rankable, COLUMNS["ce_cov"].needs_student
('CE covariance, image and view, teacher-only', True, True)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One reported column.

    ``kind`` is ``"score"`` (teacher-side, from ``dastat score``/``rank``), ``"outcome"``
    (trained students) or ``"run"`` (what a run cost or decided). ``rankable`` scores can
    order a ranking (``--by``); ``needs_student`` ones need ``--student``; ``validated``
    scores are copied into validation tables beside the students' outcomes.
    """

    name: str
    label: str
    description: str = ""
    unit: str | None = None
    direction: str | None = None
    context: str | None = None
    kind: str = "score"
    rankable: bool = False
    needs_student: bool = False
    validated: bool = False


_CE = [  # (name, label, description, validated): each has a student and a teacher-only ("_t") version
    ("ce_var", "CE variance", "Var of the teacher–student cross-entropy q = -Σ p_t log p_s per sample", False),
    ("ce_cov", "CE covariance, image and view", "Cov of q on an image and q on its view", True),
    ("ce_cov_cross", "CE covariance across images", "mean Cov of q between different images of one batch "
     "(shared random draw, shared partners)", False),
    ("risk_var", "risk variance", "variance of the empirical distilled risk of one batch, per image pair", True),
]


_ALL = [
    Column("t_stddev", "T. stddev", "T. stddev: sd of the teacher's mean probability over groups of 5 batches of "
           "images and their views, averaged over classes", direction="lower", rankable=True, validated=True),
    Column("teacher_entropy", "teacher entropy", "mean teacher entropy (nats) over originals and views", unit="nats",
           direction="higher", rankable=True, validated=True),
    *(Column(name, label, description, direction="lower", rankable=True, needs_student=True, validated=validated)
      for name, label, description, validated in _CE),
    *(Column(f"{name}_t", f"{label}, teacher-only", "ce_var with the student replaced by the teacher (q = teacher "
             "entropy)" if name == "ce_var" else f"{name}, teacher-only", direction="lower", rankable=True,
             validated=validated) for name, label, _, validated in _CE),
    Column("affinity", "affinity", "teacher top-1 on the views ÷ top-1 on the originals (Gontijo-Lopes et al. 2021)",
           context="higher = closer to the clean distribution", validated=True),
    Column("kl_view", "KL to the view", "mean KL(p_t(x) ‖ p_t(x_aug)) between an image and its view", unit="nats",
           context="higher = more diverse views", validated=True),
    Column("order_violation", "order violations", "share of mixed views whose teacher order of the two classes "
           "contradicts λ (Cui & Yan 2021); mixing DAs only", unit="share", direction="lower", validated=True),
    # Students' outcomes.
    Column("test_loss", "student test loss", "students' test cross-entropy (nats), mean over seeds",
           unit="cross-entropy (nats)", direction="lower", kind="outcome"),
    Column("test_loss_std", "sd of student test loss", "standard deviation of the students' test loss over seeds",
           unit="nats", kind="outcome"),
    Column("test_acc", "student test top-1", "students' test top-1 (%), mean over seeds", unit="%",
           direction="higher", kind="outcome"),
    Column("test_acc_std", "sd of student test top-1", "standard deviation of the students' test top-1 over seeds",
           unit="%", kind="outcome"),
    Column("n_seeds", "students per DA", "students trained per DA", kind="outcome"),
    Column("s_test_loss", "student test loss", unit="cross-entropy (nats)", direction="lower", kind="outcome"),
    Column("s_test_acc", "student test top-1", unit="%", direction="higher", kind="outcome"),
    Column("test_top1", "student test top-1", unit="%", direction="higher", kind="outcome"),
    Column("test_top5", "student test top-5", unit="%", direction="higher", kind="outcome"),
    # What a run cost or decided.
    Column("distinct_from_next", "told from the next", kind="run"),
    Column("p_next", "p against the next", kind="run"),
    Column("relative_half_width", "relative half-width", kind="run"),
    Column("seconds", "seconds", kind="run"),
    Column("n_forward", "teacher forward passes", kind="run"),
    Column("n_images", "images", kind="run"),
    Column("eliminated_after", "eliminated after", unit="images", kind="run"),
]

#: The catalogue, by column name.
COLUMNS: dict[str, Column] = {c.name: c for c in _ALL}

#: Statistics a ranking can be sorted by (``--by``), and those of them that need a student.
RANKABLE = tuple(c.name for c in _ALL if c.rankable)
STUDENT_ONLY = tuple(c.name for c in _ALL if c.needs_student)
_ORDER = {c.name: i for i, c in enumerate(_ALL)}
#: Teacher-side scores copied into validation tables (with their ``_ci``), each beside its teacher-only version.
VALIDATED = tuple(sorted((c.name for c in _ALL if c.validated), key=lambda n: _ORDER[n.removesuffix("_t")]))
#: Scores with a meaning to explain (glossaries), in catalogue order.
SCORES = tuple(c.name for c in _ALL if c.kind == "score")
OUTCOMES = tuple(c.name for c in _ALL if c.kind == "outcome" and c.description)


def column(name: str) -> Column | None:
    """The catalogue's entry for ``name`` (``"T. stddev"`` finds ``t_stddev``); None when unknown."""
    return COLUMNS.get(name.lower().replace(". ", "_").replace(" ", "_"))


def direction(name: str) -> str | None:
    """``"lower"`` or ``"higher"`` if that is better for ``name``; ``None`` when neither (or unknown)."""
    found = column(name)
    return found.direction if found else None
