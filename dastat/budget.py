"""What a scoring run did not do, in sentences: the notes printed under its table.

Nothing a run leaves out or cuts short is silent. :func:`notes` names

* a degenerate teacher (its outputs saturated or constant: see :mod:`dastat.scoring.degenerate`);
* each DA of the requested set that was not scored, with the reason (``Ranking.left_out``);
* each DA without a T. stddev (or without an interval), which is then not ranked, with
  the budget that would give it one;
* each DA that the fast protocol's budget stopped before its interval reached the asked
  precision, with why (what one unit of its estimate is and its forwards per image) and the
  budget that would reach it.

The budget estimate uses that the interval's width shrinks as ``1/sqrt(n)``: a DA at
relative half-width ``h`` after ``n`` images needs about ``n (h / precision)²`` images.
Its ``--max-images`` is that many images, or half the forwards they and their views
take (the budget is ``max_images`` originals or ``2 × max_images`` forwards, whichever
comes first).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

#: Blocks the fast protocol runs before it first checks a DA's precision (see :mod:`dastat.scoring.protocols`).
FIRST_CHECK_BLOCKS = 32


def max_images_for(images: int, forwards: int, images_needed: float) -> int:
    """The ``--max-images`` that lets a DA that made ``forwards`` forwards on ``images`` originals use
    ``images_needed`` originals, rounded up to two significant digits.

    >>> max_images_for(384, 2048, 10_000)  # a mixing DA: 5.3 forwards per original, so forwards bind
    27000
    >>> max_images_for(1024, 2048, 5_000)
    5000
    """
    per_image = forwards / images if images else 2.0
    need = images_needed * max(1.0, per_image / 2)
    digits = max(0, int(math.floor(math.log10(need))) - 1)
    return int(math.ceil(need / 10 ** digits) * 10 ** digits)


def _has(value: Any) -> bool:
    return value is not None and math.isfinite(float(value))


def _why_slow(r) -> str:
    """Why a DA's interval narrows slowly per image: what one unit of its estimate is and what it costs."""
    per_image = r.n_forward / r.n_images if r.n_images else math.nan
    cost = f"{per_image:.3g} forwards per image"
    batch = int(r.extra.get("batch_size") or 64)
    if r.unit == "block":
        return f"its views depend on the whole batch, so each block of {batch} images is one unit; {cost}"
    if r.unit == "split":
        return (f"it draws once per batch, so its precision rests on {int(r.extra.get('draws') or 1)} draws per "
                f"block of {batch} images; {cost}")
    return cost


def _cut_short(r, precision: float) -> str | None:
    """The note for a DA the budget stopped before the asked precision, or None."""
    half = r.relative_half_width
    if r.converged or not _has(r.t_stddev) or not math.isfinite(half) or half <= precision:
        return None
    need = max_images_for(r.n_images, r.n_forward, r.n_images * (half / precision) ** 2)
    return (f"{r.da} stopped at its budget ({r.n_images:,} images, {r.n_forward:,} forwards) at "
            f"±{100 * half:.1f}%, not the asked ±{100 * precision:.1f}% ({_why_slow(r)}); "
            f"about --max-images {need:,} would reach it")


def _no_value(r, batch_size: int) -> tuple[str, str] | None:
    """For a DA without a T. stddev or without its interval: what it lacks, and why with the budget that gives
    one (the same for DAs that ran alike, so they share one note); None for a DA with both."""
    if _has(r.t_stddev) and all(_has(v) for v in r.t_stddev_ci):
        return None
    what = "no T. stddev, so not ranked" if not _has(r.t_stddev) else "a T. stddev but no interval"
    if r.protocol == "paper":
        more = "more --epochs or a larger training split give one"
    else:
        more = f"--max-images {max_images_for(r.n_images, r.n_forward, FIRST_CHECK_BLOCKS * batch_size):,} gives one"
    return what, (f"{r.n_images:,} images made {r.n_units} {r.unit} unit(s) each, too few for an estimate "
                  f"with an interval; {more}")


def notes(results: Sequence) -> list[str]:
    """The sentences to print under a table of ``results`` (a :class:`~dastat.scoring.Ranking` or a list)."""
    out = []
    results = list(results) if not hasattr(results, "left_out") else results
    first = results[0] if len(results) else None
    reason = first.extra.get("degenerate_teacher") if first is not None else None
    if reason:
        out.append(f"the teacher's outputs are {reason} over the images, so these values say nothing about the DAs "
                   "(wrong --mean/--std, or broken weights?); every DA was stopped after the first few batches")
    for da, why in getattr(results, "left_out", {}).items():
        out.append(f"{da} is not in this ranking: {why}")
    lacking: dict[tuple[str, str], list[str]] = {}
    short: list[str] = []
    for r in results:
        missing = _no_value(r, int(r.extra.get("batch_size") or 64))
        if missing is not None:
            lacking.setdefault(missing, []).append(r.da)
        elif r.protocol == "fast" and not reason and (note := _cut_short(r, float(r.extra.get("precision") or 0.01))):
            short.append(note)
    grouped = [f"{', '.join(das)} {'has' if len(das) == 1 else 'have'} {what}: {why}"
               for (what, why), das in lacking.items()]
    return out + grouped + short
