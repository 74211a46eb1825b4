"""systemd/install.sh: its plan (--dry-run) and its file steps for real under --root.

A real install needs root, apt, a network and a running systemd, which CI does not have.
The dry run prints the very steps a real run takes (both walk the same code), so the
plan is checked here, and --root runs the steps that only write files into tmp_path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.process

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "systemd" / "install.sh"
SKIP = "# skipped under --root: "
WARM = ("runuser -u ebbtide -- env STATE_DIRECTORY=/var/lib/ebbtide "
        "/opt/ebbtide/venv/bin/ebbtide check --config /etc/ebbtide/config.toml")

needs_systemctl = pytest.mark.skipif(
    shutil.which("systemctl") is None,
    reason="systemctl is not installed (Debian package: systemd); --root enables with it",
)


def install_sh(*args: str | Path, code: int = 0) -> str:
    """Run the installer; check its exit code; return its stdout."""
    done = subprocess.run(
        ["bash", SCRIPT, *map(str, args)], capture_output=True, text=True, timeout=60,
        check=False,
    )
    assert done.returncode == code, done.stdout + done.stderr
    return done.stdout


def plan(*args: str | Path) -> list[str]:
    """The commands of a dry run, in order. Under --root a skipped host step still counts
    (it is listed, not run); other '#' lines are notes and are left out."""
    lines = install_sh("--dry-run", *args).splitlines()
    return [line.removeprefix(SKIP) for line in lines
            if line.startswith(SKIP) or not line.startswith("#")]


def install_plan(root: str = "", config_exists: bool = False) -> list[str]:
    """What an install should do, in order."""
    enable = f"systemctl --root={root} enable" if root else "systemctl enable"
    config = [] if config_exists else [
        f"install -D -m 0644 {REPO}/config.example.toml {root}/etc/ebbtide/config.toml"]
    return [
        "apt-get update",
        "env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends",
        "systemd-sysusers --inline 'u ebbtide - \"Ebbtide bedside calm device\" /nonexistent "
        "/usr/sbin/nologin' 'm ebbtide gpio' 'm ebbtide audio' 'm ebbtide i2c'",
        "/usr/bin/python3 -m venv --system-site-packages /opt/ebbtide/venv",
        "/opt/ebbtide/venv/bin/pip install --disable-pip-version-check --no-cache-dir "
        f"--upgrade '{REPO}[voice,sensor]'",  # 64-bit x86: the natural voice
        *config,
        f"install -D -m 0644 {REPO}/systemd/ebbtide.service "
        f"{root}/etc/systemd/system/ebbtide.service",
        "systemctl daemon-reload",
        f"{enable} ebbtide.service",
        f"install -d -m 0700 {root}/var/lib/ebbtide",
        "chown ebbtide:ebbtide /var/lib/ebbtide",
        WARM,  # the voice is made before the service starts
        "systemctl restart ebbtide.service",
    ]


def assert_plan(actual: list[str], expected: list[str]) -> None:
    """Same steps in the same order; the apt install line is matched up to its packages."""
    assert len(actual) == len(expected), "\n".join(actual)
    for got, want in zip(actual, expected, strict=True):
        assert got.startswith(want) if "apt-get install" in want else got == want


def test_syntax() -> None:
    subprocess.run(["bash", "-n", SCRIPT], check=True, timeout=30)


@pytest.mark.skipif(shutil.which("shellcheck") is None,
                    reason="shellcheck is not installed (Debian package: shellcheck)")
def test_shellcheck_clean() -> None:
    done = subprocess.run(["shellcheck", SCRIPT], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stdout


def test_dry_run_plan_on_this_machine() -> None:
    steps = plan()
    assert_plan(steps, install_plan(config_exists=Path("/etc/ebbtide/config.toml").exists()))
    packages = steps[1].split()[6:]
    assert {"python3-venv", "espeak-ng", "libespeak-ng1", "libportaudio2",
            "alsa-utils"} <= set(packages)
    on_pi_os = any(Path("/etc/apt/sources.list.d").glob("raspi.*"))
    assert ("python3-lgpio" in packages) == on_pi_os


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    assert_plan(plan("--root", tmp_path), install_plan(str(tmp_path)))
    assert list(tmp_path.iterdir()) == []
    assert_plan(plan("--root", tmp_path, "--uninstall", "--purge")[-1:],
                [f"rm -rf {tmp_path}/etc/ebbtide {tmp_path}/var/lib/ebbtide"])
    assert list(tmp_path.iterdir()) == []


def test_an_existing_config_is_never_overwritten_in_the_plan(tmp_path: Path) -> None:
    config = tmp_path / "etc" / "ebbtide" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[light]\npin = 12\n")
    assert_plan(plan("--root", tmp_path), install_plan(str(tmp_path), config_exists=True))
    assert f"# keeping {config}" in install_sh("--dry-run", "--root", tmp_path)


def test_uninstall_plans() -> None:
    keep = plan("--uninstall")
    purge = plan("--uninstall", "--purge")
    assert purge[:-1] == keep
    assert purge[-1] == "rm -rf /etc/ebbtide /var/lib/ebbtide"
    assert keep[-2:] == ["rm -rf /opt/ebbtide", "deluser --system ebbtide"]
    assert not any("/etc/ebbtide" in step or "/var/lib/ebbtide" in step for step in keep)


@needs_systemctl
def test_uninstall_plan_with_the_unit_installed(tmp_path: Path) -> None:
    install_sh("--root", tmp_path)
    assert plan("--root", tmp_path, "--uninstall") == [
        "systemctl stop ebbtide.service",
        f"systemctl --root={tmp_path} disable ebbtide.service",
        f"rm -f {tmp_path}/etc/systemd/system/ebbtide.service",
        "systemctl daemon-reload",
        f"rm -rf {tmp_path}/opt/ebbtide",
        "deluser --system ebbtide",
    ]


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@needs_systemctl
def test_file_steps_under_a_scratch_root(tmp_path: Path) -> None:
    out = install_sh("--root", tmp_path)
    assert f"{SKIP}apt-get update" in out.splitlines()
    config = tmp_path / "etc/ebbtide/config.toml"
    unit = tmp_path / "etc/systemd/system/ebbtide.service"
    wants = tmp_path / "etc/systemd/system/multi-user.target.wants/ebbtide.service"
    state = tmp_path / "var/lib/ebbtide"
    assert config.read_text() == (REPO / "config.example.toml").read_text()
    assert unit.read_text() == (REPO / "systemd/ebbtide.service").read_text()
    assert (mode(config), mode(unit), mode(state)) == (0o644, 0o644, 0o700)
    assert os.readlink(wants) == "/etc/systemd/system/ebbtide.service"

    # Again, after the owner edited the config: it is kept, and the run still succeeds.
    config.write_text("[light]\npin = 12\n")
    unit.write_text("stale\n")
    again = install_sh("--root", tmp_path)
    assert config.read_text() == "[light]\npin = 12\n"
    assert unit.read_text() == (REPO / "systemd/ebbtide.service").read_text()
    assert f"# keeping {config}: an existing config is never overwritten" in again
    assert os.readlink(wants) == "/etc/systemd/system/ebbtide.service"


@needs_systemctl
def test_uninstall_keeps_config_and_history_unless_purged(tmp_path: Path) -> None:
    install_sh("--root", tmp_path)
    venv = tmp_path / "opt/ebbtide/venv/bin"
    venv.mkdir(parents=True)
    history = tmp_path / "var/lib/ebbtide/history.sqlite3"
    history.write_bytes(b"rows")

    install_sh("--root", tmp_path, "--uninstall")
    assert not (tmp_path / "etc/systemd/system/ebbtide.service").exists()
    assert not (tmp_path / "etc/systemd/system/multi-user.target.wants").exists()
    assert not (tmp_path / "opt/ebbtide").exists()
    assert (tmp_path / "etc/ebbtide/config.toml").exists()
    assert history.read_bytes() == b"rows"
    install_sh("--root", tmp_path, "--uninstall")  # again: nothing left to do, no error

    install_sh("--root", tmp_path, "--uninstall", "--purge")
    assert not (tmp_path / "etc/ebbtide").exists()
    assert not (tmp_path / "var/lib/ebbtide").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--purge"], "--purge goes with --uninstall"),
        (["--bogus"], "unknown option --bogus"),
        (["--root", "/nonexistent/ebbtide-root"], "is not a directory"),
    ],
)
def test_bad_arguments(args: list[str], message: str) -> None:
    done = subprocess.run(["bash", SCRIPT, "--dry-run", *args], capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert message in done.stderr
