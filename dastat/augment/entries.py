"""A registry entry: how to build a DA by name, the parameters it accepts and the flags it declares."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

from .base import Augmentation
from .spec import format_value

REQUIRED = inspect.Parameter.empty
#: The facts about a DA that the statistics rely on (see :mod:`dastat.augment.base`).
FLAGS = ("mixes", "shared_randomness", "batch_dependent", "deterministic")


@dataclass
class Entry:
    """One registered DA: how to build it and what it accepts."""

    name: str
    build: Callable[..., Augmentation]  # build(context, **kwargs)
    params: dict[str, Any]  # name -> default (REQUIRED when there is none)
    summary: str
    flags: dict[str, bool]  # FLAGS with their defaults' values

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``dastat augment list --json``."""
        params = [{"name": k, "required": v is REQUIRED, "default": None if v is REQUIRED else v}
                  for k, v in self.params.items()]
        return {"name": self.name, "description": self.summary, "parameters": params, **self.flags}

    def signature(self) -> str:
        """``name(key=default, ...)`` as ``dastat augment list`` prints it."""
        if not self.params:
            return self.name
        parts = [k if v is REQUIRED else f"{k}={format_value(v)}" for k, v in self.params.items()]
        return f"{self.name}({', '.join(parts)})"


def summary_of(obj: Any, fallback: str) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else fallback


def params_of(fn: Callable, skip: tuple[str, ...]) -> dict[str, Any]:
    out = {}
    for p in inspect.signature(fn).parameters.values():
        if p.name in skip or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out[p.name] = p.default
    return out
