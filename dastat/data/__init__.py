"""Datasets by spec: ``fashion-mnist``, ``cifar10[:ROOT]``, ``cifar100[:ROOT]``,
``tinyimagenet:ROOT``, ``imagefolder:PATH[,size=N]``.

A spec resolves to an :class:`ImageData` (:mod:`.types`); the families are one table
(:data:`DATASETS`), each format has its reader (:mod:`.fashion_mnist`, :mod:`.cifar`,
:mod:`.imagefolder` streaming through :mod:`.folders`). The training split's base view is
the family's (``--base-view``): the paper's padded crop and flip, batched on the device, or
for image folders a random resized crop and flip made per image when decoded. CIFAR's
default root is ``$DASTAT_DATA``, else ``./data``.
"""

from __future__ import annotations

from ..errors import UserError
from .cifar import load_cifar
from .datasets import DATASETS, DataOptions, DatasetInfo, data_root_from_env, dataset_of_shape, parse_spec
from .fashion_mnist import load_fashion_mnist
from .folders import BASE_VIEWS, FolderSplit, Resolution
from .imagefolder import load_folders
from .types import ImageData, Split

__all__ = ["BASE_VIEWS", "DATASETS", "DataOptions", "DatasetInfo", "FolderSplit", "ImageData", "Resolution", "Split",
           "data_root_from_env", "dataset_of_shape", "load_data", "parse_spec"]


def load_data(spec: str | None = None, options: DataOptions | None = None, *, resolution: Resolution | None = None,
              channels: int | None = None) -> ImageData:
    """Resolve a data spec (``None`` means Fashion-MNIST) to an :class:`ImageData`.

    For image folders, ``resolution`` (usually the teacher's) sets the decoded size
    unless ``options.size``/``options.resize`` or the spec's ``size=``/``resize=`` do (a
    new size alone keeps the resolution's crop ratio), and ``channels`` the channels they
    are read in (the teacher's); ``options.base_view`` (one of :data:`BASE_VIEWS`)
    overrides the family's training view.
    """
    options = options or DataOptions()
    if options.base_view is not None and options.base_view not in BASE_VIEWS:
        raise UserError(f"unknown base view {options.base_view!r}; choose one of: " + ", ".join(BASE_VIEWS))
    name, root = parse_spec(spec or "fashion-mnist")
    view = options.base_view or DATASETS[name].base_view
    if name == "fashion-mnist":
        data = load_fashion_mnist(root, options.download)
    elif name in ("cifar10", "cifar100"):
        data = load_cifar(name, root, options.download)
    else:
        if root is None:
            raise UserError(f"{name} needs a path: --data {name}:PATH")
        given = {k: v for k, v in (("size", options.size), ("resize", options.resize)) if v is not None}
        data = load_folders(name, root, resolution, given, channels, options.workers, view)
    if (options.size or options.resize) and not isinstance(data.train, FolderSplit):
        raise UserError(f"--size and --resize apply to image folders; {name} is used at its own resolution")
    if view == "resized-crop-flip" and not isinstance(data.train, FolderSplit):
        raise UserError(f"--base-view resized-crop-flip is made while decoding image folders; {name} is held in "
                        "memory, so choose pad-crop-flip or none")
    data.spec, data.train_view = spec or "fashion-mnist", view
    return data
