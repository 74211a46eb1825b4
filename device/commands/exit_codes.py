"""The exit codes every `ebbtide` command returns, defined once.

A shell, systemd and the tests read them: 0 done, 1 failed (the hardware, a file, the
history), 2 the config, script or a command-line value is wrong (as argparse exits for a
wrong argument), 130 stopped by Ctrl-C (as a shell counts it).
"""

from __future__ import annotations

OK = 0
FAILED = 1
CONFIG = 2  # the config or the script is refused
USAGE = 2  # a wrong value on the command line: as argparse exits for a wrong argument
INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as a shell counts it
