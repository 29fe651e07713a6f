"""Tell which zoo architecture a state dict belongs to, from its keys and shapes alone.

A RepDistiller / CRD checkpoint does not name its architecture, but no two zoo
entries have the same set of keys (even resnet8 and resnet8x4 differ: the wider one
has a shortcut convolution in its first stage), and every shape is checked as well,
so a match is exact. The class count and the input channels are read from the
classifier and the first convolution, so a CIFAR-10 or a one-channel teacher is
recognised too.

>>> import torch
>>> from dastat import models
>>> state = models.create_model("wrn_16_2", num_classes=10).state_dict()
>>> detect_architecture(state)
['wrn_16_2']
>>> fit("wrn_16_2", state).num_classes
10
>>> result = fit("resnet8", models.create_model("resnet8x4").state_dict())
>>> result.ok, len(result.unexpected), len(result.mismatched)
(False, 6, 46)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Mapping

import torch

from . import create_meta, list_models

#: BatchNorm's step counter: old checkpoints lack it and it never changes a forward pass.
OPTIONAL_SUFFIX = "num_batches_tracked"


@dataclass
class Fit:
    """How a state dict compares with a network's own: what is missing, extra or misshapen."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, list[int], list[int]]] = field(default_factory=list)
    num_classes: int | None = None
    in_channels: int | None = None

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    @property
    def differences(self) -> int:
        return len(self.missing) + len(self.unexpected) + len(self.mismatched)

    def summary(self, limit: int = 2) -> str:
        """One line naming the first few differing keys of each kind."""

        def some(items: list[str]) -> str:
            return ", ".join(items[:limit]) + (", …" if len(items) > limit else "")

        def keys(n: int) -> str:
            return f"{n} key" if n == 1 else f"{n} keys"

        parts = []
        if self.missing:
            parts.append(f"{keys(len(self.missing))} missing from the file ({some(self.missing)})")
        if self.unexpected:
            parts.append(f"{keys(len(self.unexpected))} not in the model ({some(self.unexpected)})")
        if self.mismatched:
            shapes = [f"{k}: {list(got)} in the file, {list(want)} in the model" for k, got, want in self.mismatched]
            parts.append(f"{keys(len(self.mismatched))} with other shapes ({'; '.join(shapes[:limit])}"
                         + ("; …)" if len(shapes) > limit else ")"))
        return ", ".join(parts) if parts else "all keys and shapes agree"


def compare(expected: Mapping[str, torch.Tensor | torch.Size], state: Mapping[str, torch.Tensor]) -> Fit:
    """Compare ``state`` with the keys and shapes a network expects (``expected``)."""
    shapes = {k: tuple(v.shape) if isinstance(v, torch.Tensor) else tuple(v) for k, v in expected.items()}
    return Fit(missing=[k for k in shapes if k not in state and not k.endswith(OPTIONAL_SUFFIX)],
               unexpected=[k for k in state if k not in shapes],
               mismatched=[(k, list(state[k].shape), list(shape)) for k, shape in shapes.items()
                           if k in state and tuple(state[k].shape) != shape])


@dataclass(frozen=True)
class _Signature:
    keys: frozenset[str]
    input_key: str
    classifier_key: str


@functools.cache
def _signature(name: str) -> _Signature:
    state = create_meta(name).state_dict()
    required = frozenset(k for k in state if not k.endswith(OPTIONAL_SUFFIX))
    return _Signature(required, input_key=first_conv_key(state), classifier_key=classifier_key(state))


def first_conv_key(state: Mapping[str, torch.Tensor]) -> str | None:
    """Key of the first 4-D weight: the convolution that sees the image."""
    return next((k for k, v in state.items() if v.ndim == 4), None)


def classifier_key(state: Mapping[str, torch.Tensor]) -> str | None:
    """Key of the last 2-D weight: the linear layer that produces the logits."""
    return next((k for k, v in reversed(list(state.items())) if v.ndim == 2 and k.endswith("weight")), None)


def class_count(state: Mapping[str, torch.Tensor], head_key: str | None) -> int | None:
    """The classes a classifier predicts: its bias's length when it has one (a transposed weight
    then shows as a mismatch against the right shape), else its weight's rows."""
    head = state.get(head_key) if head_key else None
    if head is None or head.ndim != 2:
        return None
    bias = state.get(head_key[: -len("weight")] + "bias")
    return int(bias.shape[0]) if isinstance(bias, torch.Tensor) and bias.ndim == 1 else int(head.shape[0])


def fit(name: str, state: Mapping[str, torch.Tensor]) -> Fit:
    """Compare ``state`` with zoo architecture ``name``, sized by the file's classes and channels."""
    sig = _signature(name)
    stem = state.get(sig.input_key)
    num_classes = class_count(state, sig.classifier_key)
    in_channels = int(stem.shape[1]) if stem is not None and stem.ndim == 4 else None
    model = create_meta(name, num_classes=num_classes or 100, in_channels=in_channels or 3)
    result = compare(model.state_dict(), state)
    result.num_classes, result.in_channels = num_classes, in_channels
    return result


def detect_architecture(state: Mapping[str, torch.Tensor]) -> list[str]:
    """Every zoo architecture whose keys and shapes ``state`` has (one for any zoo checkpoint)."""
    keys = {k for k in state if not k.endswith(OPTIONAL_SUFFIX)}
    return [name for name in list_models() if _signature(name).keys == keys and fit(name, state).ok]


def closest_architecture(state: Mapping[str, torch.Tensor]) -> tuple[str, Fit]:
    """The zoo architecture with the fewest differing keys, and how it differs."""
    keys = set(state)
    # Rank by key overlap first: building a meta network for all 22 is cheap, but this is cheaper.
    ranked = sorted(list_models(), key=lambda n: len(_signature(n).keys ^ keys))
    fits = [(name, fit(name, state)) for name in ranked[:3]]
    return min(fits, key=lambda nf: nf[1].differences)
