"""Teachers: a frozen network that takes images in [0, 1] and normalises them itself.

``load_teacher(None)`` gives the bundled Fashion-MNIST resnet20; a path with
``arch=`` loads a RepDistiller/CRD checkpoint or a plain state dict, always with
``weights_only=True``.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from . import models
from .errors import UserError

BUNDLED = "fashion_mnist_resnet20"


class Teacher(nn.Module):
    """A frozen classifier in eval mode that owns its input normalisation.

    Call it on floats in [0, 1] (N×C×H×W) to get logits; the bare network stays
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
        super().__init__()
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.arch = arch
        self.source = source
        self.meta = dict(meta or {})

    def train(self, mode: bool = True) -> "Teacher":
        # A teacher is never trained: keep BatchNorm on its running statistics.
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            x = x.float().div_(255)
        return self.model((x - self.mean) / self.std)

    def extra_repr(self) -> str:
        return f"arch={self.arch}, num_classes={self.num_classes}, source={self.source!r}"


def bundled_manifest() -> dict[str, Any]:
    """The manifest entry of the bundled teacher (architecture, accuracy, sha256, …)."""
    path = resources.files("dastat") / "zoo" / "manifest.json"
    return json.loads(path.read_text())[BUNDLED]


def _load_bundled() -> Teacher:
    from safetensors.torch import load_file

    entry = bundled_manifest()
    weights = resources.files("dastat") / "zoo" / entry["file"]
    model = models.create(entry["arch"], num_classes=entry["num_classes"], in_channels=entry["in_channels"])
    model.load_state_dict(load_file(str(weights)))
    return Teacher(model, entry["mean"], entry["std"], num_classes=entry["num_classes"],
                   in_channels=entry["in_channels"], arch=entry["arch"], source=f"bundled:{BUNDLED}", meta=entry)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.exists():
        raise UserError(f"teacher file {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for bad files
        raise UserError(f"{path} is not a readable PyTorch checkpoint ({str(exc).splitlines()[0]})") from None
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{path} holds no state dict")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_teacher(
    spec: str | Path | None = None,
    *,
    arch: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    num_classes: int | None = None,
    in_channels: int | None = None,
    trust: bool = False,
    device: str | torch.device | None = None,
) -> Teacher:
    """Load a teacher. ``None`` (or ``"bundled"``) is the bundled Fashion-MNIST resnet20."""
    if spec is None or str(spec) in ("bundled", BUNDLED):
        teacher = _load_bundled()
    else:
        path = Path(spec)
        state = _read_state_dict(path)
        if arch is None:
            raise UserError(f"cannot tell the architecture of {path}: pass --arch NAME")
        fc = [v for k, v in state.items() if k.endswith("weight") and v.ndim == 2]
        classes = num_classes or (fc[-1].shape[0] if fc else 100)
        first_conv = next((v for v in state.values() if v.ndim == 4), None)
        channels = in_channels or (first_conv.shape[1] if first_conv is not None else 3)
        model = models.create(arch, num_classes=classes, in_channels=channels)
        try:
            model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=False)
        except RuntimeError as exc:
            raise UserError(f"the weights in {path} do not fit {arch} ({str(exc).splitlines()[1].strip()})") from None
        if mean is None or std is None:
            raise UserError("pass the teacher's normalisation with --mean and --std, or a --data spec")
        teacher = Teacher(model, mean, std, num_classes=classes, in_channels=channels, arch=arch, source=str(path))
    if mean is not None and std is not None:
        teacher.mean.copy_(torch.tensor(mean).view(1, -1, 1, 1))
        teacher.std.copy_(torch.tensor(std).view(1, -1, 1, 1))
    return teacher.to(device) if device is not None else teacher
