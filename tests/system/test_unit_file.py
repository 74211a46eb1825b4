"""systemd/ebbtide.service, checked by the real systemd-analyze and read setting by setting.

`systemd-analyze verify` reports bad values (and exits 0) by printing them, so a clean
verify is one that prints nothing. It checks that ExecStart's program exists: that is
/bin/sh, which starts Ebbtide with the presses ignored until Ebbtide catches them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "ebbtide.service"
BINARY = "/opt/ebbtide/venv/bin/ebbtide"
ANALYZE = shutil.which("systemd-analyze")

needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is not installed (Debian package: systemd)"
)


def analyze(*args: str | Path) -> tuple[int, list[str]]:
    """Run systemd-analyze; return its exit code and its output lines (stdout + stderr)."""
    assert ANALYZE is not None
    done = subprocess.run(
        [ANALYZE, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )
    return done.returncode, (done.stdout + done.stderr).splitlines()


def settings(text: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as {section: {key: [values, in order]}}; keys may repeat."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@needs_analyze
def test_verify_is_clean() -> None:
    code, lines = analyze("verify", UNIT)
    assert (code, lines) == (0, [])


@needs_analyze
def test_verify_would_catch_a_bad_value(tmp_path: Path) -> None:
    """The clean result above means something: a typo in the unit is reported."""
    copy = tmp_path / UNIT.name  # verify names the unit after the file
    copy.write_text(UNIT.read_text().replace("WatchdogSec=30", "WatchdogSec=thirty"))
    _, lines = analyze("verify", copy)
    assert any("WatchdogSec" in line or "thirty" in line for line in lines), lines


@needs_analyze
def test_offline_security_exposure_is_at_most_one() -> None:
    code, lines = analyze("security", "--offline=yes", "--no-pager", UNIT)
    assert code == 0, lines
    overall = [m for line in lines if (m := re.search(r"Overall exposure level for "
                                                      r"ebbtide\.service: (\d+\.\d+)", line))]
    assert len(overall) == 1, lines
    assert float(overall[0].group(1)) <= 1.0, "\n".join(lines)


def test_service_settings() -> None:
    unit = settings(UNIT.read_text())
    service = unit["Service"]

    def one(key: str) -> str:
        assert len(service.get(key, [])) == 1, f"{key}: {service.get(key)}"
        return service[key][0]

    assert one("Type") == "notify"
    assert one("NotifyAccess") == "main"
    assert 10 <= int(one("WatchdogSec")) <= 120
    assert one("Restart") == "on-failure"
    # USR1 and HUP are ignored from the first instant (exec keeps that), until Ebbtide
    # catches them: Python's own start-up would otherwise be killed by an early press.
    assert one("ExecStart") == ("/bin/sh -c \"trap '' USR1 HUP; "
                                f"exec {BINARY} run --config /etc/ebbtide/config.toml\"")
    assert one("SyslogIdentifier") == "ebbtide"
    # However the service ends, a process of its own switches the light off afterwards.
    assert one("ExecStopPost") == f"-{BINARY} off --config /etc/ebbtide/config.toml"
    assert (one("User"), one("Group")) == ("ebbtide", "ebbtide")
    assert one("SupplementaryGroups").split() == ["gpio", "audio", "i2c"]
    assert (one("StateDirectory"), one("StateDirectoryMode")) == ("ebbtide", "0700")
    # lgpio's notify pipe: the working directory is the writable runtime directory.
    assert one("RuntimeDirectory") == "ebbtide"
    assert one("WorkingDirectory") == "/run/ebbtide"
    assert service["Environment"] == [
        "LG_WD=/run/ebbtide", "XDG_CONFIG_HOME=/run/ebbtide",
        "PYTHONOPTIMIZE=2 PYTHONPYCACHEPREFIX=/var/lib/ebbtide/bytecode"]
    assert one("PrivateNetwork") == "yes"
    assert one("RestrictAddressFamilies") == "AF_UNIX"
    assert one("ProtectSystem") == "strict"
    assert one("NoNewPrivileges") == "yes"
    assert one("CapabilityBoundingSet") == ""
    assert one("DevicePolicy") == "closed"
    # The pins, the sound and the breath sensor's I2C bus: nothing more.
    assert sorted(service["DeviceAllow"]) == ["char-alsa rw", "char-gpiochip rw", "char-i2c rw"]
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]
