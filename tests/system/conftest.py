"""Starts the ARM installs (tests/system/test_arm_install.py) at the start of a run that
includes them, so they run beside the other tests (at idle priority) instead of after."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.system import armroot
from tests.system.test_systemd import checkout_files

_BACKGROUND = pytest.StashKey["armroot.Background | None"]()
REPO = Path(__file__).resolve().parents[2]


def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
    if (config.stash.get(_BACKGROUND, None) is not None or hasattr(config, "workerinput")
            or config.option.collectonly):
        return
    if not any(item.get_closest_marker("arm") for item in session.items):
        return
    if armroot.missing_requirements() is not None:
        return  # the test says why, and skips (or fails, where it is required)
    work = Path(tempfile.mkdtemp(prefix="ebbtide-arm-", dir=os.environ.get("TMPDIR")))
    config.stash[_BACKGROUND] = armroot.Background(REPO, checkout_files(REPO), work)


def background(config: pytest.Config) -> armroot.Background:
    """The run's ARM installs: the ones started with the run, or (a test run some other
    way) started now."""
    found = config.stash.get(_BACKGROUND, None)
    if found is None:
        work = Path(tempfile.mkdtemp(prefix="ebbtide-arm-"))
        found = config.stash[_BACKGROUND] = armroot.Background(REPO, checkout_files(REPO),
                                                               work)
    return found
