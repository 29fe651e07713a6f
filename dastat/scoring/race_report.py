"""What a race's outcome does not say by itself: a best at the grid's edge, a budget too small to race.

* :func:`grid_edges` — a best candidate whose strength is the largest or smallest value
  its grid offers may only be the best *of the grid*: a stronger (or weaker) value may
  be better still, so the grid should be extended before the answer is trusted.
* :func:`budget_to_decide` — a race the budget stopped with candidates neither dropped nor
  tied: the images that would decide every one of them, from each live candidate's
  difference to the best and its standard error, which shrinks as ``1/sqrt(n)``.
* :func:`race_budget` — a race looks first after :data:`~dastat.scoring.race.FIRST_LOOK`
  blocks; a budget of no more blocks than that looks once, at the budget, so the race
  saves nothing. It says what ``--max-images`` (and how many forwards) would give two looks.
"""

from __future__ import annotations

import math
from typing import Sequence

from ..augment.spec import expand_grid, parse


def _numeric(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def grid_edges(best: str, grids: Sequence[str]) -> list[str]:
    """Each numeric setting of ``best`` that is at the edge of the values its grid offers, as
    ``"mixup's alpha=2 is the largest in its grid"``; empty when none is (or ``best`` is in no grid).

    >>> grid_edges("mixup(alpha=2)", ["mixup(alpha=0.2|0.5|1|2)"])
    ["mixup's alpha=2 is the largest in its grid"]
    >>> grid_edges("mixup(alpha=0.5)", ["mixup(alpha=0.2|0.5|1|2)"])
    []
    """
    grid = next((g for g in grids if best in expand_grid(g)), None)
    if grid is None:
        return []
    candidates = [parse(spec) for spec in expand_grid(grid)]
    found = []
    for i, (name, kwargs) in enumerate(parse(best)):
        for key, value in kwargs.items():
            offered = {c[i][1].get(key) for c in candidates if len(c) > i and c[i][0] == name}
            if not _numeric(value) or len(offered) < 2 or not all(_numeric(v) for v in offered):
                continue
            if value in (max(offered), min(offered)):
                side = "largest" if value == max(offered) else "smallest"
                found.append(f"{name}'s {key}={value:g} is the {side} in its grid")
    return found


def race_budget(looks: Sequence[int], batch_size: int, views_per_image: Sequence[float],
                first_look: int) -> dict[str, int] | None:
    """None when the race has at least two looks; else the smallest ``max_images`` (and the forwards it implies)
    with which it would: one block past the first look for the costliest candidate, whose draws bind the budget.

    ``views_per_image`` is each candidate's forwards per original beyond the original; ``first_look`` the
    schedule's first look in blocks.
    """
    if len(looks) >= 2:
        return None
    blocks = first_look + 1
    images = blocks * batch_size
    worst = max(views_per_image)
    max_images = int(math.ceil(images * max(1.0, (1 + worst) / 2)))
    forwards = int(images * (1 + sum(views_per_image)))
    return {"max_images": max_images, "forwards": forwards}


def budget_to_decide(diffs, best: str, live: Sequence[str], quantile: float, tolerance: float,
                     images: int, margin: float = 0.0) -> int | None:
    """The images per candidate with which every live candidate would be dropped or tied with ``best``.

    ``diffs(j, best)`` is ``(r, se)``, the relative difference and its standard error after ``images``; with
    ``n`` images the error is ``se · sqrt(images / n)``. Candidate ``j`` is dropped once ``(r - margin) / se_n``
    reaches ``quantile`` (the level of the next drop) and tied once ``r + quantile · se_n`` is below ``tolerance``;
    whichever comes first decides it. None when a difference has no standard error.

    >>> budget_to_decide(lambda j, i: (0.02, 0.02), "a", ["a", "b"], 2.0, 0.01, 1000)  # (2 · 0.02 / 0.02)² = 4
    4000
    """
    need = 0.0
    for j in live:
        if j == best:
            continue
        r, se = diffs(j, best)
        if not (math.isfinite(r) and math.isfinite(se)) or se <= 0:
            return None
        ways = [(quantile * se / (r - margin)) ** 2 if r > margin else math.inf,
                (quantile * se / (tolerance - r)) ** 2 if r < tolerance else math.inf]
        need = max(need, min(ways))
    return int(math.ceil(images * need)) if math.isfinite(need) and need > 0 else None
