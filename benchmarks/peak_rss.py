"""Runs a command and writes its peak RSS (KiB) to a file; exits with the command's status.

    python benchmarks/peak_rss.py OUT_FILE COMMAND [ARG ...]

On Linux a process's ru_maxrss starts from the RSS of the process it was forked
from. Forked from this small launcher, rather than from the benchmark harness
(which holds word vectors after evaluating a run), the figure is the command's own.
"""

import os
import sys


def main(out_file, *command):
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(command[0], command)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    with open(out_file, "w", encoding="utf-8") as f:
        f.write(f"{usage.ru_maxrss}\n")
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main(*sys.argv[1:])
