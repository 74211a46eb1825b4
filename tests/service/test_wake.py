"""The wake pipe: an Event that a signal can set without a lock, and that keeps which
signals came, however many."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from device.service.controller import SIGNALS
from device.service.wake import WakePipe


@pytest.fixture
def wake():
    with WakePipe() as pipe:
        yield pipe


def test_it_is_raised_by_set_and_lowered_by_clear(wake):
    assert not wake.is_set() and not wake.wait(0.01)
    wake.set()
    wake.set()
    assert wake.is_set() and wake.wait(0.0)
    assert wake.clear() == set()  # set() is not a signal
    assert not wake.is_set()


def test_a_set_from_another_thread_ends_a_wait_at_once(wake):
    threading.Timer(0.05, wake.set).start()
    began = time.monotonic()
    assert wake.wait(10.0)
    assert time.monotonic() - began < 5.0


def test_caught_signals_raise_it_and_say_which_came(wake):
    with wake.catching(SIGNALS):
        os.kill(os.getpid(), signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGHUP)  # would end the process uncaught
        assert wake.wait(5.0)
        assert wake.clear() == {signal.SIGUSR1, signal.SIGHUP}
        assert wake.clear() == set()


def test_catching_puts_back_the_handlers_and_the_wakeup_fd_it_found(wake):
    before = {number: signal.getsignal(number) for number in SIGNALS}
    with wake.catching(SIGNALS):
        assert all(signal.getsignal(number) is not before[number] for number in SIGNALS)
    assert {number: signal.getsignal(number) for number in SIGNALS} == before
    assert signal.set_wakeup_fd(-1) == -1  # nothing left behind


def test_a_full_pipe_still_keeps_every_kind_of_signal(wake):
    """More presses than the pipe holds, nobody reading, then a stop: the stop is kept."""
    with wake.catching(SIGNALS):
        for _ in range(70_000):  # a pipe holds 64 KiB: one byte per signal
            os.kill(os.getpid(), signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGTERM)
        assert wake.clear() == {signal.SIGUSR1, signal.SIGTERM}
        assert not wake.is_set()


def test_a_flood_from_another_process_neither_nests_nor_hangs(wake):
    """Another process sends USR1 as fast as it can while this thread waits and clears; then
    TERM. A handler in Python would nest in such a flood until RecursionError."""
    flood = ("import os, signal, sys\n"
             "pid = int(sys.argv[1])\n"
             "for _ in range(50_000): os.kill(pid, signal.SIGUSR1)\n"
             "os.kill(pid, signal.SIGTERM)\n")
    with wake.catching(SIGNALS):
        sender = subprocess.Popen([sys.executable, "-c", flood, str(os.getpid())])
        seen: set[int] = set()
        deadline = time.monotonic() + 60
        while signal.SIGTERM not in seen:
            assert time.monotonic() < deadline, "the TERM after the flood never arrived"
            wake.wait(1.0)
            seen |= wake.clear()
        assert sender.wait(10) == 0
    assert seen == {signal.SIGUSR1, signal.SIGTERM}
