"""The controller: button edges in, start / next / stop out.

- idle: a press starts a session, at once, on the press itself
- running: a short press (on release) moves to the next part; holding for
  `hold_seconds` stops the session, while the button is still down
- the press that started a session never counts as a hold or a skip

Holds are timed on the injected clock, so tests need no sleeping. Mock pins
ignore gpiozero's debounce, so edges are debounced here too: a press counts only
after the button has been up for DEBOUNCE, and a release only after it was down
that long.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from enum import Enum

from device.clock import Clock
from device.events import Listener, ignore

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


class Controller:
    """Thread-safe: edges arrive on gpiozero's thread, commands are taken on the main one."""

    def __init__(self, clock: Clock, hold_seconds: float = 2.0,
                 listener: Listener = ignore) -> None:
        self.clock = clock
        self.hold_seconds = hold_seconds
        self.wake = threading.Event()
        self._listener = listener
        self._lock = threading.Lock()
        self._pending: deque[Command] = deque()
        self._state = State.IDLE
        self._down = False
        self._down_at = float("-inf")
        self._up_at = float("-inf")
        self._armed = False  # this press may still become a skip or a hold
        self._quit = False

    @property
    def state(self) -> State:
        return self._state

    @property
    def quitting(self) -> bool:
        return self._quit

    def edge(self, pressed: bool) -> None:
        """The button went down (True) or up (False)."""
        now = self.clock.now()
        with self._lock:
            if pressed == self._down:
                return
            self._down = pressed
            if pressed:
                settled = now - self._up_at >= DEBOUNCE
                self._down_at = now
                self._armed = settled and self._state is State.RUNNING
                if settled and self._state is State.IDLE:
                    self._request(Command.START)
                    self._state = State.STARTING
                self._tell("button", action="press")
            else:
                self._up_at = now
                if self._armed and now - self._down_at >= DEBOUNCE:
                    self._request(Command.SKIP)
                self._armed = False
                self._tell("button", action="release")

    def press(self) -> None:
        """A remote press (for example SIGUSR1): start when idle, next part when running."""
        with self._lock:
            if self._state is State.IDLE:
                self._state = State.STARTING
                self._request(Command.START)
            elif self._state is State.RUNNING:
                self._request(Command.SKIP)
            self._tell("button", action="remote")

    def quit(self) -> None:
        """Stop everything now (SIGTERM, Ctrl-C, 'q'): safe to call from a signal handler."""
        self._quit = True
        self._pending.append(Command.QUIT)
        self.wake.set()

    def take(self, now: float) -> Command | None:
        """The next command for the runner, if any; a hold becomes STOP once it is long enough."""
        with self._lock:
            self.wake.clear()
            if self._quit:
                return Command.QUIT
            if self._pending:
                return self._pending.popleft()
            if self._armed and self._down and now - self._down_at >= self.hold_seconds:
                self._armed = False
                self._tell("button", action="hold")
                return Command.STOP
            return None

    def hold_deadline(self) -> float | None:
        """When the current press becomes a hold, so the runner can wake exactly then."""
        with self._lock:
            if self._armed and self._down:
                return self._down_at + self.hold_seconds
            return None

    def wait_for_start(self) -> bool:
        """Block, without polling, until a press starts a session (True) or quit (False)."""
        while True:
            command = self.take(self.clock.now())
            if command is Command.QUIT:
                return False
            if command is Command.START:
                return True
            self.clock.wait_until(math.inf, self.wake)

    def session_began(self) -> None:
        with self._lock:
            self._state = State.RUNNING
            self._pending.clear()

    def session_ended(self) -> None:
        with self._lock:
            self._state = State.IDLE
            self._armed = False
            self._pending.clear()

    def _request(self, command: Command) -> None:
        self._pending.append(command)
        self.wake.set()

    def _tell(self, event: str, **fields: object) -> None:
        self._listener(event, **fields)
