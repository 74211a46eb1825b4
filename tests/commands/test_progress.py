"""The progress bar: drawn on a terminal, and nothing at all in a pipe or a log."""

from __future__ import annotations

import io

from device.commands.progress import ProgressBar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_sees_the_bar_fill_on_one_line_then_a_clean_line() -> None:
    screen = Terminal()
    bar = ProgressBar.on_terminal(screen)
    assert bar is not None
    bar(0, 4)
    bar(2, 4)
    bar(4, 4)
    bar.done()
    frames = screen.getvalue().split("\r")[1:]
    assert frames[0].endswith("[" + " " * ProgressBar.WIDTH + "] 0/4")
    assert frames[1].endswith("[" + "#" * 15 + " " * 15 + "] 2/4")
    assert frames[2] == "making the voice [" + "#" * ProgressBar.WIDTH + "] 4/4"
    assert frames[3] == "\033[K"  # the report that follows starts on a clean line


def test_a_pipe_gets_no_bar() -> None:
    assert ProgressBar.on_terminal(io.StringIO()) is None
