"""The :class:`Teacher` type, and :class:`Loaded`: a network read from a spec before its normalisation is settled."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from torch import nn

from ..models.normalize import Normalized


class Teacher(Normalized):
    """A frozen classifier in eval mode that owns its input normalisation.

    Call it on floats in [0, 1] or uint8 (N×C×H×W) to get logits; the bare network stays
    reachable as ``.model``.
    """

    def __init__(
        self,
        model: nn.Module,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        num_classes: int,
        in_channels: int,
        arch: str | None = None,
        source: str = "",
        meta: dict[str, Any] | None = None,
    ):
        super().__init__(model.eval(), mean, std)
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.arch = arch
        self.source = source
        self.meta = dict(meta or {})

    def train(self, mode: bool = True) -> "Teacher":
        # A teacher is never trained: keep BatchNorm on its running statistics.
        return super().train(False)

    def extra_repr(self) -> str:
        return f"arch={self.arch}, num_classes={self.num_classes}, source={self.source!r}"


@dataclass
class Loaded:
    """A network read from a spec, before its normalisation is settled."""

    model: nn.Module
    arch: str | None
    num_classes: int
    in_channels: int
    format: str
    source: str
    mean: Sequence[float] | None = None
    std: Sequence[float] | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    preprocessing: dict[str, Any] | None = None  # size, resize, interpolation of the weights' own transform
