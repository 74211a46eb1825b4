"""Whether a command that reads keys (demo, record) has any input to read them from."""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger("ebbtide")


def keyboard_open(command: str, keys: str) -> bool:
    """False, after one line, when there is no input to read keys from (`ebbtide demo <&-`,
    or started by a program that closed it): the command would wait on nothing."""
    try:
        usable = sys.stdin is not None and not sys.stdin.closed and os.fstat(
            sys.stdin.fileno()) is not None
    except (OSError, ValueError):
        usable = False
    if not usable:
        log.error("`ebbtide %s` reads what you type (%s), but its input is closed: run it "
                  "in a terminal (without <&-)", command, keys)
    return usable
