"""How far a slow step has got, redrawn on one line of a terminal (and nothing elsewhere)."""

from __future__ import annotations

from typing import TextIO


class ProgressBar:
    """Called with (done, total) as work goes on; done() clears the line for what follows."""

    WIDTH = 30

    def __init__(self, stream: TextIO, what: str = "making the voice") -> None:
        self.stream = stream
        self.what = what

    @classmethod
    def on_terminal(cls, stream: TextIO, what: str = "making the voice") -> ProgressBar | None:
        """A bar if `stream` is a terminal; None for a pipe or a log, which want no redraws."""
        return cls(stream, what) if stream.isatty() else None

    def __call__(self, done: int, total: int) -> None:
        filled = self.WIDTH * done // max(total, 1)
        self.stream.write(f"\r{self.what} [{'#' * filled:<{self.WIDTH}}] {done}/{total}")
        self.stream.flush()

    def done(self) -> None:
        self.stream.write("\r\033[K")
        self.stream.flush()
