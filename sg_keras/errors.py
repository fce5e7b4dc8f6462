"""The error type for user mistakes: reported as one line, exit status 2."""


class UsageError(Exception):
    """Bad input or flags: the CLI prints ``error: MESSAGE`` and exits with status 2."""
