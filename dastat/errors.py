"""The one exception type for user mistakes.

Anything raised as :class:`UserError` is the user's to fix (a bad path, an unknown
name, a class-count mismatch). The CLI prints its message as one sentence and exits
with code 2; anything else is a bug and keeps its traceback. A :class:`DastatWarning` is something
the user should know about a result that was still produced; the CLI prints it as
``dastat: warning: ...``.
"""


class UserError(Exception):
    """A mistake in what the user asked for, with a message that says what to do."""


class DastatWarning(UserWarning):
    """A result was produced, but something about it the user must know (one sentence)."""
