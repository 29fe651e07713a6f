"""Networks from the hubs: ``torchvision:NAME[:WEIGHTS]`` and ``timm:NAME[:WEIGHTS]``, with the
preprocessing their weights were trained with (size, resize, interpolation, mean, std)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from ..errors import UserError
from ..models import detect
from .checkpoints import first_line, load_state, read_checkpoint
from .model import Loaded


def _split_hub_spec(spec: str) -> tuple[str, str, str | None]:
    library, _, rest = spec.partition(":")
    name, _, weights = rest.partition(":")
    if not name:
        raise UserError(f"{spec!r} names no model; write {library}:NAME or {library}:NAME:WEIGHTS_FILE")
    return library, name, weights or None


def _read_weights_file(path: Path, trust: bool) -> dict[str, torch.Tensor]:
    contents = read_checkpoint(path, trust)
    if contents.state is None:
        assert contents.module is not None
        return dict(contents.module.state_dict())
    return contents.state


def _fit_and_load(model: nn.Module, state: Mapping[str, torch.Tensor], what: str, path: Path) -> None:
    result = detect.compare(model.state_dict(), state)
    if not result.ok:
        raise UserError(f"the weights in {path} do not fit {what}: {result.summary()}")
    load_state(model, state)


def _torchvision_preprocessing(weights: Any) -> tuple[dict[str, Any] | None, list | None, list | None]:
    """(size/resize/interpolation, mean, std) of a torchvision weights entry's ``transforms()``."""
    try:
        t = weights.transforms()
        return ({"size": int(t.crop_size[0]), "resize": int(t.resize_size[0]),
                 "interpolation": t.interpolation.value}, list(t.mean), list(t.std))
    except (AttributeError, TypeError, IndexError):  # not an image classification transform
        return None, None, None


def _unknown_model(library: str, name: str, available: Sequence[str], where: str) -> UserError:
    import difflib

    close = difflib.get_close_matches(name, available, n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    return UserError(f"{library} has no model {name!r} (valid names: {where}){hint}")


def load_torchvision(spec: str, trust: bool) -> Loaded:
    import torchvision

    _, name, weights = _split_hub_spec(spec)
    available = torchvision.models.list_models()
    if name not in available:
        raise _unknown_model("torchvision", name, available, "torchvision.models.list_models()")
    if weights is not None and (Path(weights).exists() or any(c in weights for c in "/\\.")):
        path = Path(weights)
        state = _read_weights_file(path, trust)
        with torch.device("meta"):
            reference = torchvision.models.get_model(name, weights=None).state_dict()
        head = detect.classifier_key(reference)
        num_classes = int(state[head].shape[0]) if head in state else 1000
        model = torchvision.models.get_model(name, weights=None, num_classes=num_classes)
        _fit_and_load(model, state, f"torchvision's {name}", path)
        try:  # the architecture's default weights describe its input; their metadata ships with the code
            prep, mean, std = _torchvision_preprocessing(torchvision.models.get_model_weights(name).DEFAULT)
        except (KeyError, ValueError, AttributeError):
            prep = mean = std = None
        return Loaded(model, arch=name, num_classes=num_classes, in_channels=3, format="torchvision",
                      source=f"torchvision:{name}:{path}", preprocessing=prep, mean=mean, std=std)
    try:
        enum = torchvision.models.get_model_weights(name)
        chosen = enum[weights or "DEFAULT"]  # DEFAULT is an alias member of every weights enum
    except (KeyError, ValueError):
        raise UserError(f"torchvision has no weights {weights or 'DEFAULT'!r} for {name}; pass a local file "
                        f"as torchvision:{name}:FILE") from None
    try:
        model = torchvision.models.get_model(name, weights=chosen)
    except Exception as exc:  # no network, proxy errors, corrupt cache …
        raise UserError(f"could not fetch torchvision's {chosen} weights ({first_line(exc)}); download them "
                        f"elsewhere and pass torchvision:{name}:FILE") from None
    prep, mean, std = _torchvision_preprocessing(chosen)
    return Loaded(model, arch=name, num_classes=len(chosen.meta["categories"]), in_channels=3,
                  format="torchvision", source=f"torchvision:{name}:{chosen._name_}",
                  mean=mean, std=std, preprocessing=prep)


def _timm_preprocessing(cfg: Mapping[str, Any]) -> dict[str, Any] | None:
    """size/resize/interpolation of a timm pretrained config (``input_size``, ``crop_pct``, ``interpolation``)."""
    if not cfg or "input_size" not in cfg:
        return None
    size = int(cfg["input_size"][-1])
    crop_pct = float(cfg.get("crop_pct") or 1.0)
    return {"size": size, "resize": int(math.floor(size / crop_pct)),
            "interpolation": cfg.get("interpolation") or "bilinear"}


def load_timm(spec: str, trust: bool) -> Loaded:
    try:
        import timm
    except ModuleNotFoundError:
        raise UserError("timm is not installed: pip install 'dastat[timm]' to load timm:NAME teachers") from None
    _, name, weights = _split_hub_spec(spec)
    if not timm.is_model(name):
        raise _unknown_model("timm", name, timm.list_models(), "timm.list_models()")
    if weights is not None:
        path = Path(weights)
        state = _read_weights_file(path, trust)
        with torch.device("meta"):
            reference = timm.create_model(name, pretrained=False)
        head, stem = detect.classifier_key(reference.state_dict()), detect.first_conv_key(reference.state_dict())
        num_classes = int(state[head].shape[0]) if head in state else 1000
        in_channels = int(state[stem].shape[1]) if stem in state else 3
        model = timm.create_model(name, pretrained=False, num_classes=num_classes, in_chans=in_channels)
        _fit_and_load(model, state, f"timm's {name}", path)
        cfg = dict(reference.pretrained_cfg or {})  # the default weights' config, known offline
        same = len(cfg.get("mean") or ()) == in_channels
        return Loaded(model, arch=name, num_classes=num_classes, in_channels=in_channels, format="timm",
                      source=f"timm:{name}:{path}", preprocessing=_timm_preprocessing(cfg),
                      mean=list(cfg["mean"]) if same else None, std=list(cfg["std"]) if same else None)
    try:
        model = timm.create_model(name, pretrained=True)
    except Exception as exc:  # no network, missing weights for this name, …
        raise UserError(f"could not fetch timm's pretrained {name} ({first_line(exc)}); download the weights "
                        f"elsewhere and pass timm:{name}:FILE") from None
    cfg = model.pretrained_cfg
    return Loaded(model, arch=name, num_classes=model.num_classes, in_channels=cfg.get("input_size", (3,))[0],
                  format="timm", source=f"timm:{name}", mean=list(cfg["mean"]), std=list(cfg["std"]),
                  preprocessing=_timm_preprocessing(cfg))
