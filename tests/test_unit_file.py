"""systemd/ebbtide.service, checked by the real systemd-analyze and read setting by setting.

`systemd-analyze verify` on the unit as shipped always names one problem on a machine
without Ebbtide installed: /opt/ebbtide/venv/bin/ebbtide does not exist. So the unit is
verified twice: as shipped, where that must be the only message, and as a copy whose
ExecStart names an executable that exists, where verify must say nothing at all. The
second is the meaningful check: verify reports bad values (and exits 0) by printing them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent.parent / "systemd" / "ebbtide.service"
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


def copy_with_existing_binary(directory: Path) -> Path:
    """The unit, with ExecStart's program replaced by an executable stub that exists."""
    stub = directory / "ebbtide"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    copy = directory / UNIT.name  # verify names the unit after the file
    copy.write_text(UNIT.read_text().replace(f"ExecStart={BINARY} ", f"ExecStart={stub} "))
    assert str(stub) in copy.read_text()
    return copy


@needs_analyze
def test_verify_is_clean_when_the_binary_exists(tmp_path: Path) -> None:
    code, lines = analyze("verify", copy_with_existing_binary(tmp_path))
    assert (code, lines) == (0, [])


@needs_analyze
def test_verify_as_shipped_only_misses_the_installed_binary() -> None:
    code, lines = analyze("verify", UNIT)
    if Path(BINARY).exists():
        assert (code, lines) == (0, [])
    else:
        assert code != 0
        assert lines == [f"ebbtide.service: Command {BINARY} is not executable: "
                         "No such file or directory"]


@needs_analyze
def test_verify_would_catch_a_bad_value(tmp_path: Path) -> None:
    """The clean result above means something: a typo in the unit is reported."""
    copy = copy_with_existing_binary(tmp_path)
    copy.write_text(copy.read_text().replace("WatchdogSec=30", "WatchdogSec=thirty"))
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
    assert one("ExecStart") == f"{BINARY} run --config /etc/ebbtide/config.toml"
    assert (one("User"), one("Group")) == ("ebbtide", "ebbtide")
    assert one("SupplementaryGroups").split() == ["gpio", "audio"]
    assert (one("StateDirectory"), one("StateDirectoryMode")) == ("ebbtide", "0700")
    # lgpio's notify pipe: the working directory is the writable runtime directory.
    assert one("RuntimeDirectory") == "ebbtide"
    assert one("WorkingDirectory") == "/run/ebbtide"
    assert service["Environment"] == [
        "LG_WD=/run/ebbtide", "PYTHONOPTIMIZE=2 PYTHONPYCACHEPREFIX=/var/lib/ebbtide/bytecode"]
    assert one("PrivateNetwork") == "yes"
    assert one("RestrictAddressFamilies") == "AF_UNIX"
    assert one("ProtectSystem") == "strict"
    assert one("NoNewPrivileges") == "yes"
    assert one("CapabilityBoundingSet") == ""
    assert one("DevicePolicy") == "closed"
    assert sorted(service["DeviceAllow"]) == ["char-alsa rw", "char-gpiochip rw"]
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]
