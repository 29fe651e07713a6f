"""A network that takes images in [0, 1] (or uint8) and applies its own normalisation.

Teachers (:class:`dastat.teacher.Teacher`) and the students the trainer makes share it,
so a student's checkpoint (``model.*``, ``mean``, ``std``) loads back as a teacher.

>>> import torch
>>> net = Normalized(torch.nn.Flatten(), mean=[0.5], std=[0.25])
>>> net(torch.tensor([[[[0, 255]]]], dtype=torch.uint8)).tolist()
[[-2.0, 2.0]]
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class Normalized(nn.Module):
    """``model((x - mean) / std)``, with uint8 input scaled to [0, 1] first.

    ``channels_last`` hands the network its input in that memory format (faster
    convolutions on CUDA).
    """

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float], *,
                 channels_last: bool = False):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.channels_last = channels_last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            x = x.float().div_(255)
        x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model(x)
