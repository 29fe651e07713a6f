"""The CIFAR-style model zoo, under the names the KD community uses.

>>> net = create("resnet8", num_classes=10, in_channels=1)
>>> "resnet20" in list()
True
"""

from __future__ import annotations

import builtins
import difflib
from typing import Callable

from torch import nn

from ..errors import UserError
from . import resnet

_REGISTRY: dict[str, Callable[..., nn.Module]] = {
    name: getattr(resnet, name)
    for name in ("resnet8", "resnet14", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
                 "resnet8x4", "resnet32x4")
}


def list() -> builtins.list[str]:  # noqa: A001 - mirrors timm.list_models / torch.hub.list
    """Names of every architecture in the zoo."""
    return builtins.list(_REGISTRY)


def create(name: str, num_classes: int = 100, in_channels: int = 3) -> nn.Module:
    """Build architecture ``name`` with freshly initialised weights."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UserError(f"unknown architecture {name!r}{hint}; see 'dastat zoo list'") from None
    return factory(num_classes=num_classes, in_channels=in_channels)
