"""Writing files safely: a temporary file in the same folder, then an atomic rename.

A crash or Ctrl-C mid-write leaves the previous file intact, never a half-written one,
and the result gets the permissions a plain ``open()`` would give it (``mkstemp``
makes private files; the process umask is read at write time, never changed for good).
A full disk (or any other failed write) is one sentence naming the file, and the
temporary file is removed. A target that exists but is not a regular file (``/dev/null``,
``/dev/full``, a named pipe) is written in place: renaming over it would replace the
device itself.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .errors import UserError


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_failure(path: str | os.PathLike, exc: OSError) -> UserError:
    """The one sentence for a write that failed, naming the file and, for a full disk, saying so."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return UserError(f"cannot write {path}: the disk is full (no space left on device); free some space "
                         "or choose another place")
    return UserError(f"cannot write {path}: {exc.strerror or exc}")


def _is_special(path: Path) -> bool:
    """True for an existing target that is not a regular file (a device or a pipe)."""
    try:
        return path.exists() and not path.is_file() and not path.is_dir()
    except OSError:
        return False


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"cannot write {path}: the folder {folder} does not exist")
    if _is_special(path):
        try:
            yield path
        except OSError as exc:
            raise write_failure(path, exc) from None
        return
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=folder)
    except OSError as exc:
        raise write_failure(path, exc) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_current_umask())
        os.replace(tmp_path, path)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        raise write_failure(path, exc) from None
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _fsync(f) -> None:
    # Devices such as /dev/null refuse fsync (EINVAL); only regular files need it.
    if os.path.isfile(f.name):
        os.fsync(f.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically; the folder must exist and be writable."""
    with atomic_path(path) as tmp:
        # backslashreplace: a file name that is not UTF-8 (a surrogate escape) is written visibly, not refused.
        with open(tmp, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(text)
            f.flush()
            _fsync(f)
    return Path(path)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` through a temporary file, so a checkpoint is never half-written."""
    import torch

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            _fsync(f)
    return Path(path)


def json_safe(value: Any) -> Any:
    """What strict JSON takes: numpy scalars as Python ones, tuples as lists, non-finite floats as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, dict):
        return {key: json_safe(v) for key, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [json_safe(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value
