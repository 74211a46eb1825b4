"""Waiting for what a test needs to have happened, instead of sleeping for a guessed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float, what: str,
               every: float = 0.005) -> T:
    """Ask condition() every `every` seconds until its answer is true, and return that answer;
    fail saying `what` never happened if `timeout` seconds pass first. A poll ends as soon as
    the thing is done, and waits longer than a sleep would when the machine is slow."""
    deadline = time.monotonic() + timeout
    while not (answer := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never happened within {timeout} s")
        time.sleep(every)
    return answer
