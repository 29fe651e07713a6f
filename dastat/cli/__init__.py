"""The ``dastat`` command line: argparse subcommands, each a thin layer over the API.

``main(argv)`` returns the exit code: 0 on success, 2 for a user mistake (printed as
one sentence, no traceback), 130 when interrupted. Each subcommand lives in its own
module exposing ``register(subparsers)``, which adds its parser and sets ``func``.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

from .. import __version__
from ..errors import UserError

#: Subcommand modules, in the order ``dastat --help`` lists them.
SUBCOMMANDS = ("score", "tune", "evaluate", "zoo", "augment", "train", "validate", "correlate", "plot")


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose mistakes are one line, ``dastat: error: ...``, like every other user error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"dastat: error: {message}; see '{self.prog} --help'\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with ``command`` only that subcommand's arguments.

    Given ``command``, every other subcommand is declared by its name and help line alone
    (each module's ``COMMANDS``), so that ``dastat --help`` or ``dastat zoo list`` imports
    nothing another command needs (torch, the scoring engine): they answer at once.
    """
    parser = _Parser(
        prog="dastat",
        description="Rank data augmentations for knowledge distillation from the teacher alone.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":
                continue
            raise
        if command is None or command in module.COMMANDS:
            module.register(sub)
        else:
            for listed, line in module.COMMANDS.items():
                sub.add_parser(listed, help=line)
    return parser


def _command(argv: list[str]) -> str:
    """The subcommand an argument list asks for: its first word that is not an option ("" when none)."""
    return next((a for a in argv if not a.startswith("-")), "")


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout replaced (pytest's capture): nothing to flush
        pass


def _tolerate_undecodable_names() -> None:
    """Print a path that is not UTF-8 (a surrogate escape, as Python reads such names) spelt out as
    ``\\udce9``, as the reports write it, instead of failing with UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and (getattr(stream, "encoding", "") or "").lower().replace("-", "") == "utf8":
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):
                pass


def _show_warning(message, category, filename, lineno, file=None, line=None, _default=None):
    """dastat's own warnings as one line, ``dastat: warning: ...``; any other warning as Python shows it."""
    from ..errors import DastatWarning

    if issubclass(category, DastatWarning):
        print(f"dastat: warning: {message}", file=file or sys.stderr)
    else:
        _default(message, category, filename, lineno, file, line)


def main(argv: list[str] | None = None) -> int:
    import functools
    import warnings

    from ..provenance import set_command

    if not isinstance(warnings.showwarning, functools.partial):
        warnings.showwarning = functools.partial(_show_warning, _default=warnings.showwarning)

    set_command(None if argv is None else [str(a) for a in argv])
    _tolerate_undecodable_names()
    parser = build_parser(_command(sys.argv[1:] if argv is None else [str(a) for a in argv]))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a malformed command line (already printed)
        return exc.code if isinstance(exc.code, int) else 2
    from .paths import expand_paths

    expand_paths(args)  # ~ and $VARS, as a shell would have expanded them in a plain path
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a full disk behind a redirected stdout shows here, not at exit
        return code
    except UserError as exc:
        print(f"dastat: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dastat: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EIO):
            raise
        _drop_stdout()
        print(f"dastat: error: cannot write the output: {exc.strerror} (is the disk full?)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
