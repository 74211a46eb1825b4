"""The sd_notify protocol: tell systemd that the service is ready, alive or stopping.

Standard library only. systemd passes a datagram socket in $NOTIFY_SOCKET (a path, or an
abstract socket written with a leading '@'); each message is one datagram of
NEWLINE-separated KEY=VALUE lines. Outside systemd there is no $NOTIFY_SOCKET and every
call does nothing. A message that cannot be sent is logged at debug level and dropped:
telling systemd must never break the device.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger("ebbtide.notify")


class ServiceNotifier:
    """Sends READY=1, WATCHDOG=1, STOPPING=1 and STATUS=... to systemd, if it is listening.

    The environment is read once, when the notifier is made. Call watchdog() from the main
    loop itself, so that a hung loop stops the pings and systemd restarts the service.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address = _socket_address(env.get("NOTIFY_SOCKET", ""))
        self._watchdog_usec = env.get("WATCHDOG_USEC", "")
        self._watchdog_pid = env.get("WATCHDOG_PID", "")

    @property
    def enabled(self) -> bool:
        """True when there is a socket to talk to (the process runs under systemd)."""
        return self._address is not None

    def ready(self) -> None:
        """Start-up is complete: for Type=notify, systemd considers the service started."""
        self._send("READY=1")

    def watchdog(self) -> None:
        """Still alive: resets systemd's WatchdogSec= timer."""
        self._send("WATCHDOG=1")

    def stopping(self) -> None:
        """The service has begun to shut down."""
        self._send("STOPPING=1")

    def status(self, text: str) -> None:
        """A one-line status for `systemctl status` (newlines become spaces)."""
        self._send("STATUS=" + " ".join(text.splitlines()))

    def starting(self, text: str, more_seconds: float) -> None:
        """Still starting (e.g. making the voice on a Pi Zero): say what, and ask systemd to
        wait `more_seconds` longer before it gives up on the start."""
        self._send(f"STATUS={' '.join(text.splitlines())}\n"
                   f"EXTEND_TIMEOUT_USEC={round(more_seconds * 1_000_000)}")

    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog() calls: half of $WATCHDOG_USEC, as sd_watchdog_enabled
        advises. None when no watchdog is set, or when it is meant for another process
        ($WATCHDOG_PID names a different pid)."""
        if self._watchdog_pid:
            try:
                if int(self._watchdog_pid) != os.getpid():
                    return None
            except ValueError:
                return None
        try:
            usec = int(self._watchdog_usec)
        except ValueError:
            return None
        return usec / 2_000_000 if usec > 0 else None

    def _send(self, message: str) -> None:
        if self._address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                # Never wait: a full queue on the other side must not stall the main loop.
                sock.sendto(message.encode(), socket.MSG_DONTWAIT, self._address)
        except OSError as error:
            log.debug("could not tell systemd %r: %s", message, error)


def _socket_address(value: str) -> bytes | None:
    """$NOTIFY_SOCKET as an AF_UNIX address; '@name' is the abstract socket '\\0name'."""
    if value.startswith("@") and len(value) > 1:
        return b"\0" + os.fsencode(value[1:])
    if value.startswith("/"):
        return os.fsencode(value)
    if value:
        log.debug("ignoring NOTIFY_SOCKET=%r: not a path or an abstract socket", value)
    return None
