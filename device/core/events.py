"""What happened, told to whoever listens: the trace file, the demo screen, `render`, the log.

Every event kind is one frozen dataclass here, with the clock time it happened `at` and a
`kind`: the name the trace file writes (`"event"` in its JSON lines), followed by the
fields of `record()`, in order. Two kinds have two shapes each: a "part" is a part begun,
or the fade-out of a stopped session ("stopping"); a "session" starts, or ends.

  kind     class           fields (as the trace writes them)
  light    LightChanged    value (the duty sent), lightness
  haptic   TouchChanged    value (the duty sent), touch
  button   ButtonGesture   action: press, release, hold, remote press
  part     PartBegan       name, seconds
  part     FadingOut       name ("stopping"), seconds
  phase    PhaseBegan      name (inhale, hold, exhale), seconds
  clip     LineSpoken      text, seconds
  session  SessionStarted  state ("started"), night, color (an RGB light's only)
  session  SessionEnded    state: finished, stopped, interrupted or error
  audio    SoundReport     underflows, dropped, failure, first_heard, late_ms
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

ButtonAction = Literal["press", "release", "hold", "remote press"]


@dataclass(frozen=True, kw_only=True)
class Event:
    """Something that happened at clock time `at` (the emitter's clock: simulated in render)."""

    kind: ClassVar[str]
    at: float

    def record(self) -> dict[str, object]:
        """The fields the trace file writes after the kind, in order (all but `at`)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name != "at"}


@dataclass(frozen=True, kw_only=True)
class LightChanged(Event):
    """The light was given a new duty (written only when it changes)."""

    kind: ClassVar[str] = "light"
    value: float  # the duty sent to the pin
    lightness: float  # the perceptual lightness asked for (0-1)


@dataclass(frozen=True, kw_only=True)
class TouchChanged(Event):
    """The motor was given a new duty (written only when it changes)."""

    kind: ClassVar[str] = "haptic"
    value: float  # the duty sent to the pin
    touch: float  # the touch asked for (0-1 of the configured strength)


@dataclass(frozen=True, kw_only=True)
class ButtonGesture(Event):
    """The button, as the controller understood it."""

    kind: ClassVar[str] = "button"
    action: ButtonAction


@dataclass(frozen=True, kw_only=True)
class PartBegan(Event):
    """A part of the session began (its name, and its planned length)."""

    kind: ClassVar[str] = "part"
    name: str
    seconds: float


@dataclass(frozen=True, kw_only=True)
class FadingOut(Event):
    """A stopped session's light fades out: the trace shows it as a part named "stopping"."""

    kind: ClassVar[str] = "part"
    name: ClassVar[str] = "stopping"
    seconds: float

    def record(self) -> dict[str, object]:
        return {"name": self.name, "seconds": self.seconds}


@dataclass(frozen=True, kw_only=True)
class PhaseBegan(Event):
    """A breath phase began."""

    kind: ClassVar[str] = "phase"
    name: str  # inhale, hold or exhale
    seconds: float


@dataclass(frozen=True, kw_only=True)
class LineSpoken(Event):
    """A spoken line began (only a line with a voice: its length is its clip's)."""

    kind: ClassVar[str] = "clip"
    text: str
    seconds: float


@dataclass(frozen=True, kw_only=True)
class SessionStarted(Event):
    """A session started: by night or by day, and in which colour (an RGB light only)."""

    kind: ClassVar[str] = "session"
    state: ClassVar[str] = "started"
    night: bool
    color: str | None = None  # "#rrggbb"; None for a single-colour light

    def record(self) -> dict[str, object]:
        fields: dict[str, object] = {"state": self.state, "night": self.night}
        if self.color is not None:
            fields["color"] = self.color
        return fields


@dataclass(frozen=True, kw_only=True)
class SessionEnded(Event):
    """A session ended: how (runner.Outcome's value), or "error" if it crashed."""

    kind: ClassVar[str] = "session"
    state: str


@dataclass(frozen=True, kw_only=True)
class SoundReport(Event):
    """How a session's sound went (audio.speaker.AudioReport), told once it is closed."""

    kind: ClassVar[str] = "audio"
    underflows: int
    dropped: int
    failure: str | None
    first_heard: float | None
    late_ms: float


Listener = Callable[[Event], None]


def ignore(event: Event) -> None:
    """A listener that hears nothing."""


class Listeners:
    """Fan one event out to several listeners."""

    def __init__(self, *listeners: Listener | None) -> None:
        self._listeners = [listener for listener in listeners if listener is not None]

    def __call__(self, event: Event) -> None:
        for listener in self._listeners:
            listener(event)
