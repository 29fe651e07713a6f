"""How a result was made: the ``provenance`` object every file dastat writes carries.

A JSON result holds it under ``"provenance"``; a CSV gets a sidecar
``<name>.provenance.json`` (see :func:`write_csv_sidecar`), which never replaces a file
of that name dastat did not write. It names the software
versions, the command line, the device and the settings that decide the numbers
(seed, batch size, protocol, teacher with its file's sha256, data, student).

>>> p = provenance(seed=0, batch_size=64, protocol={"name": "fast"}, teacher="bundled", data="fashion-mnist")
>>> sorted(k for k in ("dastat", "torch", "torchvision", "python", "command") if k in p)
['command', 'dastat', 'python', 'torch', 'torchvision']
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Any

SIDECAR_SUFFIX = ".provenance.json"

#: The command line being run, when the CLI was called in-process (``main(argv)``), not from ``sys.argv``.
_COMMAND: list[str] | None = None


def set_command(argv: list[str] | None) -> None:
    """Record the command line that :func:`provenance` names (None: ``sys.argv``)."""
    global _COMMAND
    _COMMAND = None if argv is None else ["dastat", *argv]


@functools.lru_cache(maxsize=64)
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str | None:
    """The sha256 of a file (cached by path, size and modification time); None if it is not a file."""
    path = Path(path)
    if not path.is_file():
        return None
    st = path.stat()
    return _sha256_of(str(path.resolve()), st.st_size, st.st_mtime_ns)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("dastat", "torch", "torchvision"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "unknown"
    out["python"] = platform.python_version()
    return out


def teacher_facts(teacher: Any) -> tuple[str | None, str | None]:
    """``(spec, sha256)`` of a teacher given as a spec string, a path, or a loaded Teacher."""
    if teacher is None:
        return None, None
    meta = getattr(teacher, "meta", None) or {}
    source = getattr(teacher, "source", None)
    if source is not None:
        return source, meta.get("sha256") or _sha_of_spec(source)
    return str(teacher), _sha_of_spec(str(teacher))


def _sha_of_spec(spec: str) -> str | None:
    # ``timm:NAME:FILE`` / ``torchvision:NAME:FILE`` name a local file last; plain specs are paths.
    candidate = spec.rsplit(":", 1)[-1] if spec.startswith(("timm:", "torchvision:")) else spec
    try:
        return file_sha256(candidate)
    except OSError:
        return None


def provenance(*, command: str | None = None, device: Any = None, seed: int | None = None,
               batch_size: int | None = None, protocol: Any = None, teacher: Any = None, data: Any = None,
               student: Any = None, **settings: Any) -> dict[str, Any]:
    """The provenance record of a result; ``settings`` adds whatever else decided the numbers."""
    teacher_spec, teacher_sha = teacher_facts(teacher)
    student_spec = getattr(student, "source", student)
    record: dict[str, Any] = {
        **_versions(),
        "command": command if command is not None else shlex.join(_COMMAND or ["dastat", *sys.argv[1:]]),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "device": str(device) if device is not None else None,
        "seed": seed,
        "batch_size": batch_size,
        "protocol": protocol,
        "teacher": teacher_spec,
        "teacher_sha256": teacher_sha,
        "data": getattr(data, "spec", data),
    }
    if student_spec is not None:
        record["student"] = str(student_spec)
    record.update(settings)
    return json.loads(json.dumps(record, default=str))


def sidecar_path(csv_path: str | os.PathLike) -> Path:
    """Where the provenance of ``results.csv`` lives: ``results.csv.provenance.json``."""
    path = Path(csv_path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _written_by_dastat(path: Path) -> bool:
    """True when ``path`` holds a sidecar as :func:`write_csv_sidecar` writes it."""
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(loaded, dict) and set(loaded) == {"provenance"} and isinstance(loaded["provenance"], dict) \
        and "dastat" in loaded["provenance"]


def check_sidecar(csv_path: str | os.PathLike) -> None:
    """Fail, in one sentence, when the sidecar of ``csv_path`` would replace something dastat did not write."""
    from .errors import UserError

    side = sidecar_path(csv_path)
    if side.is_dir():
        raise UserError(f"cannot write the provenance of {csv_path} to {side}: that name is a folder; "
                        "move it or give the CSV another name")
    if side.exists() and not _written_by_dastat(side):
        raise UserError(f"{side} exists and was not written by dastat, which keeps the provenance of {csv_path} "
                        "under that name; move the file or give the CSV another name")


def write_csv_sidecar(csv_path: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Write ``record`` beside a CSV file, atomically; a file of that name that dastat did not
    write is never replaced (see :func:`check_sidecar`, which commands call before any work)."""
    from .io import atomic_write_text

    check_sidecar(csv_path)
    return atomic_write_text(sidecar_path(csv_path), json.dumps({"provenance": record}, indent=2) + "\n")


#: Where files written before every command used ``{"provenance", "results"}`` kept their records.
OLDER_RECORD_KEYS = ("rows", "scores")


def records_of(loaded: Any) -> list | None:
    """The result records of a loaded JSON file: the list under ``"results"`` of the object every command
    writes, a bare list, or the list under ``"rows"``/``"scores"`` (older ``validate`` files); None otherwise."""
    if isinstance(loaded, dict):
        key = next((k for k in ("results", *OLDER_RECORD_KEYS) if k in loaded), None)
        loaded = loaded.get(key) if key else None
    return loaded if isinstance(loaded, list) else None


def with_provenance(results: list, record: dict[str, Any] | None, **more: Any) -> dict[str, Any]:
    """The one JSON shape every command writes: ``{"provenance": record, "results": results}``, and after
    them whatever else belongs to the whole run (``more``: a race's forwards, a sweep's correlations)."""
    return {"provenance": record, "results": results, **more}
