"""Teachers: a frozen network that takes images in [0, 1] and normalises them itself.

:func:`load_teacher` accepts what people already have:

- ``None`` or ``"bundled"``: the bundled Fashion-MNIST resnet20;
- a RepDistiller / CRD checkpoint (``{'model': state_dict, 'epoch': …}``), a plain state
  dict (with or without DataParallel's ``module.`` prefix or ``num_batches_tracked``
  buffers) or a safetensors file, for any architecture of :mod:`dastat.models`, which is
  recognised from the weights;
- a TorchScript archive;
- ``torchvision:NAME[:WEIGHTS]`` and ``timm:NAME[:WEIGHTS]``, where ``WEIGHTS`` is a
  local file (or, for torchvision, a weights name such as ``IMAGENET1K_V1``); without
  it the library's pretrained weights are downloaded.

Files are read with ``torch.load(weights_only=True)``, which rebuilds tensors and plain
containers only. A fully pickled ``nn.Module`` needs ``trust=True``
(``--trust-checkpoint``), because unpickling it can run any code the file names.

The teacher's normalisation is, in order of precedence: ``mean``/``std`` given here,
the one stored with the checkpoint, the defaults of the data it will see.

>>> import os, tempfile, torch
>>> from dastat import models
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt_epoch_240.pth")
>>> torch.save({"model": models.create_model("resnet8", num_classes=10).state_dict(), "epoch": 240}, path)
>>> teacher = load_teacher(path, data="cifar10")
>>> teacher.arch, teacher.num_classes, teacher.in_channels, teacher.meta["extras"]
('resnet8', 10, 3, {'epoch': 240})
>>> teacher(torch.rand(2, 3, 32, 32)).shape
torch.Size([2, 10])
"""

from __future__ import annotations

import json
import math
import pickle
import re
import struct
import warnings
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from . import models
from .errors import UserError
from .models import detect
from .models.normalize import Normalized

BUNDLED = "fashion_mnist_resnet20"

#: Entries of a checkpoint dict that may hold the state dict, in the order they are tried.
STATE_DICT_ENTRIES = ("model", "state_dict", "model_state_dict", "net")

#: Prefixes that wrappers add to every key (DataParallel/DDP, torch.compile, Lightning).
WRAPPER_PREFIXES = ("module.", "_orig_mod.", "model.")



class Teacher(Normalized):
    """A frozen classifier in eval mode that owns its input normalisation.

    Call it on floats in [0, 1] or uint8 (N×C×H×W) to get logits; the bare network stays
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
        super().__init__(model.eval(), mean, std)
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.arch = arch
        self.source = source
        self.meta = dict(meta or {})

    def train(self, mode: bool = True) -> "Teacher":
        # A teacher is never trained: keep BatchNorm on its running statistics.
        return super().train(False)

    def extra_repr(self) -> str:
        return f"arch={self.arch}, num_classes={self.num_classes}, source={self.source!r}"


# --- the bundled teacher --------------------------------------------------------


def bundled_manifest() -> dict[str, Any]:
    """The manifest entry of the bundled teacher (architecture, accuracy, sha256, …)."""
    path = resources.files("dastat") / "zoo" / "manifest.json"
    try:
        return json.loads(path.read_text())[BUNDLED]
    except (FileNotFoundError, KeyError):
        raise UserError("the bundled teacher is missing from this installation; reinstall dastat "
                        "or pass --teacher FILE") from None


def _load_bundled() -> "_Loaded":
    from safetensors.torch import load_file

    entry = bundled_manifest()
    weights = resources.files("dastat") / "zoo" / entry["file"]
    model = models.create_model(entry["arch"], num_classes=entry["num_classes"], in_channels=entry["in_channels"])
    model.load_state_dict(load_file(str(weights)))
    return _Loaded(model, arch=entry["arch"], num_classes=entry["num_classes"], in_channels=entry["in_channels"],
                   format="bundled", source=f"bundled:{BUNDLED}", mean=entry.get("mean"), std=entry.get("std"),
                   extras={k: v for k, v in entry.items() if k not in ("mean", "std", "num_classes", "in_channels")
                           and isinstance(v, (int, float))},
                   meta=dict(entry))


# --- reading files --------------------------------------------------------------


@dataclass
class _Loaded:
    """A network read from a spec, before its normalisation is settled."""

    model: nn.Module
    arch: str | None
    num_classes: int
    in_channels: int
    format: str
    source: str
    mean: Sequence[float] | None = None
    std: Sequence[float] | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    preprocessing: dict[str, Any] | None = None  # size, resize, interpolation of the weights' own transform


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
            raise UserError(f"{path} is not a readable checkpoint ({_first_line(exc)})") from None
        if not trust:
            found = _UNSUPPORTED_GLOBAL.search(str(exc))
            what = f" ({found.group(1)})" if found else ""
            raise UserError(
                f"{path} holds a pickled Python object{what}, and unpickling it can run code: pass "
                "--trust-checkpoint (trust=True) only if you trust its source, or save its state_dict() instead"
            ) from None
    except (RuntimeError, EOFError, KeyError, ValueError, OSError, AttributeError, IndexError) as exc:
        raise UserError(f"{path} is truncated or not a checkpoint ({_first_line(exc)})") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (ModuleNotFoundError, AttributeError) as exc:
        raise UserError(f"{path} is a pickled network whose code is not importable here ({_first_line(exc)}); "
                        "run from the directory of the code that saved it, or save its state_dict() instead") from None
    except Exception as exc:  # an arbitrary pickle can fail in arbitrary ways
        raise UserError(f"{path} could not be unpickled ({type(exc).__name__}: {_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
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


def _read(path: Path, trust: bool) -> _Contents:
    kind = _sniff(path)
    if kind == "torchscript":
        try:
            module = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:  # TorchScript reports corrupt archives as various RuntimeErrors
            raise UserError(f"{path} is a TorchScript archive that could not be loaded ({_first_line(exc)})") from None
        return _Contents("torchscript", module=module)
    if kind == "safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file, safe_open

        try:
            state = load_file(str(path))
            with safe_open(str(path), "pt") as f:
                metadata = f.metadata() or {}
        except (SafetensorError, OSError, ValueError) as exc:
            raise UserError(f"{path} is truncated or not a safetensors file ({_first_line(exc)})") from None
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
        raise UserError(f"cannot tell the class count of this network ({_first_line(exc)}); "
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
    _load_state(model, state)
    return model, arch, result


def _load_state(model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    # Keys and shapes were checked already; strict=False only lets old files lack num_batches_tracked.
    own = model.state_dict()
    cast = {k: v.to(own[k].dtype) if k in own and v.is_floating_point() else v for k, v in state.items()}
    model.load_state_dict(cast, strict=False)


def _load_file(path: Path, arch: str | None, trust: bool) -> _Loaded:
    contents = _read(path, trust)
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
    return _Loaded(model, arch=arch, num_classes=num_classes, in_channels=in_channels, format=contents.format,
                   source=str(path), mean=extras.pop("mean", None), std=extras.pop("std", None),
                   extras=extras, ignored=ignored, meta=meta)


# --- torchvision and timm -------------------------------------------------------


def _split_hub_spec(spec: str) -> tuple[str, str, str | None]:
    library, _, rest = spec.partition(":")
    name, _, weights = rest.partition(":")
    if not name:
        raise UserError(f"{spec!r} names no model; write {library}:NAME or {library}:NAME:WEIGHTS_FILE")
    return library, name, weights or None


def _read_weights_file(path: Path, trust: bool) -> dict[str, torch.Tensor]:
    contents = _read(path, trust)
    if contents.state is None:
        assert contents.module is not None
        return dict(contents.module.state_dict())
    return contents.state


def _fit_and_load(model: nn.Module, state: Mapping[str, torch.Tensor], what: str, path: Path) -> None:
    result = detect.compare(model.state_dict(), state)
    if not result.ok:
        raise UserError(f"the weights in {path} do not fit {what}: {result.summary()}")
    _load_state(model, state)


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


def _load_torchvision(spec: str, trust: bool) -> _Loaded:
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
        return _Loaded(model, arch=name, num_classes=num_classes, in_channels=3, format="torchvision",
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
        raise UserError(f"could not fetch torchvision's {chosen} weights ({_first_line(exc)}); download them "
                        f"elsewhere and pass torchvision:{name}:FILE") from None
    prep, mean, std = _torchvision_preprocessing(chosen)
    return _Loaded(model, arch=name, num_classes=len(chosen.meta["categories"]), in_channels=3,
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


def _load_timm(spec: str, trust: bool) -> _Loaded:
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
        return _Loaded(model, arch=name, num_classes=num_classes, in_channels=in_channels, format="timm",
                       source=f"timm:{name}:{path}", preprocessing=_timm_preprocessing(cfg),
                       mean=list(cfg["mean"]) if same else None, std=list(cfg["std"]) if same else None)
    try:
        model = timm.create_model(name, pretrained=True)
    except Exception as exc:  # no network, missing weights for this name, …
        raise UserError(f"could not fetch timm's pretrained {name} ({_first_line(exc)}); download the weights "
                        f"elsewhere and pass timm:{name}:FILE") from None
    cfg = model.pretrained_cfg
    return _Loaded(model, arch=name, num_classes=model.num_classes, in_channels=cfg.get("input_size", (3,))[0],
                   format="timm", source=f"timm:{name}", mean=list(cfg["mean"]), std=list(cfg["std"]),
                   preprocessing=_timm_preprocessing(cfg))


# --- public API -----------------------------------------------------------------


def _resolve(spec: str | Path | None, arch: str | None, trust: bool) -> _Loaded:
    if spec is None or str(spec) in ("bundled", BUNDLED):
        return _load_bundled()
    text = str(spec)
    if text.startswith("torchvision:"):
        return _load_torchvision(text, trust)
    if text.startswith("timm:"):
        return _load_timm(text, trust)
    if arch is not None:
        models.create_meta(arch)  # an unknown name is the user's first mistake to hear about
    with warnings.catch_warnings():
        # torch's notes on its own internals (legacy storages, TorchScript's deprecation) are not the user's concern.
        warnings.simplefilter("ignore", UserWarning)
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.", category=FutureWarning)
        return _load_file(Path(spec), arch, trust)


def _data_facts(data: Any) -> tuple[str, int | None, int | None, Sequence[float] | None, Sequence[float] | None]:
    """(name, classes, channels, mean, std) of an ``ImageData`` or a data spec, without loading CIFAR."""
    from .data import DATASETS, load_data, parse_spec

    if isinstance(data, str):
        info = DATASETS[parse_spec(data)[0]]
        if info.num_classes is not None:
            return info.name, info.num_classes, info.channels, info.mean, info.std
        data = load_data(data)  # an image folder: its classes are its sub-folders
    return data.name, data.num_classes, data.channels, data.mean, data.std


def _check_normalisation(mean: Sequence[float], std: Sequence[float], channels: int, origin: str,
                         source: str) -> None:
    """Check a normalisation, blaming where it came from: the flags, the checkpoint, or the data."""
    where = {"given": "{flag}", "checkpoint": f"the {{name}} stored in the checkpoint {source}"}.get(
        origin, f"the {{name}} of the data ({origin})")
    for flag, name, values in (("--mean", "mean", mean), ("--std", "std", std)):
        label = where.format(flag=flag, name=name)
        if len(values) not in (1, channels):
            raise UserError(f"{label} has {len(values)} values but the teacher takes {channels} channels")
        try:
            numbers = [float(v) for v in values]
        except (TypeError, ValueError):
            raise UserError(f"{label} must be numbers, not {list(values)}") from None
        if not all(math.isfinite(v) for v in numbers):
            raise UserError(f"{label} must be finite numbers, not {numbers}")
    if any(float(s) <= 0 for s in std):
        label = where.format(flag="--std", name="std")
        raise UserError(f"every value of {label} must be positive, not {[float(s) for s in std]}"
                        + ("; pass --mean and --std to override it" if origin == "checkpoint" else ""))


def infer_data(num_classes: int, in_channels: int) -> str | None:
    """The data spec a teacher of this shape was most likely trained on (None if no known data fits)."""
    from .data import dataset_of_shape

    return dataset_of_shape(num_classes, in_channels)


def load_teacher(
    spec: str | Path | None = None,
    *,
    arch: str | None = None,
    data: Any = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    num_classes: int | None = None,
    in_channels: int | None = None,
    trust: bool = False,
    device: str | torch.device | None = None,
) -> Teacher:
    """Load a teacher from ``spec`` (see the module docstring), frozen and in eval mode.

    ``data`` (an ``ImageData`` or a data spec such as ``"cifar100:ROOT"``) supplies the
    default normalisation and is checked against the teacher's classes and channels;
    without it, a teacher whose normalisation is not stored gets that of the data its
    shape implies (100 classes × 3 channels: CIFAR-100; 10 × 3: CIFAR-10; 10 × 1:
    Fashion-MNIST). ``num_classes``/``in_channels``, when given, are checked against the weights.
    """
    if (mean is None) != (std is None):
        raise UserError("pass --mean and --std together")
    loaded = _resolve(spec, arch, trust)
    for label, wanted, found in (("classes", num_classes, loaded.num_classes),
                                 ("input channels", in_channels, loaded.in_channels)):
        if wanted is not None and wanted != found:
            raise UserError(f"the teacher {loaded.source} has {found} {label}, not the {wanted} asked for")
    teacher = _build_teacher(loaded, data, mean, std)
    return teacher.to(device) if device is not None else teacher


def _build_teacher(loaded: _Loaded, data: Any, mean: Sequence[float] | None, std: Sequence[float] | None) -> Teacher:
    """Settle the normalisation of a network read from a spec: given, stored, the data's, or inferred."""
    data_mean = data_std = None
    if data is not None:
        name, classes, channels, data_mean, data_std = _data_facts(data)
        if classes is not None and classes != loaded.num_classes:
            raise UserError(f"the teacher {loaded.source} has {loaded.num_classes} classes but {name} has {classes}; "
                            "pass a teacher trained on this data")
        if channels is not None and channels != loaded.in_channels:
            raise UserError(f"the teacher {loaded.source} takes {loaded.in_channels}-channel images but {name} "
                            f"has {channels} channels; pass a teacher trained on this data")
    inferred = infer_data(loaded.num_classes, loaded.in_channels)
    if mean is not None and std is not None:
        norm, origin = (list(mean), list(std)), "given"
    elif loaded.mean is not None and loaded.std is not None:
        norm, origin = (list(loaded.mean), list(loaded.std)), "checkpoint"
    elif data_mean is not None and data_std is not None:
        norm, origin = (list(data_mean), list(data_std)), "data"
    elif inferred is not None:
        norm, origin = tuple(map(list, _data_facts(inferred)[3:])), f"inferred ({inferred})"
    else:
        raise UserError(f"the normalisation of {loaded.source} is unknown: pass --data, or --mean and --std "
                        "as used in its training")
    _check_normalisation(*norm, loaded.in_channels, origin, loaded.source)
    meta = dict(loaded.meta)
    meta.update(format=loaded.format, extras=loaded.extras, ignored=loaded.ignored, normalisation=origin,
                preprocessing=loaded.preprocessing)
    return Teacher(loaded.model, *norm, num_classes=loaded.num_classes, in_channels=loaded.in_channels,
                   arch=loaded.arch, source=loaded.source, meta=meta)


def _load_teacher_spec(spec: Any, arch: str | None, trust: bool) -> _Loaded:
    """``_resolve``, with every mistake said to be the teacher's."""
    try:
        return _resolve(spec, arch, trust)
    except UserError as exc:
        if "teacher" in str(exc):
            raise
        raise UserError(f"the teacher {str(spec)!r}: {exc}") from None


def _data_for(num_classes: int, in_channels: int, source: str, announce: bool) -> str:
    """The data spec implied by a teacher's shape, said on stderr (one line)."""
    import os
    import sys

    from .data import DATASETS, data_root_from_env

    name = infer_data(num_classes, in_channels)
    if name is None:
        raise UserError(f"the teacher {source} predicts {num_classes} classes from {in_channels}-channel images, "
                        "which matches no built-in dataset; pass --data SPEC (e.g. imagefolder:PATH)")
    if name == "fashion-mnist":
        return name  # the default data anyway: nothing new to say
    root = data_root_from_env() or "./data"
    where = f"{root} (from DASTAT_DATA)" if data_root_from_env() else root
    if announce:
        print(f"dastat: no --data given; the teacher has {num_classes} classes and {in_channels} channels, "
              f"so the data is {DATASETS[name].title} under {where} ({name}:{root})", file=sys.stderr)
    return f"{name}:{root}"


def resolve_teacher_and_data(
    teacher: Any = None,
    data: Any = None,
    *,
    options: Any = None,
    arch: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    trust: bool = False,
    device: str | torch.device | None = None,
    announce: bool = True,
) -> tuple[Teacher, Any]:
    """The teacher and the data it is run on, each settled by the other (the one place this happens).

    ``teacher`` is a spec or a loaded network, ``data`` a spec, an ``ImageData`` or None.
    Without data, the data is inferred from the teacher's classes and channels (said on
    stderr when ``announce``); image folders are read at the teacher's own resolution
    (its weights' metadata; ``size``/``resize`` override it) and in its channel count.
    Returns ``(teacher, data)``, checked to fit each other.
    """
    from .data import ImageData, Resolution, load_data

    if (mean is None) != (std is None):
        raise UserError("pass --mean and --std together")
    loaded = None if isinstance(teacher, nn.Module) else _load_teacher_spec(teacher, arch, trust)
    classes = loaded.num_classes if loaded else getattr(teacher, "num_classes", None)
    channels = loaded.in_channels if loaded else getattr(teacher, "in_channels", None)
    if data is None and (teacher is None or str(teacher) in ("bundled", BUNDLED)):
        data = "fashion-mnist"
    elif data is None:
        if classes is None or channels is None:
            raise UserError("the teacher does not say its classes and channels; pass --data SPEC")
        data = _data_for(classes, channels, loaded.source if loaded else getattr(teacher, "source", "given"), announce)
    if not isinstance(data, ImageData):
        prep = (loaded.preprocessing if loaded else getattr(teacher, "meta", {}).get("preprocessing")) or {}
        res = Resolution(prep["size"], prep.get("resize"), prep.get("interpolation") or "bilinear") if prep else None
        data = load_data(data, options, resolution=res, channels=channels)
    if loaded is not None:
        teacher = _build_teacher(loaded, data, mean, std)
    check_compatible(teacher, data)
    return (teacher.to(device) if device is not None else teacher), data


def describe_inputs(teacher: Any, data: Any) -> dict[str, Any]:
    """What a result should record about its inputs: the data's preprocessing and the teacher's normalisation."""
    out = dict(data.describe_preprocessing()) if hasattr(data, "describe_preprocessing") else {}
    for key in ("mean", "std"):
        value = getattr(teacher, key, None)
        out[key] = [round(float(v), 6) for v in value.flatten().tolist()] if isinstance(value, torch.Tensor) else None
    return out


def check_compatible(teacher: "Teacher", data: Any) -> None:
    """Raise a UserError unless ``teacher`` takes ``data``'s images and predicts its classes (the one place this is checked)."""
    classes = getattr(teacher, "num_classes", None)
    if classes is not None and classes != data.num_classes:
        raise UserError(f"the teacher predicts {classes} classes but {data.name} has {data.num_classes}; "
                        "pass the --data the teacher was trained on")
    channels = getattr(teacher, "in_channels", None)
    if channels is not None and channels != data.channels:
        raise UserError(f"the teacher takes {channels}-channel images but {data.name} has {data.channels} channels")
    # Zoo networks pool adaptively and take any image size; other networks are tried on two images.
    x = data.train.images[:2] if hasattr(data.train, "images") else None
    if x is not None and getattr(teacher, "arch", None) not in models.list_models():
        try:
            with torch.inference_mode():
                out = teacher(x.to(next(teacher.parameters()).device))
        except RuntimeError as exc:
            raise UserError(f"the teacher cannot take {data.name}'s {tuple(x.shape[1:])} images "
                            f"({str(exc).splitlines()[0]})") from None
        if out.ndim != 2 or out.shape[1] != data.num_classes:
            raise UserError(f"the teacher returns outputs of shape {tuple(out.shape)}, not N×{data.num_classes} logits")


def inspect_checkpoint(path: str | Path, *, trust: bool = False) -> dict[str, Any]:
    """Describe a teacher file (or any ``load_teacher`` spec) without needing data.

    Returns ``format``, ``arch``, ``num_classes``, ``in_channels``, ``params``,
    ``mean``/``std`` (when stored with it, else None), ``extras`` (scalar entries such
    as ``epoch`` and ``accuracy``) and ``ignored`` (other entries, e.g. ``optimizer``).
    """
    loaded = _resolve(path, None, trust)
    info = {
        "source": loaded.source,
        "format": loaded.format,
        "arch": loaded.arch,
        "num_classes": loaded.num_classes,
        "in_channels": loaded.in_channels,
        "params": sum(p.numel() for p in loaded.model.parameters()),
        "mean": None if loaded.mean is None else [float(v) for v in loaded.mean],
        "std": None if loaded.std is None else [float(v) for v in loaded.std],
        "extras": dict(loaded.extras),
        "ignored": list(loaded.ignored),
    }
    if loaded.meta.get("stripped_prefix"):
        info["stripped_prefix"] = loaded.meta["stripped_prefix"]
    return info
