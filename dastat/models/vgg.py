"""VGGs with BatchNorm for CIFAR (vgg8, vgg11, vgg13, vgg16, vgg19).

The CIFAR variant of the RepDistiller / CRD code: five convolutional blocks
(``block0`` … ``block4``, each a ``Sequential`` of conv-BN-ReLU without its last
ReLU), max-pooling between the first four, global average pooling and one linear
``classifier``. As there, the pooling after ``block3`` is used only on 64×64 inputs
(Tiny ImageNet), so that 32×32 images reach ``block4`` at 4×4.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from .init import init_weights

#: Output widths of the convolutions in each of the five blocks.
CONFIGS: dict[str, list[list[int]]] = {
    "vgg8": [[64], [128], [256], [512], [512]],
    "vgg11": [[64], [128], [256, 256], [512, 512], [512, 512]],
    "vgg13": [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]],
    "vgg16": [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]],
    "vgg19": [[64, 64], [128, 128], [256, 256, 256, 256], [512, 512, 512, 512], [512, 512, 512, 512]],
}


def _make_block(widths: list[int], in_channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Conv2d(in_channels, width, kernel_size=3, padding=1), nn.BatchNorm2d(width),
                   nn.ReLU(inplace=True)]
        in_channels = width
    # The block's last ReLU is applied in forward(), keeping the pre-activation reachable.
    return nn.Sequential(*layers[:-1])


class VGG(nn.Module):
    """A five-block VGG with BatchNorm; ``cfg`` gives each block's convolution widths."""

    def __init__(self, cfg: list[list[int]], num_classes: int = 100, in_channels: int = 3):
        super().__init__()
        self.block0 = _make_block(cfg[0], in_channels)
        self.block1 = _make_block(cfg[1], cfg[0][-1])
        self.block2 = _make_block(cfg[2], cfg[1][-1])
        self.block3 = _make_block(cfg[3], cfg[2][-1])
        self.block4 = _make_block(cfg[4], cfg[3][-1])
        self.pool0 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.pool1 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.pool2 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.pool3 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.pool4 = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Linear(cfg[4][-1], num_classes)

        init_weights(self, linear_std=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height = x.shape[2]
        x = self.pool0(F.relu(self.block0(x)))
        x = self.pool1(F.relu(self.block1(x)))
        x = self.pool2(F.relu(self.block2(x)))
        x = F.relu(self.block3(x))
        if height == 64:
            x = self.pool3(x)
        x = F.relu(self.block4(x))
        x = self.pool4(x).flatten(1)
        return self.classifier(x)


#: The architectures this module adds to the zoo: name -> factory taking ``num_classes``/``in_channels``.
ARCHS = {name: partial(VGG, widths) for name, widths in CONFIGS.items()}
