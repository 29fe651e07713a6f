"""The paths a command takes: ``~`` and ``$VARS`` expanded, outputs checked before any work.

:func:`expand_paths` runs on every parsed command line, so ``--data imagefolder:~/imagenet``
means what the shell would have made of ``~/imagenet``. Every subcommand calls the
checks at the top of its ``run``, so a typo in ``--out`` costs nothing instead of a
finished score or a trained student.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from ..errors import UserError, blaming


#: Arguments (by their ``dest``) that hold a path, or a spec whose parts after ``:`` may be paths.
PATH_ARGUMENTS = ("teacher", "data", "student", "out", "report", "file", "resume")


def expand_path(value: str) -> str:
    """``$VAR``/``${VAR}`` and a leading ``~`` expanded in a path, and in each ``:``-separated part of a spec.

    >>> import os; os.environ["DASTAT_DOC_ROOT"] = "/srv"
    >>> expand_path("imagefolder:$DASTAT_DOC_ROOT/imagenet"), expand_path("~/x.pt") == os.path.expanduser("~/x.pt")
    ('imagefolder:/srv/imagenet', True)
    """
    value = os.path.expandvars(value)
    return ":".join(os.path.expanduser(part) if part.startswith("~") else part for part in value.split(":"))


def expand_paths(args) -> None:
    """Expand, in place, every path argument of a parsed command line (see :data:`PATH_ARGUMENTS`)."""
    for name in PATH_ARGUMENTS:
        value = getattr(args, name, None)
        if isinstance(value, str):
            setattr(args, name, expand_path(value))


def _writable_place(folder: Path, flag: str, path: Path) -> None:
    """Create and remove a probe file: ``os.access`` says yes to root in /proc or on a read-only mount."""
    import tempfile

    if path.exists() and not path.is_file():  # a device such as /dev/null is written in place
        return
    try:
        fd, probe = tempfile.mkstemp(prefix=".dastat-probe-", dir=folder)
    except OSError as exc:
        raise UserError(f"{flag} {path}: cannot create files in {folder} ({exc.strerror}); choose another place") \
            from None
    os.close(fd)
    os.unlink(probe)


def check_output_file(path: str | os.PathLike | None, flag: str, suffixes: Iterable[str] = ()) -> None:
    """Fail when ``path`` cannot be written as a file: a folder, a missing or non-folder parent, no write access."""
    if path is None:
        return
    if str(path) == "":
        raise UserError(f"{flag} needs a file name, not an empty string")
    path = Path(path)
    suffixes = tuple(suffixes)
    if path.is_dir():
        raise UserError(f"{flag} {path} is a folder; give a file name inside it")
    if suffixes and path.suffix.lower() not in suffixes:
        raise UserError(f"{flag} must end in {' or '.join(suffixes)}, not {str(path)!r}")
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise UserError(f"{flag} {path}: {parent} is a file, not a folder")
    if not parent.exists():
        raise UserError(f"{flag} {path}: the folder {parent} does not exist; create it first")
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"{flag} {path}: the file is not writable; choose another name")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {path}: the folder {parent} is not writable; choose another place")
    _writable_place(parent, flag, path)
    if path.suffix.lower() == ".csv":
        from ..provenance import check_sidecar

        with blaming(flag):
            check_sidecar(path)


def check_output_dir(path: str | os.PathLike | None, flag: str, markers: Iterable[str] = (),
                     what: str = "the results") -> None:
    """Fail when ``path`` cannot become or be an output folder.

    With ``markers``, an existing non-empty folder must hold one of those files (it is
    then a folder of this kind, to continue); any other non-empty folder is refused, so
    a result never lands among unrelated files.
    """
    if path is None:
        return
    if str(path) == "":
        raise UserError(f"{flag} needs a folder name, not an empty string")
    path = Path(path)
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    where = f"cannot write {what} to {flag} {path}"
    if not probe.is_dir():
        raise UserError(f"{where}: {probe} is a file, not a folder")
    markers = tuple(markers)
    # A run's lock file (left by a run killed before it wrote anything) is not a result.
    if markers and probe == path and any(p.name != ".dastat.lock" for p in path.iterdir()) \
            and not any((path / m).exists() for m in markers):
        raise UserError(f"{where}: the folder is not empty and holds no {' or '.join(markers)}; "
                        "give an empty or new folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"{where}: {probe} is not writable; choose another place")


def check_inputs(*, das: Iterable[str] | str | None = None, student: str | None = None) -> None:
    """Fail on a misspelt DA or student before any data or model is loaded."""
    from ..augment.registry import check
    from ..setting import student_kind

    for spec in [das] if isinstance(das, str) else das or ():
        with blaming("--da"):
            check(spec)
    if student is not None:
        student_kind(student)
