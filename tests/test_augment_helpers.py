"""Tiny models, contexts and batches shared by the augmentation tests (no tests here)."""

from __future__ import annotations

import torch
from torch import nn

from dastat.augment import AugmentContext


def tiny_net(channels: int = 1, classes: int = 5, seed: int = 0) -> nn.Module:
    """A small deterministic classifier for images of any size."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(channels, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, classes),
    )
    # Non-trivial BatchNorm statistics, so eval and train mode differ.
    net[1].running_mean.uniform_(-0.5, 0.5)
    return net.eval()


def context(channels: int = 1, classes: int = 5, policy: str | None = "cifar10") -> AugmentContext:
    return AugmentContext(
        num_classes=classes, image_size=None, channels=channels, mean=(0.3,) * channels, std=(0.3,) * channels,
        autoaugment_policy=policy, teacher=tiny_net(channels, classes, 0), student=tiny_net(channels, classes, 1),
    )


def batch(n: int, channels: int = 1, size: int = 12, dtype=torch.uint8, seed: int = 0, classes: int = 5):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, channels, size, size), generator=g, dtype=torch.uint8)
    if dtype != torch.uint8:
        x = x.to(dtype) / 255
    y = torch.randint(0, classes, (n,), generator=g)
    return x, y


def registered_specs(*extra: str) -> list[str]:
    """Every registered DA, its ``per_sample=True`` variant where it has one, then ``extra`` specs."""
    from dastat.augment import available, registry

    specs = []
    for name in available():
        specs.append(name)
        if "per_sample" in registry.entry(name).params:
            specs.append(f"{name}(per_sample=True)")
    return specs + list(extra)

