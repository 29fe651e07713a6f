"""The weight initialisation the RepDistiller/CRD architectures share.

He-normal convolutions by fan-out (``normal(0, sqrt(2 / (k·k·out_channels)))``), unit
batch-norm scales with zero shifts, zero convolution biases; the classifier drawn from
``normal(0, linear_std)`` with a zero bias where the original code does so.
"""

from __future__ import annotations

from torch import nn


def init_weights(model: nn.Module, *, linear_std: float | None = None, linear_bias: bool = False) -> None:
    """Initialise ``model`` in place: ``linear_std`` draws the classifier's weights (None keeps torch's),
    ``linear_bias`` (or a ``linear_std``) zeroes its bias."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            if linear_std is not None:
                nn.init.normal_(m.weight, 0.0, linear_std)
            if linear_std is not None or linear_bias:
                nn.init.zeros_(m.bias)
