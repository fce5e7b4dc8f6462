"""User mistakes: reported as one line ``error: …`` and exit status 2, never a traceback."""

import sys

from absl import flags


class UsageError(Exception):
    """Bad input or flags: the CLI prints ``error: MESSAGE`` and exits with status 2."""


def parse_flags_or_exit(argv):
    """absl flags parser for app.run: a bad flag prints ``error: …`` and exits with status 2."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
