"""Errors that reach the user as a one-paragraph message and exit status 1."""


class UsageError(Exception):
    """A mistake in flags, files or weights that the user can fix.

    The message is complete: what happened, what was expected, how to fix it.
    `main.py` prints it without a traceback and exits with status 1.
    """


class ConfigError(UsageError):
    """A flag value that cannot work, named with its flag."""


class RunInterrupted(UsageError):
    """Training stopped on Ctrl-C after saving its step; `main.py` exits 130."""


class CheckpointWriteError(UsageError):
    """A training checkpoint could not be written (disk full, no permission).

    The message names the folder, the last complete checkpoint (kept) and,
    for a full disk, about how much space one checkpoint needs.
    """
