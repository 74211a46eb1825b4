"""Where Ebbtide's log lines go: set up once, at the start of a command.

One line per event on stderr. Under systemd (JOURNAL_STREAM is set) each line starts with
a "<N>" syslog priority, which journald reads as the line's level; journald adds its own
timestamps, so Ebbtide never does. The demo passes its own handler (the terminal screen).
"""

from __future__ import annotations

import logging
import os
import sys

_SYSLOG_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
                    logging.CRITICAL: 2}


class JournalFormatter(logging.Formatter):
    """journald reads a "<N>" syslog priority at the start of a line as the line's level."""

    def format(self, record: logging.LogRecord) -> str:
        priority = _SYSLOG_PRIORITY.get(record.levelno, 6)
        return "\n".join(f"<{priority}>{line}" for line in super().format(record).splitlines())


def stderr_handler() -> logging.Handler:
    """Lines on stderr: for journald when running under systemd, else "ebbtide: ..."."""
    handler = logging.StreamHandler(sys.stderr)
    if "JOURNAL_STREAM" in os.environ:
        handler.setFormatter(JournalFormatter("%(message)s"))
    else:
        handler.setFormatter(logging.Formatter("ebbtide: %(message)s"))
    return handler


def setup_logging(verbose: bool, handler: logging.Handler | None = None) -> None:
    """The root logger's one handler (stderr's unless given) and level, for the whole run."""
    root = logging.getLogger()
    root.handlers[:] = [handler if handler is not None else stderr_handler()]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
