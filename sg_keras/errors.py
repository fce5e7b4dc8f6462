"""User mistakes: reported as one line ``error: …`` and exit status 2, never a traceback."""

import sys

from absl import flags

HELP_FLAGS = ("--help", "-help", "-h", "-?", "--helpshort", "--helpfull")


class UsageError(Exception):
    """Bad input or flags: the CLI prints ``error: MESSAGE`` and exits with status 2."""


def flags_parser(usage, flag_modules):
    """An absl flags parser for app.run: ``--help`` prints ``usage`` and the flags of
    ``flag_modules`` (module names) to stdout and exits with status 0 (absl's own help
    exits with 1); a bad flag prints ``error: …`` and exits with status 2."""

    def parse(argv):
        if any(arg in HELP_FLAGS for arg in argv[1:]):
            print(usage.strip())
            for module in flag_modules:
                print("\n" + flags.FLAGS.module_help(module))
            sys.exit(0)
        return parse_flags_or_exit(argv)

    return parse


def parse_flags_or_exit(argv):
    """absl flags parser for app.run: a bad flag prints ``error: …`` and exits with status 2."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
