"""The one root of Ebbtide's own errors.

Every error Ebbtide raises for a person to read derives from `EbbtideError`, so the command
line can turn any of them into a plain message and an exit code in one place (device/cli.py's
table) rather than each command catching its own list.
"""

from __future__ import annotations


class EbbtideError(Exception):
    """Something a person can act on went wrong; `str(error)` is one plain line for them
    (a config error may hold several such lines, one per problem)."""
