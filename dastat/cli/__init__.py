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
        if command is None or command in module.COMMANDS:
            module.register(sub)
        else:
            for listed, line in module.COMMANDS.items():
                sub.add_parser(listed, help=line)
    return parser


def _command(argv: list[str]) -> str:
    """The subcommand an argument list asks for: its first word that is not an option ("" when none)."""
    return next((a for a in argv if not a.startswith("-")), "")


def _version() -> str:
    from .. import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    from ..provenance import set_command

    set_command(None if argv is None else [str(a) for a in argv])
    parser = build_parser(_command(sys.argv[1:] if argv is None else [str(a) for a in argv]))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a malformed command line (already printed)
        return exc.code if isinstance(exc.code, int) else 2
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
