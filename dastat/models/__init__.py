"""The CIFAR-style model zoo, under the names the KD community uses.

Every architecture has the module names, parameter names and shapes of the
RepDistiller / CRD code, so the teachers trained there load without renaming;
:func:`dastat.models.detect.detect_architecture` tells them apart from a state dict.

>>> net = create_model("resnet8", num_classes=10, in_channels=1)
>>> "resnet20" in list_models() and "MobileNetV2" in list_models()
True
>>> num_params("resnet20")
278324
"""

from __future__ import annotations

import difflib
from typing import Callable

import torch
from torch import nn

from ..errors import UserError
from . import mobilenetv2, resnet, resnetv2, shufflenet, vgg, wrn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {
    **resnet.ARCHS, **wrn.ARCHS, **vgg.ARCHS,
    "MobileNetV2": mobilenetv2.MobileNetV2_half,
    "ShuffleV1": shufflenet.ShuffleV1,
    "ShuffleV2": shufflenet.ShuffleV2,
    "ResNet50": resnetv2.ResNet50,
}


def list_models() -> list[str]:
    """Names of every architecture in the zoo (as ``timm.list_models``)."""
    return list(_REGISTRY)


def _factory(name: str) -> Callable[..., nn.Module]:
    try:
        return _REGISTRY[name]
    except KeyError:
        # Names are case-sensitive as in the community's code; forgive the case only in the hint.
        folded = {n.lower(): n for n in _REGISTRY}
        close = [folded[name.lower()]] if name.lower() in folded else difflib.get_close_matches(name, _REGISTRY, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UserError(f"unknown architecture {name!r}{hint}; see 'dastat zoo list' for the names") from None


def create_model(name: str, num_classes: int = 100, in_channels: int = 3) -> nn.Module:
    """Build architecture ``name`` with freshly initialised weights (as ``timm.create_model``)."""
    return _factory(name)(num_classes=num_classes, in_channels=in_channels)


def create_meta(name: str, num_classes: int = 100, in_channels: int = 3) -> nn.Module:
    """Build ``name`` on the meta device: the right keys and shapes at no memory or init cost."""
    factory = _factory(name)
    with torch.device("meta"):
        return factory(num_classes=num_classes, in_channels=in_channels)


def num_params(name: str, num_classes: int = 100, in_channels: int = 3) -> int:
    """Number of parameters of ``name`` (buffers such as BatchNorm statistics excluded)."""
    return sum(p.numel() for p in create_meta(name, num_classes, in_channels).parameters())
