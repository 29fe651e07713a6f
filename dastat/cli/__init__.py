"""The ``dastat`` command line: argparse subcommands, each a thin layer over the API.

``main(argv)`` returns the exit code: 0 on success, 2 for a user mistake (printed as
one sentence, no traceback), 130 when interrupted. Each subcommand lives in its own
module exposing ``register(subparsers)``, which adds its parser and sets ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import UserError

#: Subcommand modules, in the order ``dastat --help`` lists them.
SUBCOMMANDS = ("score", "tune", "evaluate", "zoo", "augment", "train", "validate", "correlate", "plot")


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose mistakes are one line, ``dastat: error: ...``, like every other user error."""

    def error(self, message: str):  # type: ignore[override]
        hint = f"; see '{self.prog} --help'"
        self.exit(2, f"dastat: error: {message}{hint}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dastat",
        description="Rank data augmentations for knowledge distillation from the teacher alone.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":
                continue
            raise
        module.register(sub)
    return parser


def _version() -> str:
    from .. import __version__

    return __version__


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
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a malformed command line (already printed)
        return exc.code if isinstance(exc.code, int) else 2
    from .paths import expand_paths

    expand_paths(args)  # ~ and $VARS, as a shell would have expanded them in a plain path
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"dastat: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dastat: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
