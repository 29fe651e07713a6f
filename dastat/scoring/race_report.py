"""What a race's outcome does not say by itself: a best at the grid's edge, a budget too small to race.

* :func:`grid_edges` — a best candidate whose strength is the largest or smallest value
  its grid offers may only be the best *of the grid*: a stronger (or weaker) value may
  be better still, so the grid should be extended before the answer is trusted.
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
