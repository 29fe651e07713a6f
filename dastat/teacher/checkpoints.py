"""Checkpoint formats, sniffed from a file's first bytes, and the zoo network the weights fit; the
bundled teacher, read from the package."""

from __future__ import annotations

import json
import pickle
import re
import struct
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from .. import models
from ..errors import UserError
from ..models import detect
from .model import Loaded

BUNDLED = "fashion_mnist_resnet20"

#: Entries of a checkpoint dict that may hold the state dict, in the order they are tried.
STATE_DICT_ENTRIES = ("model", "state_dict", "model_state_dict", "net")

#: Prefixes that wrappers add to every key (DataParallel/DDP, torch.compile, Lightning).
WRAPPER_PREFIXES = ("module.", "_orig_mod.", "model.")


def bundled_manifest() -> dict[str, Any]:
    """The manifest entry of the bundled teacher (architecture, accuracy, sha256, …)."""
    path = resources.files("dastat") / "zoo" / "manifest.json"
    try:
        return json.loads(path.read_text())[BUNDLED]
    except (FileNotFoundError, KeyError):
        raise UserError("the bundled teacher is missing from this installation; reinstall dastat "
                        "or pass --teacher FILE") from None


def load_bundled() -> Loaded:
    from safetensors.torch import load_file

    entry = bundled_manifest()
    weights = resources.files("dastat") / "zoo" / entry["file"]
    model = models.create_model(entry["arch"], num_classes=entry["num_classes"], in_channels=entry["in_channels"])
    model.load_state_dict(load_file(str(weights)))
    return Loaded(model, arch=entry["arch"], num_classes=entry["num_classes"], in_channels=entry["in_channels"],
                  format="bundled", source=f"bundled:{BUNDLED}", mean=entry.get("mean"), std=entry.get("std"),
                  extras={k: v for k, v in entry.items() if k not in ("mean", "std", "num_classes", "in_channels")
                          and isinstance(v, (int, float))},
                  meta=dict(entry))


@dataclass
class _Contents:
    """What a file holds: a state dict, or (TorchScript, trusted pickle) a whole network."""

    format: str
    state: dict[str, torch.Tensor] | None = None
    module: nn.Module | None = None
    entries: dict[str, Any] = field(default_factory=dict)  # the checkpoint dict's other entries
    stripped_prefix: str = ""


def _sniff(path: Path) -> str:
    """The container format, from the first bytes: 'zip', 'torchscript', 'safetensors' or 'pickle'."""
    if not path.exists():
        raise UserError(f"teacher file {path} does not exist")
    if path.is_dir():
        raise UserError(f"{path} is a directory; pass the checkpoint file inside it")
    with open(path, "rb") as f:
        head = f.read(9)
    size = path.stat().st_size
    if size == 0:
        raise UserError(f"{path} is empty; pass a checkpoint file")
    if head[:4] == b"PK\x03\x04":
        try:
            names = zipfile.ZipFile(path).namelist()
        except (zipfile.BadZipFile, OSError):
            raise UserError(f"{path} is truncated or corrupt: it starts like a PyTorch checkpoint "
                            "but its zip archive is incomplete") from None
        # TorchScript archives carry the network's compiled code next to its tensors.
        if any("/code/" in n or n.endswith("constants.pkl") for n in names):
            return "torchscript"
        return "zip"
    if len(head) == 9 and head[8:9] == b"{" and 0 < struct.unpack("<Q", head[:8])[0] <= size - 8:
        return "safetensors"
    if head[:1] == b"\x80":  # a pickle's PROTO opcode: the legacy (pre-1.6) torch.save format
        return "pickle"
    raise UserError(f"{path} is not a checkpoint: it is neither a PyTorch, a TorchScript nor a safetensors file")


_UNSUPPORTED_GLOBAL = re.compile(r"(?:Unsupported global|GLOBAL)[: ]+(?:GLOBAL )?([\w.]+)")


def _torch_load(path: Path, trust: bool) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Weights only load failed" not in str(exc):
            raise UserError(f"{path} is not a readable checkpoint ({first_line(exc)})") from None
        if not trust:
            found = _UNSUPPORTED_GLOBAL.search(str(exc))
            what = f" ({found.group(1)})" if found else ""
            raise UserError(
                f"{path} holds a pickled Python object{what}, and unpickling it can run code: pass "
                "--trust-checkpoint (trust=True) only if you trust its source, or save its state_dict() instead"
            ) from None
    except (RuntimeError, EOFError, KeyError, ValueError, OSError, AttributeError, IndexError) as exc:
        raise UserError(f"{path} is truncated or not a checkpoint ({first_line(exc)})") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (ModuleNotFoundError, AttributeError) as exc:
        raise UserError(f"{path} is a pickled network whose code is not importable here ({first_line(exc)}); "
                        "run from the directory of the code that saved it, or save its state_dict() instead") from None
    except Exception as exc:  # an arbitrary pickle can fail in arbitrary ways
        raise UserError(f"{path} could not be unpickled ({type(exc).__name__}: {first_line(exc)})") from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def _strip_prefixes(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str]:
    state, stripped = dict(state), ""
    changed = True
    while changed:
        changed = False
        for prefix in WRAPPER_PREFIXES:
            if state and all(k.startswith(prefix) for k in state):
                state = {k[len(prefix):]: v for k, v in state.items()}
                stripped += prefix
                changed = True
    return state, stripped


def read_checkpoint(path: Path, trust: bool) -> _Contents:
    kind = _sniff(path)
    if kind == "torchscript":
        try:
            module = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:  # TorchScript reports corrupt archives as various RuntimeErrors
            raise UserError(f"{path} is a TorchScript archive that could not be loaded ({first_line(exc)})") from None
        return _Contents("torchscript", module=module)
    if kind == "safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file, safe_open

        try:
            state = load_file(str(path))
            with safe_open(str(path), "pt") as f:
                metadata = f.metadata() or {}
        except (SafetensorError, OSError, ValueError) as exc:
            raise UserError(f"{path} is truncated or not a safetensors file ({first_line(exc)})") from None
        state, prefix = _strip_prefixes(state)
        return _Contents("safetensors", state=state, entries=_parse_metadata(metadata), stripped_prefix=prefix)

    obj = _torch_load(path, trust)
    fmt = "state dict"
    entries: dict[str, Any] = {}
    if isinstance(obj, Mapping) and not _is_state_dict(obj):
        holder = next((k for k in STATE_DICT_ENTRIES if k in obj), None)
        if holder is None:
            raise UserError(f"{path} holds a dict with entries {', '.join(map(str, list(obj)[:6]))} but none of "
                            f"{', '.join(repr(k) for k in STATE_DICT_ENTRIES)}, so it has no network to load")
        entries = {k: v for k, v in obj.items() if k != holder}
        fmt = "RepDistiller/CRD checkpoint" if holder == "model" else f"checkpoint dict ('{holder}')"
        obj = obj[holder]
    if isinstance(obj, nn.Module):
        return _Contents("pickled module" if not entries else f"pickled module in a {fmt}", module=obj,
                         entries=entries)
    if not _is_state_dict(obj):
        raise UserError(f"{path} holds a {type(obj).__name__}, not a network's state dict")
    state, prefix = _strip_prefixes(obj)
    return _Contents(fmt, state=state, entries=entries, stripped_prefix=prefix)


def _parse_metadata(metadata: Mapping[str, str]) -> dict[str, Any]:
    """Safetensors metadata is str → str; decode the JSON values (mean, std, num_classes, …)."""
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        try:
            out[key] = json.loads(value)
        except (TypeError, ValueError):
            out[key] = value
    return out


def _summarise_entries(entries: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Split a checkpoint's other entries into reportable scalars and ignored structures."""
    extras, ignored = {}, []
    for key, value in entries.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, (bool, int, float, str)):
            extras[str(key)] = value
        elif key in ("mean", "std") and isinstance(value, (list, tuple, torch.Tensor)):
            extras[str(key)] = [float(v) for v in value]
        else:
            ignored.append(str(key))
    return extras, ignored


def _folder_arch(path: Path) -> str | None:
    """RepDistiller's convention: the teacher lives in ``save/models/<arch>_vanilla/``."""
    folder = path.resolve().parent.name
    names = sorted(models.list_models(), key=len, reverse=True)
    return next((n for n in names if folder.startswith(n + "_")), None)


def _state_heads(state: Mapping[str, torch.Tensor]) -> tuple[int | None, int | None]:
    head, stem = detect.classifier_key(state), detect.first_conv_key(state)
    return (detect.class_count(state, head), int(state[stem].shape[1]) if stem else None)


def _probe_classes(model: nn.Module, in_channels: int) -> int:
    try:
        with torch.inference_mode():
            return int(model.eval()(torch.zeros(1, in_channels, 32, 32)).shape[-1])
    except Exception as exc:  # an opaque network: say what was tried
        raise UserError(f"cannot tell the class count of this network ({first_line(exc)}); "
                        "pass num_classes") from None


def _load_zoo_state(path: Path, contents: _Contents, arch: str | None) -> tuple[nn.Module, str, detect.Fit]:
    """Build the zoo network that ``contents.state`` fits, reading arch from the weights or hints."""
    state = contents.state
    assert state is not None
    if arch is not None:
        result = detect.fit(arch, state)  # raises UserError for unknown names
        if not result.ok:
            raise UserError(f"the weights in {path} do not fit {arch}: {result.summary()}")
    else:
        found = detect.detect_architecture(state)
        hint = contents.entries.get("arch")
        hints = [h for h in (hint if isinstance(hint, str) else None, _folder_arch(path)) if h in models.list_models()]
        if len(found) > 1:
            found = [a for a in found if a in hints] or found
        if len(found) == 1:
            arch = found[0]
        elif found:
            raise UserError(f"the weights in {path} fit several architectures ({', '.join(found)}); pass --arch")
        elif hints:
            result = detect.fit(hints[0], state)
            raise UserError(f"the weights in {path} do not fit {hints[0]} (named by its folder or 'arch' entry): "
                            f"{result.summary()}")
        else:
            name, result = detect.closest_architecture(state)
            raise UserError(
                f"the weights in {path} fit no architecture in the zoo (the closest, {name}, differs in "
                f"{result.differences} keys: {result.summary(limit=1)}); for a torchvision or timm network "
                "pass --teacher torchvision:NAME:FILE or timm:NAME:FILE")
        result = detect.fit(arch, state)
    model = models.create_model(arch, num_classes=result.num_classes or 100, in_channels=result.in_channels or 3)
    load_state(model, state)
    return model, arch, result


def load_state(model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    # Keys and shapes were checked already; strict=False only lets old files lack num_batches_tracked.
    own = model.state_dict()
    cast = {k: v.to(own[k].dtype) if k in own and v.is_floating_point() else v for k, v in state.items()}
    model.load_state_dict(cast, strict=False)


def load_path(path: Path, arch: str | None, trust: bool) -> Loaded:
    contents = read_checkpoint(path, trust)
    extras, ignored = _summarise_entries(contents.entries)
    meta: dict[str, Any] = {"stripped_prefix": contents.stripped_prefix} if contents.stripped_prefix else {}
    if contents.module is not None:
        model = contents.module
        state = model.state_dict()
        matches = detect.detect_architecture(state)
        if arch is not None and arch not in matches:
            result = detect.fit(arch, state)
            raise UserError(f"the network in {path} is not a {arch}: {result.summary()}")
        num_classes, in_channels = _state_heads(state)
        in_channels = in_channels or 3
        num_classes = num_classes or _probe_classes(model, in_channels)
        # A scripted module keeps the Python class name as original_name.
        arch = matches[0] if len(matches) == 1 else getattr(model, "original_name", type(model).__name__)
    else:
        model, arch, result = _load_zoo_state(path, contents, arch)
        num_classes, in_channels = result.num_classes or 100, result.in_channels or 3
    return Loaded(model, arch=arch, num_classes=num_classes, in_channels=in_channels, format=contents.format,
                  source=str(path), mean=extras.pop("mean", None), std=extras.pop("std", None),
                  extras=extras, ignored=ignored, meta=meta)
