"""device.service.notify against real AF_UNIX datagram sockets, as systemd would listen on them."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from device.service.notify import ServiceNotifier


@pytest.fixture
def listener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket bound in tmp_path, named in $NOTIFY_SOCKET."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield sock


def received(sock: socket.socket) -> list[bytes]:
    """Every datagram waiting on sock, in order."""
    sock.setblocking(False)
    datagrams = []
    try:
        while True:
            datagrams.append(sock.recv(4096))
    except BlockingIOError:
        return datagrams


def test_each_call_sends_its_exact_datagram(listener: socket.socket) -> None:
    notifier = ServiceNotifier()
    assert notifier.enabled
    notifier.ready()
    notifier.watchdog()
    notifier.status("idle, waiting for the button")
    notifier.stopping()
    assert received(listener) == [
        b"READY=1",
        b"WATCHDOG=1",
        b"STATUS=idle, waiting for the button",
        b"STOPPING=1",
    ]


def test_status_stays_one_line(listener: socket.socket) -> None:
    ServiceNotifier().status("voice: ok\npins: none")
    assert received(listener) == [b"STATUS=voice: ok pins: none"]


def test_a_long_start_asks_systemd_to_wait_and_says_why(listener: socket.socket) -> None:
    ServiceNotifier().starting("making the voice: 3 of 34 lines", 120)
    assert received(listener) == [b"STATUS=making the voice: 3 of 34 lines\n"
                                  b"EXTEND_TIMEOUT_USEC=120000000"]


def test_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"ebbtide-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        ServiceNotifier().ready()
        sock.settimeout(2)
        assert sock.recv(4096) == b"READY=1"


def test_outside_systemd_every_call_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = ServiceNotifier()
    assert not notifier.enabled
    notifier.ready()
    notifier.watchdog()
    notifier.status("anything")
    notifier.stopping()


@pytest.mark.parametrize("value", ["", "relative/path", "@"])
def test_unusable_socket_values_disable_the_notifier(value: str) -> None:
    assert not ServiceNotifier({"NOTIFY_SOCKET": value}).enabled


def test_missing_socket_path_never_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    with caplog.at_level(logging.DEBUG, logger="ebbtide.notify"):
        ServiceNotifier().ready()
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    assert "READY=1" in caplog.text


def test_socket_nobody_listens_on_never_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "dead"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
    # The file is left behind but nothing is bound to it: sendto gets ECONNREFUSED.
    assert path.exists()
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    notifier = ServiceNotifier()
    notifier.ready()
    notifier.watchdog()


@pytest.mark.parametrize(
    ("usec", "pid", "interval"),
    [
        ("30000000", None, 15.0),
        ("30000000", "self", 15.0),
        ("30000000", "1", None),  # the watchdog is meant for another process
        ("30000000", "junk", None),
        ("1000000", None, 0.5),
        ("0", None, None),
        ("junk", None, None),
        (None, None, None),
    ],
)
def test_watchdog_interval(
    monkeypatch: pytest.MonkeyPatch, usec: str | None, pid: str | None, interval: float | None
) -> None:
    for name, value in (("WATCHDOG_USEC", usec), ("WATCHDOG_PID", pid)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, str(os.getpid()) if value == "self" else value)
    assert ServiceNotifier().watchdog_interval() == interval


def test_a_full_socket_never_stalls_the_caller(listener: socket.socket) -> None:
    """systemd reads promptly; if it ever does not, the main loop must not wait for it."""
    notifier = ServiceNotifier()
    sender = threading.Thread(target=lambda: [notifier.watchdog() for _ in range(500)],
                              daemon=True)
    sender.start()
    sender.join(timeout=5)
    assert not sender.is_alive(), "watchdog() blocked on a socket nobody reads"
    assert 0 < len(received(listener)) < 500, "the overflow was dropped, not queued"
