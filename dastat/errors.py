"""The one exception type for user mistakes.

Anything raised as :class:`UserError` is the user's to fix (a bad path, an unknown
name, a class-count mismatch). The CLI prints its message as one sentence and exits
with code 2; anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A mistake in what the user asked for, with a message that says what to do."""
