"""The registry of data augmentations: names, parameters, and ``create(spec)``.

Every DA is registered under a name with its parameters (taken from its signature,
defaults included) and a one-line summary (the first line of its docstring). A user
adds their own with :func:`register`, from an :class:`~dastat.augment.base.Augmentation`
subclass, a callable on a batch, or a ``torchvision.transforms.v2`` transform, and it
can then be scored by name like a built-in.

>>> from dastat.augment import create
>>> create("cutmix(alpha=1.0)").spec   # defaults are dropped from the canonical spec
'cutmix'
>>> create("cutmix(per_sample=True)").spec
'cutmix(per_sample=True)'
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any

import torch

from ..errors import UserError
from . import wrap
from .base import AugmentContext, Augmentation
from .compose import Compose
from .entries import FLAGS, REQUIRED, Entry, params_of, summary_of
from .spec import format_step, parse

#: The nine DAs of the paper, in its order.
PAPER_DAS = (
    "identity", "flip", "crop_flip", "cutout", "autoaugment",
    "mixup", "cutmix", "cutmix_pick_s", "cutmix_pick_t",
)

_REGISTRY: dict[str, Entry] = {}


def _entry_for(name: str, obj: Any, options: dict[str, Any]) -> Entry:
    if inspect.isclass(obj) and issubclass(obj, Augmentation):
        if obj.apply is Augmentation.apply:
            raise TypeError(f"{name} must implement apply(x, y, params), and sample(x, y, generator=...) if it draws")
        params = params_of(obj.__init__, ("self", "context"))
        flags = {k: bool(getattr(obj, k)) for k in FLAGS}
        return Entry(name, lambda context, **kw: obj(context=context, **kw), params, summary_of(obj, name), flags)
    if isinstance(obj, torch.nn.Module) or (inspect.isclass(obj) and issubclass(obj, torch.nn.Module)):
        params = {} if not inspect.isclass(obj) else params_of(obj.__init__, ("self",))
        params["per_sample"] = False
        summary = options.get("summary") or summary_of(obj, f"torchvision transform {type(obj).__name__}")

        def build(context, per_sample=False, **kw):
            transform = obj(**kw) if inspect.isclass(obj) else obj
            return wrap.TransformAugmentation(transform, context, per_sample=per_sample, **_flags(options))

        return Entry(name, build, params, summary, _flags(options, table=True))
    if callable(obj):
        params = params_of(obj, ("x", "y", "generator"))
        summary = options.get("summary") or summary_of(obj, f"user function {getattr(obj, '__name__', name)}")

        def build(context, **kw):
            return wrap.FunctionAugmentation(obj, context, kwargs=kw, **_flags(options))

        return Entry(name, build, params, summary, _flags(options, table=True))
    raise TypeError(f"cannot register {obj!r}: expected an Augmentation subclass, a callable or a transform")


def _flags(options: dict[str, Any], table: bool = False) -> dict[str, Any]:
    """The flags a user gave at registration; with ``table``, every flag with the wrappers' defaults."""
    given = {k: options[k] for k in ("mixes", "shared_randomness", "deterministic") if k in options}
    if not table:
        return given
    return {**{"mixes": False, "shared_randomness": True, "batch_dependent": False, "deterministic": False}, **given}


def register(target: Any = None, obj: Any = None, **options: Any) -> Any:
    """Register a DA so that :func:`create` (and ``dastat``'s ``--da``) know it by name.

    Forms::

        @register                      # an Augmentation subclass, named by its ``name``,
        class MyAug(Augmentation): ...  # with sample(x, y, generator=g) and apply(x, y, params)

        @register("blur", shared_randomness=False)
        def blur(x, *, sigma=1.0, generator=None):  # callable on a batch; returns x, (x, y)
            ...                                     # or an AugmentResult

        register("erasing", v2.RandomErasing(p=1.0))   # a torchvision v2 transform
        register("jitter", v2.ColorJitter)              # ... or its class: params from __init__

    ``options``: ``mixes``, ``shared_randomness`` (default True: one draw per batch is the
    safe assumption for code we cannot inspect), ``deterministic``, ``summary`` and
    ``replace`` (allow redefining a name). A function receives the generator when it has
    a ``generator`` parameter; otherwise the global RNG is seeded from it while it runs.

    >>> @register("halve", deterministic=True, replace=True)
    ... def halve(x, y=None):
    ...     '''Halve the intensities.'''
    ...     return x // 2 if x.dtype == torch.uint8 else x / 2
    >>> create("halve")(torch.full((1, 1, 2, 2), 0.5)).x.flatten().tolist()
    [0.25, 0.25, 0.25, 0.25]
    """
    replace = options.pop("replace", False)

    def add(name: str, thing: Any) -> Any:
        # The built-ins are registered by the time anyone can call this (dastat.augment imports them
        # first), so a user's name that clashes with one is refused here.
        if not name.isidentifier():
            raise ValueError(f"augmentation names must be identifiers, got {name!r}")
        if name in _REGISTRY and not replace:
            raise ValueError(f"an augmentation named {name!r} is already registered (pass replace=True)")
        _REGISTRY[name] = _entry_for(name, thing, options)
        return thing

    if isinstance(target, str):
        if obj is not None:
            return add(target, obj)
        return lambda thing: add(target, thing)
    def by_own_name(thing: Any) -> Any:
        return add(getattr(thing, "name", None) or thing.__name__, thing)

    # ``@register(replace=True)`` on a class: options first, the class later.
    return by_own_name if target is None else by_own_name(target)


def available() -> list[str]:
    """Names of every registered DA, in registration order (the paper's nine first)."""
    return sorted(_REGISTRY, key=lambda n: (PAPER_DAS.index(n) if n in PAPER_DAS else len(PAPER_DAS)))


def entry(name: str) -> Entry:
    """The registry entry for ``name``; unknown names fail with the choices and the closest."""
    if ":" in name and name not in _REGISTRY:  # tv:NAME, timm:CONFIG (see dastat.augment.library)
        return _library_entry(name)
    if name not in _REGISTRY:
        raise UserError(f"unknown augmentation {name!r}{_closest(name, _REGISTRY)}; choose from {', '.join(available())}")
    return _REGISTRY[name]


def _library_entry(name: str) -> Entry:
    """The registry entry for ``tv:NAME`` or ``timm:CONFIG``/``timm:NAME``."""
    prefix, _, rest = name.partition(":")
    if prefix == "tv":
        from . import adapters_torchvision

        return adapters_torchvision.entry_for(name, rest)
    if prefix == "timm":
        try:
            import timm  # noqa: F401
        except ImportError:
            raise UserError(f"{name!r} needs timm, which is not installed: pip install timm "
                            "(or use a built-in or a tv: transform)") from None
        from . import adapters_timm

        return adapters_timm.entry_for(name, rest)
    raise UserError(f"unknown library prefix {prefix + ':'!r} in {name!r}; use tv: (torchvision v2) or timm:")

def _closest(word: str, choices) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def create(spec: str, context: AugmentContext | None = None) -> Augmentation:
    """Build the DA named by ``spec`` for ``context`` (data facts, teacher, student).

    Unknown names or parameters, and bad values, raise :class:`~dastat.errors.UserError`.

    >>> aug = create("crop_flip+cutmix")
    >>> aug.spec, aug.mixes
    ('crop_flip+cutmix', True)
    """
    context = context or AugmentContext()
    steps = [_create_step(name, kwargs, context, spec) for name, kwargs in parse(spec)]
    return steps[0] if len(steps) == 1 else Compose(steps, context)


def check(spec: str) -> None:
    """Fail as :func:`create` would on unknown names, parameters or bad values, before any data or model is loaded.

    >>> check("cutmix(alpah=0.5)")
    Traceback (most recent call last):
    ...
    dastat.errors.UserError: cutmix has no parameter 'alpah' (did you mean 'alpha'?); its parameters: alpha, per_sample
    >>> check("cutout(size=0)")
    Traceback (most recent call last):
    ...
    dastat.errors.UserError: cannot build 'cutout(size=0)': cutout's size must be a positive integer, got 0
    """
    for name, kwargs in parse(spec):
        _check_step(name, kwargs)
        try:
            _create_step(name, kwargs, AugmentContext(), spec)
        except UserError as exc:
            # What needs the data or the models (a teacher to pick by) is left to create.
            if str(exc).startswith("cannot build"):
                raise
        if name == "pick" and isinstance(kwargs.get("base"), str):
            check(kwargs["base"])


def _check_step(name: str, kwargs: dict[str, Any]) -> Entry:
    e = entry(name)
    for key in kwargs:
        if key not in e.params:
            valid = ", ".join(e.params) or "none"
            raise UserError(f"{name} has no parameter {key!r}{_closest(key, e.params)}; its parameters: {valid}")
    missing = [k for k, v in e.params.items() if v is REQUIRED and k not in kwargs]
    if missing:
        raise UserError(f"{name} needs {', '.join(missing)}: write {name}({missing[0]}=...)")
    return e


def _create_step(name: str, kwargs: dict[str, Any], context: AugmentContext, spec: str) -> Augmentation:
    e = _check_step(name, kwargs)
    try:
        aug = e.build(context, **kwargs)
    except (ValueError, TypeError) as exc:
        raise UserError(f"cannot build {format_step(name, kwargs)!r}: {exc}") from None
    aug.name = name
    explicit = {k: v for k, v in kwargs.items() if not (e.params[k] is not REQUIRED and _same(v, e.params[k]))}
    aug.spec = format_step(name, explicit)
    return aug


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) in (type(b), int, float) and type(b) in (type(a), int, float)
    except Exception:  # values that do not compare (tensors) are never "the default"
        return False


def describe() -> list[Entry]:
    """Every registry entry, for listings."""
    return [_REGISTRY[name] for name in available()]
