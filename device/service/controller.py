"""The controller: button edges in, start / next / stop out.

- idle: a press starts a session, at once, on the press itself
- running: a short press moves to the next part when it is released; holding
  for `hold_seconds` stops the session, while the button is still down
- the press that started a session never counts as a hold or a skip

Presses can also come from afar, as signals (`systemctl kill -s USR1 ebbtide`); signals
reach the controller through its WakePipe, never through a handler of ours that takes a lock.

Holds are timed on the injected clock, so tests need no sleeping. Contacts
bounce, and gpiozero's mock pins ignore its debounce, so it is done here, in
one place: a release counts only once the button has stayed up for DEBOUNCE,
and a press that comes sooner is the same press going on.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
from collections import deque
from enum import Enum

from device.core.events import ButtonAction, ButtonGesture, Listener, ignore
from device.service.clock import Clock
from device.service.wake import WakePipe

log = logging.getLogger("ebbtide")

DEBOUNCE = 0.03


class Command(Enum):
    START = "start"
    SKIP = "skip"
    STOP = "stop"
    QUIT = "quit"


class State(Enum):
    IDLE = "idle"
    STARTING = "starting"
    RUNNING = "running"


QUIT_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})
PRESS_SIGNALS = frozenset({signal.SIGUSR1})
SIGNALS = QUIT_SIGNALS | PRESS_SIGNALS | {signal.SIGHUP}


class Controller:
    """Thread-safe: edges arrive on gpiozero's thread, commands are taken on the main one.

    The signals in SIGNALS, caught into `wake` (WakePipe.catching), are read here: TERM and
    INT quit, USR1 is a press, and HUP only says how to apply a new config.
    """

    def __init__(self, clock: Clock, hold_seconds: float = 2.0,
                 listener: Listener = ignore, wake: WakePipe | None = None) -> None:
        self.clock = clock
        self.hold_seconds = hold_seconds
        self._own_wake = wake is None
        self.wake = wake or WakePipe()
        self._listener = listener
        self._lock = threading.Lock()
        self._pending: deque[Command] = deque()
        self._state = State.IDLE
        self._down = False  # the button's level, as last reported
        self._down_at = float("-inf")  # when the current (or last) press began
        self._up_at = float("-inf")  # when the button last came up
        self._releasing = False  # up, but maybe only bouncing: not yet a release
        self._armed = False  # this press may still become a skip or a hold
        self._quit = False
        # Remote presses (SIGUSR1) asked for and taken: those that queue up count once.
        self._remote_asked = 0
        self._remote_taken = 0

    @property
    def state(self) -> State:
        return self._state

    @property
    def quitting(self) -> bool:
        with self._lock:
            self._receive()
            return self._quit

    def fileno(self) -> int:
        """Readable when there is news (a signal, an edge): to wait on beside other files."""
        return self.wake.fileno()

    def edge(self, pressed: bool) -> None:
        """The button went down (True) or up (False)."""
        now = self.clock.now()
        told: list[ButtonAction] = []
        with self._lock:
            if pressed == self._down:
                return
            self._down = pressed
            if not pressed:
                self._up_at = now
                self._releasing = True
                self.wake.set()  # the runner wakes to settle the release
                return
            self.wake.set()  # a waiting runner learns the new hold deadline
            if self._releasing and now < self._up_at + DEBOUNCE:
                self._releasing = False  # a bounce: the same press goes on
                return
            self._settle(now, told)
            settled = now >= self._up_at + DEBOUNCE
            self._down_at = now
            self._armed = settled and self._state is State.RUNNING
            if settled and self._state is State.IDLE:
                self._state = State.STARTING
                self._request(Command.START)
            told.append("press")
        self._tell(told)

    def quit(self) -> None:
        """Stop everything now (as SIGTERM does; the demo's 'q')."""
        self._quit = True
        self.wake.set()

    def remote_press(self) -> None:
        """A press from afar (as SIGUSR1 is): starts a session, or moves on to the next
        part."""
        with self._lock:
            self._remote_asked += 1
        self.wake.set()

    def take(self, now: float) -> Command | None:
        """The next command for the runner, if any; a hold becomes STOP once it is long enough."""
        told: list[ButtonAction] = []
        command = None
        with self._lock:
            self._receive()
            self._settle(now, told)
            if self._quit:
                command = Command.QUIT
            elif self._pending:
                command = self._pending.popleft()
            elif self._remote_taken < self._remote_asked:
                self._remote_taken = self._remote_asked  # presses that queued up count once
                told.append("remote press")
                if self._state is State.IDLE:
                    self._state = State.STARTING
                    command = Command.START
                elif self._state is State.RUNNING:
                    command = Command.SKIP
            elif self._armed and now >= self._down_at + self.hold_seconds:
                self._armed = False
                told.append("hold")
                command = Command.STOP
        self._tell(told)
        return command

    def next_deadline(self) -> float | None:
        """When the controller next has something to decide (a hold, or a release settling),
        so the runner can wake exactly then."""
        with self._lock:
            moments = []
            if self._releasing:
                moments.append(self._up_at + DEBOUNCE)
            if self._armed:  # down, or up so briefly it may yet be a bounce
                moments.append(self._down_at + self.hold_seconds)
            return min(moments, default=None)

    def wait_for_start(self, timeout: float = math.inf) -> bool | None:
        """Block, without polling, until a press starts a session (True), quit (False), or
        `timeout` seconds pass (None: so a caller can show it is alive, then wait again)."""
        until = self.clock.now() + timeout
        while True:
            now = self.clock.now()
            command = self.take(now)
            if command is Command.QUIT:
                return False
            if command is Command.START:
                return True
            if now >= until:
                return None
            decision = self.next_deadline()
            self.clock.wait_until(until if decision is None else min(decision, until),
                                  self.wake)

    def session_began(self) -> None:
        with self._lock:
            self._state = State.RUNNING
            self._pending.clear()

    def session_ended(self) -> None:
        with self._lock:
            self._state = State.IDLE
            self._armed = False
            self._pending.clear()

    def close(self) -> None:
        if self._own_wake:
            self.wake.close()

    def _receive(self) -> None:
        """Lower the wake flag, and act on the signals that raised it (under the lock)."""
        caught = self.wake.clear()
        if caught & QUIT_SIGNALS:
            self._quit = True
        if caught & PRESS_SIGNALS:
            self._remote_asked += 1
        if signal.SIGHUP in caught:
            log.info("SIGHUP: the config is read at start; to apply a new one, "
                     "run: systemctl restart ebbtide")

    def _settle(self, now: float, told: list[ButtonAction]) -> None:
        """A release that has stayed up for DEBOUNCE is real: a short press becomes SKIP."""
        if self._releasing and now >= self._up_at + DEBOUNCE:  # as in next_deadline()
            self._releasing = False
            if self._armed and self._up_at - self._down_at >= DEBOUNCE:
                self._request(Command.SKIP)
            self._armed = False
            told.append("release")

    def _request(self, command: Command) -> None:
        self._pending.append(command)
        self.wake.set()

    def _tell(self, actions: list[ButtonAction]) -> None:
        """Report gestures outside the lock: a listener may write to a file or a screen."""
        for action in actions:
            self._listener(ButtonGesture(at=self.clock.now(), action=action))
