"""The one exception type for user mistakes.

Anything raised as :class:`UserError` is the user's to fix (a bad path, an unknown
name, a class-count mismatch). The CLI prints its message as one sentence and exits
with code 2; anything else is a bug and keeps its traceback. A :class:`DastatWarning` is something
the user should know about a result that was still produced; the CLI prints it as
``dastat: warning: ...``.
"""

from __future__ import annotations

import contextlib
from typing import Iterator


class UserError(Exception):
    """A mistake in what the user asked for, with a message that says what to do.

    ``flag`` is the option the mistake is in (``"--teacher"``), set where it is raised or by a
    caller that knows (:func:`blaming`); the message then reads after it, unless it starts
    with an option of its own.

    >>> str(UserError("x.pth is empty; pass a checkpoint file", flag="--teacher"))
    '--teacher: x.pth is empty; pass a checkpoint file'
    """

    def __init__(self, message: str, *, flag: str | None = None):
        super().__init__(message)
        self.message, self.flag = message, flag

    def __str__(self) -> str:
        return f"{self.flag}: {self.message}" if self.flag and not self.message.startswith("--") else self.message


@contextlib.contextmanager
def blaming(flag: str) -> Iterator[None]:
    """Mark a :class:`UserError` raised inside, which blames no option yet, as a mistake in ``flag``."""
    try:
        yield
    except UserError as exc:
        exc.flag = exc.flag or flag
        raise


class DastatWarning(UserWarning):
    """A result was produced, but something about it the user must know (one sentence)."""
