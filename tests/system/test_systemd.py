"""Ebbtide under a real systemd: install.sh run as a user would, in a booted Debian 12.

The other service tests (test_service.py, test_unit_file.py, test_install.py) check the
app's side of the protocol and the unit's text. Only systemd itself can tell whether the
two fit: that the unit is active only once the app says READY=1, that a hung loop is
restarted by the watchdog, that the start limit gives up on a crash loop, that the sandbox
holds. So the container (tests/system/container.py) boots once for this module, install.sh runs in
it, and each test asks systemd, its journal and the service's own trace.

The container has no GPIO chip and no sound card: a drop-in gives the service mock pins and
a trace file, and sessions run with the light alone, as on a Pi with no speaker.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.system import container
from tests.system.container import Container, poll

pytestmark = [pytest.mark.container, pytest.mark.process]

REPO = Path(__file__).resolve().parents[2]
UNIT = "ebbtide.service"
EBBTIDE = "/opt/ebbtide/venv/bin/ebbtide"
STATE = "/var/lib/ebbtide"
TRACE = f"{STATE}/trace.jsonl"
CONFIG_PATH = "/etc/ebbtide/config.toml"
HISTORY = f"{STATE}/history.sqlite3"
CHECKOUT = "/root/ebbtide"
DROPINS = "/etc/systemd/system/ebbtide.service.d"
BUTTON_PIN, LIGHT_PIN = 17, 18  # the defaults; CONFIG keeps them
CONFIG = "[breathing]\nminutes = 1\n"
PRIVATE_FILE = "/home/pi/notes.txt"  # a user's file the service must not see


def base_dropin(unit_text: str) -> str:
    """The drop-in every test runs under: no GPIO chip in the container, so simulated pins;
    and the unit's own ExecStart= with a trace of every event added."""
    lines = [line for line in unit_text.splitlines() if line.startswith("ExecStart=")]
    assert len(lines) == 1, f"one ExecStart= line expected in the unit, found {lines}"
    traced, found = re.subn(rf"(\bebbtide run\b[^\n\"']*?--config {re.escape(CONFIG_PATH)})",
                            rf"\1 --trace {TRACE}", lines[0])
    assert found == 1, f"cannot add --trace to {lines[0]}"
    return ("[Service]\n# No GPIO chip here.\nEnvironment=GPIOZERO_PIN_FACTORY=mock\n"
            f"ExecStart=\n{traced}\n")


def _required() -> bool:
    return os.environ.get("EBBTIDE_REQUIRE_CONTAINER") == "1"


def checkout_files(repo: Path) -> list[str]:
    """What a user's clone holds: tracked and new files, not .venv, caches or build output."""
    listed = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], capture_output=True, text=True, check=False)
    if listed.returncode == 0:
        names = [n for n in listed.stdout.split("\0") if n]
    else:  # not a git checkout: everything but what .gitignore names
        skip = re.compile(r"(^|/)(\.venv|\.git|__pycache__|[^/]*\.egg-info|\.pytest_cache|"
                          r"\.ruff_cache|\.hypothesis|build|out)(/|$)")
        names = [str(p.relative_to(repo)) for p in repo.rglob("*")
                 if p.is_file() and not skip.search(str(p.relative_to(repo)))]
    return [n for n in names if (repo / n).is_file()]


# -- the container, with Ebbtide installed by install.sh ---------------------------------------


@pytest.fixture(scope="module")
def box(tell) -> Iterator[Container]:
    """One booted container for the module, with Ebbtide installed and running.

    install.sh runs as on a Pi, with no GPIOZERO_PIN_FACTORY: its `ebbtide check` warns
    that there are no pins and goes on; the service gets mock pins from the drop-in.
    """
    reason = container.missing_requirements()
    if reason:
        if _required():
            pytest.fail(f"EBBTIDE_REQUIRE_CONTAINER=1, but {reason}")
        tell(f"\ntest_systemd: every check under a real systemd is SKIPPED: {reason}")
        pytest.skip(reason)
    nspawn_tmp_before = set(Path("/tmp").glob("nspawn-*"))
    root = container.cached_root(log=tell)
    wheels = container.wheels_path()
    wheels.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    with Container(root, binds={wheels: container.WHEELS_INSIDE},
                   read_only_binds={REPO: container.SOURCE_INSIDE}) as c:
        booted = time.monotonic()
        c.copy_tree(REPO, checkout_files(REPO), CHECKOUT)
        find_links = container.wheelhouse(c, REPO, log=tell)
        c.write(f"{DROPINS}/test.conf",
                base_dropin((REPO / "systemd" / "ebbtide.service").read_text()))
        c.write(CONFIG_PATH, CONFIG)  # install.sh keeps an existing config
        c.write(PRIVATE_FILE, "a private note\n")
        installing = time.monotonic()
        done = c.run([f"{CHECKOUT}/systemd/install.sh"], env=container.pip_env(find_links),
                     timeout=1500, check=False)
        assert done.returncode == 0, (f"install.sh exited with {done.returncode}:\n"
                                      f"{done.stdout[-4000:]}{done.stderr[-4000:]}\n"
                                      f"{c.journal_tail()}")
        pins = next((line for line in done.stdout.splitlines() if line.startswith("pins:")),
                    "no pins line")
        tell(f"\ncontainer: booted in {booted - began:.1f} s; install.sh took "
             f"{time.monotonic() - installing:.0f} s; its check said {pins[:60]!r}...")
        yield c
    left = set(Path("/tmp").glob("nspawn-*")) - nspawn_tmp_before
    assert not left, f"systemd-nspawn left {sorted(left)} in /tmp"


@pytest.fixture(autouse=True)
def running(box: Container) -> None:
    """Each test starts with the service active, whatever the test before it did."""
    state = box.show(UNIT, "ActiveState", "LoadState")
    if state["LoadState"] == "loaded" and state["ActiveState"] != "active":
        box.systemctl("reset-failed", UNIT, check=False)
        box.systemctl("start", UNIT)


# -- helpers -------------------------------------------------------------------------------------


def props(box: Container, *names: str) -> dict[str, str]:
    return box.show(UNIT, *names)


def install_env() -> dict[str, str]:
    """install.sh's environment: pip takes the wheelhouse the box fixture made."""
    return container.pip_env(f"{container.WHEELS_INSIDE}/{container.wheelhouse_key(REPO)}")


def main_pid(box: Container) -> int:
    return int(props(box, "MainPID")["MainPID"])


def wait_running(box: Container, old_pid: int = 0, timeout: float = 60) -> int:
    """Wait until the service is active (running) with a main process other than old_pid;
    its MainPID."""

    def check() -> int | None:
        p = props(box, "ActiveState", "SubState", "MainPID")
        pid = int(p["MainPID"])
        running = (p["ActiveState"], p["SubState"]) == ("active", "running")
        return pid if running and pid not in (0, old_pid) else None

    return poll(check, timeout, lambda: f"not active (running) again within {timeout} s: "
                f"{props(box, 'ActiveState', 'SubState', 'Result', 'MainPID')}\n"
                f"{box.journal_tail()}")


def restart(box: Container) -> int:
    """systemctl restart (it returns once the new process has sent READY=1); its MainPID."""
    box.systemctl("restart", UNIT)
    return wait_running(box, timeout=5)


def press(box: Container) -> None:
    """A press from afar, as the README tells a user to make one: the signal goes to every
    process of the service (the voice maker's child too, if one is running)."""
    box.systemctl("kill", "-s", "USR1", UNIT)


def signal_main(box: Container, name: str) -> None:
    """A signal to the main process only (minbase has no kill command)."""
    box.systemctl("kill", "--kill-whom=main", f"--signal={name}", UNIT)


def trace(box: Container) -> list[dict[str, Any]]:
    """The running (or last) process's trace. Light events are written in blocks, so the
    last line may be cut off while it runs."""
    events = []
    for line in box.run(["cat", TRACE], check=False).stdout.splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            events.append(json.loads(line))
    return events


def wait_event(box: Container, event: str, timeout: float = 15, **fields: object
               ) -> dict[str, Any]:
    """The first trace event named `event` with these fields, waiting for it."""

    def check() -> dict[str, Any] | None:
        return next((e for e in trace(box) if e["event"] == event
                     and all(e.get(k) == v for k, v in fields.items())), None)

    return poll(check, timeout, lambda: f"no {event} {fields} in the trace within {timeout} s:"
                f"\n{[e for e in trace(box) if e['event'] != 'light'][-15:]}\n"
                f"{box.journal_tail()}")


def history(box: Container) -> list[dict[str, str]]:
    """`ebbtide history --csv` as the service user reads it, oldest first."""
    out = box.run(["runuser", "-u", "ebbtide", "--", "env", f"STATE_DIRECTORY={STATE}",
                   EBBTIDE, "history", "--csv", "--limit", "1000"]).stdout
    return sorted(csv.DictReader(io.StringIO(out)), key=lambda row: int(row["id"]))


def app_lines(box: Container, after: str = "") -> list[dict[str, str]]:
    """What the app itself wrote to the journal (its stdout and stderr)."""
    return [e for e in box.journal(UNIT, after) if e.get("_TRANSPORT") == "stdout"]


def wait_journal(box: Container, pattern: str, after: str, timeout: float = 15
                 ) -> dict[str, str]:
    """The first journal line of the unit after `after` matching the regex `pattern`."""
    found = re.compile(pattern)
    return poll(lambda: next((e for e in box.journal(UNIT, after)
                              if found.search(e["MESSAGE"])), None),
                timeout, lambda: f"no line matching {pattern!r} in the journal within "
                                 f"{timeout} s:\n{box.journal_tail()}")


@contextlib.contextmanager
def dropin(box: Container, name: str, text: str) -> Iterator[None]:
    """A drop-in for the unit while the block runs; afterwards it is gone, the failed state
    and the start limit are reset, and the service runs as before."""
    box.write(f"{DROPINS}/{name}", text)
    box.systemctl("daemon-reload")
    try:
        yield
    finally:
        box.run(["rm", "-f", f"{DROPINS}/{name}"])
        box.systemctl("daemon-reload")
        box.systemctl("reset-failed", UNIT, check=False)
        box.systemctl("restart", UNIT)


def start_session(box: Container) -> None:
    """A press (SIGUSR1), and wait until the session is under way and recorded."""
    press(box)
    wait_event(box, "session", state="started")
    wait_event(box, "part", name="arrive")  # after the history row is begun


def wait_lit(box: Container) -> None:
    """Wait until the trace shows the light on (the trace writes light events in blocks, a
    few seconds apart), so what comes next happens mid-session, with the light lit."""
    poll(lambda: any(e["event"] == "light" and e["value"] > 0 for e in trace(box)), 20,
         lambda: f"the light never came on:\n{box.journal_tail()}", interval=0.1)


def monotonic_us(value: str) -> float:
    return int(value) / 1e6


# -- 1. start-up -------------------------------------------------------------------------------


def test_the_unit_is_active_only_once_the_app_says_it_is_ready(box, tell):
    """Type=notify: `systemctl start` (and units ordered after it) wait for READY=1, so
    "active (running)" means the voice is made and the button works."""
    entries = box.journal(UNIT)
    ready = next((i for i, e in enumerate(entries) if e.get("_TRANSPORT") == "stdout"
                  and e["MESSAGE"].startswith(f"ready: press the button on GPIO{BUTTON_PIN}")),
                 None)
    started = next((i for i, e in enumerate(entries) if box.is_started_line(e, UNIT)), None)
    assert ready is not None and started is not None, box.journal_tail()
    assert ready < started, "systemd said Started before the app was ready:\n" + \
        box.journal_tail()
    p = props(box, "StatusText", "ExecMainStartTimestampMonotonic",
              "ActiveEnterTimestampMonotonic")
    assert p["StatusText"] == f"ready: press the button on GPIO{BUTTON_PIN}"
    first = (monotonic_us(p["ActiveEnterTimestampMonotonic"])
             - monotonic_us(p["ExecMainStartTimestampMonotonic"]))

    # A restart shows the same from outside: "activating (start)" until READY=1.
    old = main_pid(box)
    cursor = box.cursor()
    box.systemctl("restart", "--no-block", UNIT)
    seen: list[tuple[str, str]] = []

    def watch() -> bool:
        q = props(box, "ActiveState", "SubState", "MainPID")
        state = (q["ActiveState"], q["SubState"])
        if not seen or seen[-1] != state:
            seen.append(state)
        return state == ("active", "running") and q["MainPID"] not in ("0", str(old))

    poll(watch, 60, lambda: f"not running again: {seen}\n{box.journal_tail()}", interval=0.02)
    assert ("activating", "start") in seen, seen
    later = box.journal(UNIT, cursor)
    ready_at = next(i for i, e in enumerate(later) if e["MESSAGE"].startswith("ready: press"))
    started_at = next(i for i, e in enumerate(later) if box.is_started_line(e, UNIT))
    assert ready_at < started_at, box.journal_tail()
    p = props(box, "ExecMainStartTimestampMonotonic", "ActiveEnterTimestampMonotonic")
    again = (monotonic_us(p["ActiveEnterTimestampMonotonic"])
             - monotonic_us(p["ExecMainStartTimestampMonotonic"]))
    tell(f"\nstart to READY=1: {first:.2f} s after install.sh, {again:.2f} s on a restart; "
         f"states seen: {seen}")


# -- 2. the button, from afar ----------------------------------------------------------------


def test_usr1_starts_a_session_and_a_second_moves_it_on(box):
    """`systemctl kill -s USR1 ebbtide` is a press: the first starts a session, the next
    skips to the next part, as the README tells a user to try."""
    restart(box)
    press(box)
    started = wait_event(box, "session", state="started")
    arrive = wait_event(box, "part", name="arrive")
    poll(lambda: props(box, "StatusText")["StatusText"] == "in a session", 5,
         lambda: f"status: {props(box, 'StatusText')}")
    press(box)
    breathe = wait_event(box, "part", name="breathe")
    assert started["t"] <= arrive["t"] <= breathe["t"]
    assert breathe["t"] - arrive["t"] < arrive["seconds"], "breathe came only when arrive ended"
    assert props(box, "ActiveState")["ActiveState"] == "active"


def usr1_is_ignored_or_caught(box: Container, pid: int) -> bool:
    """Whether `pid` no longer dies of USR1: ignored by the unit's shell, or caught by
    Ebbtide. (Before that is systemd's own fork-to-exec, a few milliseconds no program can
    close: a press there ends that start, and Restart= brings the service back.)"""
    status = box.run(["cat", f"/proc/{pid}/status"], check=False).stdout
    masks = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    bit = 1 << (10 - 1)  # SIGUSR1
    return any(int(masks.get(m, "0"), 16) & bit for m in ("SigIgn", "SigCgt"))


def test_bursts_of_presses_never_hang_or_kill_it(box, tell):
    """`systemctl kill -s USR1 ebbtide` in a tight loop (a script, a bouncing switch) while
    it starts, then idle or in a session; then `systemctl stop`: a clean, quick exit, in the
    dark, and no restart on the way."""
    old = restart(box)
    restarts = int(props(box, "NRestarts")["NRestarts"])
    burst = f"for i in $(seq 100); do systemctl kill -s USR1 {UNIT}; done"
    box.systemctl("restart", "--no-block", UNIT)
    pid = poll(lambda: next((p for p in [main_pid(box)] if p not in (0, old)
                             and usr1_is_ignored_or_caught(box, p)), None), 30,
               lambda: f"no new main process:\n{box.journal_tail()}", interval=0.005)
    box.sh(burst, timeout=120)  # while it starts: the presses are ignored, or kept for later
    assert wait_running(box, old, timeout=30) == pid
    box.sh(burst, timeout=120)  # a session starts, and presses move it on
    wait_event(box, "session", state="started")
    box.sh(burst, timeout=120)
    stopping = time.monotonic()
    box.systemctl("stop", UNIT)
    took = time.monotonic() - stopping
    p = props(box, "ExecMainStatus", "Result", "NRestarts")
    assert (p["ExecMainStatus"], p["Result"]) == ("0", "success"), p
    assert int(p["NRestarts"]) == restarts, "it never died on the way"
    lights = [e["value"] for e in trace(box) if e["event"] == "light"]
    assert lights[-1] == 0.0
    started = [e for e in trace(box) if e["event"] == "session" and e["state"] == "started"]
    tell(f"\nbursts: 300 presses by systemctl, {len(started)} session(s) started; "
         f"stopped in {took:.2f} s")
    assert took < 5.0


# -- 3. a hang -----------------------------------------------------------------------------------


def test_a_hung_main_loop_is_restarted_by_the_watchdog(box, tell):
    """A stopped process sends no WATCHDOG=1: systemd kills it and starts it again."""
    with dropin(box, "watchdog.conf", "[Service]\nWatchdogSec=2\nRestartSec=1\n"):
        pid = restart(box)
        restarts = int(props(box, "NRestarts")["NRestarts"])
        cursor = box.cursor()
        stopped = time.monotonic()
        signal_main(box, "SIGSTOP")
        new = wait_running(box, pid, timeout=30)
        took = time.monotonic() - stopped
        wait_journal(box, r"[Ww]atchdog timeout", cursor, timeout=1)
        assert int(props(box, "NRestarts")["NRestarts"]) > restarts
        assert new != pid
    tell(f"\nwatchdog: SIGSTOP to active again in {took:.1f} s (WatchdogSec=2, RestartSec=1)")


# -- 4. a crash, and a crash loop -------------------------------------------------------------


def test_a_crash_restarts_and_a_crash_loop_ends_in_failed(box, tell):
    """Restart=on-failure brings a crashed process back after RestartSec=; crashing again
    and again hits the start limit, and the unit stays failed instead of looping."""
    pid = restart(box)
    restarts = int(props(box, "NRestarts")["NRestarts"])
    crashed = time.monotonic()
    signal_main(box, "SIGSEGV")
    wait_running(box, pid, timeout=60)
    took = time.monotonic() - crashed
    assert int(props(box, "NRestarts")["NRestarts"]) == restarts + 1

    limits = ("[Unit]\nStartLimitIntervalSec=60\nStartLimitBurst=3\n"
              "[Service]\nRestartSec=100ms\n")
    with dropin(box, "crashloop.conf", limits):
        box.systemctl("reset-failed", UNIT)  # the start counter from zero
        cursor = box.cursor()
        pid = main_pid(box)
        crashes = 0
        while props(box, "ActiveState")["ActiveState"] != "failed":
            assert crashes < 6, f"still restarting after {crashes} crashes"
            signal_main(box, "SIGSEGV")
            crashes += 1

            def next_state(old: int = pid) -> int | str | None:
                p = props(box, "ActiveState", "SubState", "MainPID")
                if p["ActiveState"] == "failed":
                    return "failed"
                running = (p["ActiveState"], p["SubState"]) == ("active", "running")
                return int(p["MainPID"]) if running and p["MainPID"] != str(old) else None

            state = poll(next_state, 60, lambda: f"neither running nor failed:\n"
                                                 f"{box.journal_tail()}")
            pid = state if isinstance(state, int) else pid
        p = props(box, "ActiveState", "Result")
        assert p["ActiveState"] == "failed", p
        wait_journal(box, "Start request repeated too quickly", cursor, timeout=1)
        assert crashes == 4, f"StartLimitBurst=3 allows 3 restarts; it took {crashes} crashes"
        refused = box.systemctl("start", UNIT, check=False)
        assert refused.returncode != 0, "a start within the interval is refused too"
        result = props(box, "Result")["Result"]
    tell(f"\ncrash: SIGSEGV to active again in {took:.1f} s (the shipped RestartSec=5); "
         f"a crash loop failed after {crashes} crashes, Result={p['Result']} "
         f"(after a refused start: {result}; systemctl said {refused.stderr.strip()!r})")


# -- 5. a stop mid-session -------------------------------------------------------------------


def test_stop_mid_session_darkens_records_interrupted_and_succeeds(box, tell):
    """`systemctl stop` (SIGTERM) in a session: the light goes off, the process exits 0,
    and the history says the session was interrupted."""
    restart(box)
    start_session(box)
    wait_lit(box)
    stopping = time.monotonic()
    box.systemctl("stop", UNIT)
    took = time.monotonic() - stopping
    lights = [e for e in trace(box) if e["event"] == "light"]
    assert lights and lights[-1]["value"] == 0.0, lights[-3:]
    p = props(box, "ExecMainStatus", "ExecMainCode", "Result", "ActiveState")
    assert (p["ExecMainStatus"], p["Result"]) == ("0", "success"), p
    last = history(box)[-1]
    tell(f"\nstop mid-session: {took:.2f} s; history outcome {last['outcome']!r}")
    assert last["outcome"] == "interrupted", last


# -- 6. SIGKILL mid-session -----------------------------------------------------------------


def test_sigkill_mid_session_turns_the_light_off_and_restarts(box, tell):
    """A killed process cannot switch the light off itself: ExecStopPost= (`ebbtide off`)
    does it, and Restart= brings the service back; the cut-off session is recorded."""
    pid = restart(box)
    start_session(box)
    wait_lit(box)
    before = len(history(box))
    cursor = box.cursor()
    killed = time.monotonic()
    signal_main(box, "SIGKILL")
    wait_running(box, pid, timeout=60)
    took = time.monotonic() - killed
    tell(f"\nSIGKILL to active again in {took:.1f} s")
    rows = history(box)
    assert len(rows) == before and rows[-1]["outcome"] == "interrupted", rows[-1]
    wait_journal(box, rf"the light \(GPIO{LIGHT_PIN}\) is off", cursor, timeout=5)


# -- 7. the sandbox and the journal -------------------------------------------------------------


def test_the_service_has_no_network(box):
    pid = main_pid(box)
    devices = [line.split(":")[0].strip()
               for line in box.read(f"/proc/{pid}/net/dev").splitlines()[2:]]
    assert devices == ["lo"]


def test_the_service_sees_no_homes_and_cannot_change_the_system(box):
    """ProtectHome= and ProtectSystem=strict, from inside the service's mount namespace:
    even root there can neither read a user's file nor write to /etc."""
    pid = str(main_pid(box))
    assert box.exists(PRIVATE_FILE)
    seen = box.run(["nsenter", "-t", pid, "-m", "--", "ls", "-A", "/home"], check=False)
    assert seen.stdout.strip() == "", f"/home in the service's view: {seen.stdout}"
    write = box.run(["nsenter", "-t", pid, "-m", "--", "touch", "/etc/ebbtide-was-here"],
                    check=False)
    assert write.returncode != 0 and "Read-only file system" in write.stderr, write
    assert not box.exists("/etc/ebbtide-was-here")


def test_the_history_is_private_to_the_service_user(box):
    assert box.run(["stat", "-c", "%a %U %G", HISTORY]).stdout.split() == \
        ["600", "ebbtide", "ebbtide"]
    assert box.run(["stat", "-c", "%a %U", STATE]).stdout.split() == ["700", "ebbtide"]


def test_systemd_rates_the_installed_unit_safe(box, tell):
    out = box.run(["systemd-analyze", "security", "--no-pager", UNIT]).stdout
    found = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", out)
    assert found, out[-2000:]
    tell(f"\nsystemd-analyze security (live, in the container): {found.group(1)}")
    assert float(found.group(1)) <= 1.0, out


def test_the_journal_has_levels_and_nothing_that_reads_as_an_error(box):
    """journalctl -p err shows real problems only: every line the app writes has its
    syslog priority, and a healthy start writes no line a user would take for an error."""
    lines = app_lines(box)
    ready = [e for e in lines if e["MESSAGE"].startswith("ready: press")]
    assert ready and all(e["PRIORITY"] == "6" for e in ready), ready
    unread = [e["MESSAGE"] for e in lines if re.match(r"<\d>", e["MESSAGE"])]
    assert not unread, f"a priority prefix journald did not take: {unread}"
    alarming = re.compile(r"(?i)\b(error|fail\w*|cannot|can't|unable|warning|traceback|"
                          r"exception|denied)\b")
    stray = sorted({e["MESSAGE"] for e in lines
                    if int(e["PRIORITY"]) >= 5 and alarming.search(e["MESSAGE"])})
    secure = [e["MESSAGE"] for e in box.journal(UNIT) if "secure directory" in e["MESSAGE"]]
    assert not secure, f"seen in the journal: {secure}"
    assert not stray, f"lines that read as errors, but logged as info: {stray}"


def test_a_refused_config_is_an_error_line_and_the_service_runs_on(box):
    """A bad value logs one line at priority err (3) and the service runs on its defaults:
    a bedside device never stays dark because of a typo."""
    good = box.read(CONFIG_PATH)
    try:
        box.write(CONFIG_PATH, "[breathing]\nminutes = 99\n")
        cursor = box.cursor()
        restart(box)
        errors = [e for e in app_lines(box, cursor) if "invalid config" in e["MESSAGE"]]
        assert errors, box.journal_tail()
        assert all(e["PRIORITY"] == "3" for e in errors), errors
        assert "minutes" in errors[0]["MESSAGE"]
    finally:
        box.write(CONFIG_PATH, good)
        restart(box)


# -- 8. update and uninstall (last: it removes the service) ---------------------------------


def test_install_again_updates_and_uninstall_keeps_config_and_history(box):
    """A second install.sh (an update) changes nothing a user made; --uninstall removes the
    program and the unit but keeps the config and the history."""
    if not history(box):  # a session to keep, if this test runs alone
        start_session(box)
        box.systemctl("restart", UNIT)
    config, rows = box.read(CONFIG_PATH), history(box)
    pid = main_pid(box)
    done = box.run([f"{CHECKOUT}/systemd/install.sh"],
                   env=install_env(), timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    wait_running(box, pid, timeout=30)
    assert box.read(CONFIG_PATH) == config
    assert history(box)[:len(rows)] == rows
    assert box.exists(f"{DROPINS}/test.conf"), "a user's drop-in (systemctl edit) is kept"

    done = box.run([f"{CHECKOUT}/systemd/install.sh", "--uninstall"], timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert props(box, "LoadState")["LoadState"] == "not-found"
    assert not box.exists("/etc/systemd/system/ebbtide.service")
    assert not box.exists("/opt/ebbtide")
    assert box.read(CONFIG_PATH) == config
    assert box.exists(HISTORY)
    assert box.run(["id", "ebbtide"], check=False).returncode != 0, "the user is removed"
