"""Hardware PWM through /sys/class/pwm, against a fake sysfs tree that answers like the kernel.

A plain directory cannot react to a write, so `FakeSysfs` watches the code's writes through
a Python audit hook (in the writing thread, in order): writing N to export makes pwmN a
moment later (from a timer, as udev is late), writing N to unexport removes it, and every
write is logged with its value, so the order the kernel needs can be checked.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hardware import sysfs_pwm
from hardware.lightness import duty_for
from hardware.sysfs_pwm import (
    PWMUnavailable,
    SysfsPWM,
    find_chip,
    hardware_pwm_channel,
    overlay_line,
    switch_off,
)

PERIOD_500HZ = 2_000_000  # ns
_WATCHING: list[FakeSysfs] = []


def _audit(event: str, args: tuple) -> None:
    if event == "open" and _WATCHING:
        path, _mode, flags = args
        if isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR):
            for fake in _WATCHING:
                fake._opened_for_writing(Path(os.fsdecode(os.fspath(path))))


sys.addaudithook(_audit)  # audit hooks stay for the process; this one is idle outside these tests


class FakeSysfs:
    """/sys/class/pwm with one chip, pwmchip0, of `npwm` channels."""

    def __init__(self, root: Path, npwm: int = 2, export_delay: float | None = 0.05) -> None:
        self.root = root
        self.chip = root / "pwmchip0"
        self.chip.mkdir(parents=True)
        (self.chip / "npwm").write_text(f"{npwm}\n")
        (self.chip / "export").write_text("")
        (self.chip / "unexport").write_text("")
        self.export_delay = export_delay  # None: the channel never appears
        self._log: list[tuple[str, str | None]] = []
        self._pending: Path | None = None
        self._thread = threading.get_ident()
        self._timers: list[threading.Timer] = []
        self._quiet = False

    @property
    def writes(self) -> list[tuple[str, str | None]]:
        """Every write so far as (path under pwmchip0, value), in order."""
        self._settle()
        return list(self._log)

    def channel(self, n: int) -> Path:
        return self.chip / f"pwm{n}"

    def exported(self, n: int) -> bool:
        self._settle()
        return self.channel(n).is_dir()

    def read(self, n: int, name: str) -> str:
        self._settle()
        return (self.channel(n) / name).read_text().strip()

    def make_channel(self, n: int, **values: str) -> Path:
        """Make pwmN as the kernel does on export (or as a killed run left it), atomically."""
        files = {"period": "0", "duty_cycle": "0", "enable": "0", "polarity": "normal"}
        files.update(values)
        self._quiet = threading.get_ident() == self._thread  # the timer's writes are not logged
        try:
            building = Path(tempfile.mkdtemp(dir=self.chip, prefix=".new"))
            for name, value in files.items():
                (building / name).write_text(f"{value}\n")
            building.chmod(0o755)
            building.rename(self.channel(n))
        finally:
            self._quiet = False
        return self.channel(n)

    def _opened_for_writing(self, path: Path) -> None:
        if threading.get_ident() != self._thread or self._quiet:
            return
        if not path.is_relative_to(self.root):
            return
        self._settle()
        self._pending = path
        if path == self.chip / "export" and self.export_delay is not None:
            timer = threading.Timer(self.export_delay, self._export_done)
            self._timers.append(timer)
            timer.start()

    def _export_done(self) -> None:
        """The kernel's side of an export, seen late, as after udev."""
        deadline = time.monotonic() + 2
        while not (written := (self.chip / "export").read_text().strip()):
            if time.monotonic() > deadline:
                return
            time.sleep(0.001)
        if not self.channel(int(written)).exists():
            self.make_channel(int(written))

    def _settle(self) -> None:
        """Log the write that was opened last (it has been closed since), and react to it."""
        path, self._pending = self._pending, None
        if path is None:
            return
        try:
            value: str | None = path.read_text().strip()
        except OSError:
            value = None
        self._log.append((str(path.relative_to(self.chip)), value))
        if path == self.chip / "unexport" and value:
            shutil.rmtree(self.channel(int(value)), ignore_errors=True)

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
            timer.join()


@contextmanager
def _watching(fake: FakeSysfs) -> Iterator[FakeSysfs]:
    _WATCHING.append(fake)
    try:
        yield fake
    finally:
        _WATCHING.remove(fake)
        fake.stop()


@pytest.fixture
def sysfs(tmp_path: Path) -> Iterator[FakeSysfs]:
    with _watching(FakeSysfs(tmp_path / "class" / "pwm")) as fake:
        yield fake


def _setup_writes(channel: int = 0) -> list[tuple[str, str | None]]:
    pwm = f"pwm{channel}"
    return [(f"{pwm}/duty_cycle", "0"), (f"{pwm}/period", str(PERIOD_500HZ)),
            (f"{pwm}/enable", "1")]


# -- opening ------------------------------------------------------------------------------


def test_exports_waits_for_the_channel_then_sets_it_up_in_the_kernels_order(sysfs):
    """Duty 0 before the period (the kernel refuses a period below the duty), enable last."""
    pwm = SysfsPWM(0, 1, root=sysfs.root)
    assert sysfs.writes == [("export", "1"), *_setup_writes(1)]
    assert sysfs.read(1, "enable") == "1" and sysfs.read(1, "duty_cycle") == "0"
    assert pwm.value == 0.0 and pwm.steps == PERIOD_500HZ and pwm.frequency == 500.0
    pwm.close()


def test_a_channel_left_exported_and_glowing_is_taken_over_from_duty_0(sysfs):
    """As after a run that was SIGKILLed: no export (that would be EBUSY), dark first."""
    sysfs.make_channel(0, period="1000000", duty_cycle="900000", enable="1")
    with SysfsPWM(0, 0, root=sysfs.root):
        assert sysfs.writes == _setup_writes(0)
        assert sysfs.read(0, "period") == str(PERIOD_500HZ)


def test_inverted_polarity_is_set_normal_while_disabled(sysfs):
    sysfs.make_channel(0, polarity="inversed", enable="1", period="2000000")
    with SysfsPWM(0, 0, root=sysfs.root):
        assert sysfs.writes == [("pwm0/duty_cycle", "0"), ("pwm0/period", "2000000"),
                                ("pwm0/enable", "0"), ("pwm0/polarity", "normal"),
                                ("pwm0/enable", "1")]


# -- the duty -----------------------------------------------------------------------------


@pytest.mark.parametrize(("duty", "ns"), [(0.0, 0), (0.0004, 800), (0.5, 1_000_000),
                                          (1.0, PERIOD_500HZ)])
def test_duty_is_written_in_nanoseconds(sysfs, duty, ns):
    with SysfsPWM(0, 0, root=sysfs.root) as pwm:
        pwm.value = 0.25
        pwm.value = duty
        assert sysfs.read(0, "duty_cycle") == str(ns)
        assert pwm.value == ns / PERIOD_500HZ


def test_the_first_glow_out_of_darkness_is_not_rounded_to_off(sysfs):
    """Whole-percent PWM (lgpio) truncates this to 0; here it is 66 ns of 2 ms."""
    first_glow = duty_for(0.0003)  # L* 0.03
    assert 3.3e-5 < first_glow < 3.4e-5 and int(first_glow * 100) == 0
    with SysfsPWM(0, 0, root=sysfs.root) as pwm:
        pwm.value = first_glow
        assert sysfs.read(0, "duty_cycle") == "66"
        pwm.value = 1e-12  # below half a nanosecond: still the smallest glow, never off
        assert sysfs.read(0, "duty_cycle") == "1"
        pwm.value = 0.0
        assert sysfs.read(0, "duty_cycle") == "0"
        pwm.value = first_glow
        pwm.off()
        assert sysfs.read(0, "duty_cycle") == "0" and pwm.value == 0.0


def test_duty_is_clamped_and_an_unchanged_duty_is_not_rewritten(sysfs):
    with SysfsPWM(0, 0, root=sysfs.root) as pwm:
        pwm.value = 1.7
        assert sysfs.read(0, "duty_cycle") == str(PERIOD_500HZ)
        pwm.value = 1.0
        pwm.value = -0.5
        assert sysfs.read(0, "duty_cycle") == "0"
        assert sysfs.writes[-2:] == [("pwm0/duty_cycle", str(PERIOD_500HZ)),
                                     ("pwm0/duty_cycle", "0")]
        with pytest.raises(ValueError, match="NaN"):
            pwm.value = float("nan")


def test_the_frequency_sets_the_period_and_the_steps(sysfs):
    with SysfsPWM(0, 0, frequency=50, root=sysfs.root) as pwm:
        assert sysfs.read(0, "period") == "20000000" and pwm.steps == 20_000_000
    for bad in (0, -5, float("nan"), 2e9):
        with pytest.raises(ValueError, match="frequency must be above 0 and at most 1 GHz"):
            SysfsPWM(0, 0, frequency=bad, root=sysfs.root)


# -- closing ------------------------------------------------------------------------------


def test_close_leaves_duty_0_disabled_and_unexported_once(sysfs):
    with SysfsPWM(0, 0, root=sysfs.root) as pwm:
        pwm.value = 0.7
        before = len(sysfs.writes)
    assert sysfs.writes[before:] == [("pwm0/duty_cycle", "0"), ("pwm0/enable", "0"),
                                     ("unexport", "0")]
    assert not sysfs.exported(0)
    pwm.close()
    assert len(sysfs.writes) == before + 3  # idempotent: nothing written again
    with pytest.raises(RuntimeError, match="closed"):
        pwm.value = 0.5


def test_close_swallows_errors_but_darkens_first(sysfs):
    pwm = SysfsPWM(0, 0, root=sysfs.root)
    pwm.value = 0.7
    (sysfs.chip / "unexport").unlink()  # unexport fails
    pwm.close()
    assert sysfs.read(0, "duty_cycle") == "0" and sysfs.read(0, "enable") == "0"


def test_switch_off_darkens_a_channel_a_dead_process_left_on(sysfs):
    """The kernel keeps an exported channel's duty after its process dies (no fd to close)."""
    assert switch_off(0, 0, root=sysfs.root) is False
    assert sysfs.writes == []
    sysfs.make_channel(0, period="2000000", duty_cycle="1400000", enable="1")
    assert switch_off(0, 0, root=sysfs.root) is True
    assert sysfs.writes == [("pwm0/duty_cycle", "0"), ("pwm0/enable", "0"), ("unexport", "0")]
    assert not sysfs.exported(0)


# -- errors a person has to act on --------------------------------------------------------


def test_no_chip_says_which_overlay_line_to_add(tmp_path):
    with pytest.raises(PWMUnavailable) as caught:
        SysfsPWM(0, 0, root=tmp_path)
    assert str(caught.value) == (
        f"no PWM chip 0 ({tmp_path}/pwmchip0 does not exist): enable hardware PWM with a "
        "dtoverlay line in /boot/firmware/config.txt, e.g. dtoverlay=pwm,pin=18,func=2, "
        "then reboot"
    )


def test_a_channel_beyond_npwm_is_refused_before_exporting(sysfs):
    with pytest.raises(PWMUnavailable) as caught:
        SysfsPWM(0, 2, root=sysfs.root)
    assert str(caught.value) == (
        f"PWM chip 0 has no channel 2 ({sysfs.chip}/npwm says 2): use a channel from 0 to 1"
    )
    assert sysfs.writes == []


def test_a_channel_that_never_appears_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(sysfs_pwm, "EXPORT_TIMEOUT_S", 0.1)
    with _watching(FakeSysfs(tmp_path, export_delay=None)) as fake:
        start = time.monotonic()
        with pytest.raises(PWMUnavailable) as caught:
            SysfsPWM(0, 0, root=tmp_path)
        assert time.monotonic() - start < 1.0
    assert str(caught.value) == (
        f"{fake.chip}/pwm0 did not appear within 0.1 s of writing 0 to {fake.chip}/export: "
        "the kernel did not make the channel; check dmesg, then reboot"
    )


def _failing(monkeypatch, name: str, code: int) -> None:
    """Make writes to files called `name` fail with `code`, as only the kernel can."""
    real = sysfs_pwm._write

    def write(path: Path, value: int | str) -> None:
        if path.name == name:
            raise OSError(code, os.strerror(code), str(path))
        real(path, value)

    monkeypatch.setattr(sysfs_pwm, "_write", write)


def test_a_busy_channel_says_who_to_ask(sysfs, monkeypatch):
    _failing(monkeypatch, "export", errno.EBUSY)
    with pytest.raises(PWMUnavailable) as caught:
        SysfsPWM(0, 1, root=sysfs.root)
    assert str(caught.value) == (
        f"cannot export channel 1 ({sysfs.chip}/export): it is in use by another driver or "
        "program (device busy): free it (cat /sys/kernel/debug/pwm shows who has it) or use "
        "another channel"
    )


def test_a_read_only_sys_names_protect_kernel_tunables(sysfs, monkeypatch):
    sysfs.make_channel(0)
    _failing(monkeypatch, "duty_cycle", errno.EROFS)
    with pytest.raises(PWMUnavailable) as caught:
        SysfsPWM(0, 0, root=sysfs.root)
    assert str(caught.value) == (
        f"cannot write {sysfs.chip}/pwm0/duty_cycle: /sys is read-only here: a systemd unit "
        "with ProtectKernelTunables=yes makes it so; turn that off for this service "
        "(a drop-in) to use hardware PWM"
    )


def test_a_frequency_the_chip_refuses_is_named(sysfs, monkeypatch):
    _failing(monkeypatch, "period", errno.EINVAL)
    with pytest.raises(PWMUnavailable) as caught:
        SysfsPWM(0, 0, frequency=20, root=sysfs.root)
    assert str(caught.value) == (
        f"{sysfs.chip}/pwm0/period refused a period of 50000000 ns (invalid argument): the "
        "chip cannot run at 20 Hz, choose another frequency"
    )
    assert not sysfs.exported(0)  # given back


def test_a_write_that_fails_names_the_file_and_leaves_the_light_dark(sysfs):
    sysfs.make_channel(0, duty_cycle="1500000", period="2000000", enable="1")
    period = sysfs.channel(0) / "period"
    period.unlink()
    period.mkdir()  # a real EISDIR, whoever runs the test
    with pytest.raises(PWMUnavailable) as caught:
        SysfsPWM(0, 0, root=sysfs.root)
    assert str(caught.value) == (
        f"cannot write 2000000 to {period}: is a directory: check the chip and channel "
        "(cat /sys/kernel/debug/pwm lists them)"
    )
    assert sysfs.writes == [("pwm0/duty_cycle", "0"), ("pwm0/period", None),
                            ("pwm0/duty_cycle", "0"), ("pwm0/enable", "0"), ("unexport", "0")]


def _message_as_nobody(action) -> str:
    """Run `action` in a child that has dropped root (root ignores file modes); return the
    PWMUnavailable message it raised, or "" if it raised none."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                action()
            except PWMUnavailable as error:
                os.write(write_end, str(error).encode())
        except BaseException:
            code = 3
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 3:
        pytest.skip("running as root, and could not drop to uid 65534 to get a real EACCES")
    return message


def test_permission_denied_names_the_file_and_the_fix():
    # Not in tmp_path: as root, pytest's folder is 0700 and the unprivileged child needs in.
    base = Path(tempfile.mkdtemp(prefix="ebbtide-pwm-"))
    try:
        base.chmod(0o755)
        with _watching(FakeSysfs(base / "pwm")) as fake:
            duty = fake.make_channel(0) / "duty_cycle"
        duty.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)  # 0o444, as before udev's rule

        def open_it() -> None:
            SysfsPWM(0, 0, root=fake.root)

        if os.geteuid() == 0:
            message = _message_as_nobody(open_it)
        else:
            with pytest.raises(PWMUnavailable) as caught:
                open_it()
            message = str(caught.value)
        assert message == (
            f"cannot write {duty}: permission denied: the ebbtide user needs write access to "
            "the PWM files, e.g. a udev rule giving the gpio group /sys/class/pwm; and a "
            "systemd unit with ProtectKernelTunables=yes makes /sys read-only"
        )
    finally:
        shutil.rmtree(base)


def test_an_unreadable_npwm_is_named(sysfs):
    (sysfs.chip / "npwm").write_text("lots\n")
    with pytest.raises(PWMUnavailable) as caught:
        SysfsPWM(0, 0, root=sysfs.root)
    assert str(caught.value) == (
        f"cannot read the channel count from {sysfs.chip}/npwm (invalid literal for int() "
        "with base 10: 'lots'): is this a PWM chip under /sys/class/pwm?"
    )


# -- which chip and channel ---------------------------------------------------------------


def test_gpio_to_channel_and_overlay_func():
    """overlays/README "pwm": PWM0 on 12 (func 4) and 18 (func 2), PWM1 on 13 and 19;
    on a Pi 5, RP1's PWM0 has CHAN0-3 on GPIO 12, 13, 18, 19."""
    assert {g: hardware_pwm_channel(g, pi5=False) for g in (12, 13, 18, 19)} == {
        12: (0, 4), 13: (1, 4), 18: (0, 2), 19: (1, 2)}
    assert {g: hardware_pwm_channel(g, pi5=True) for g in (12, 13, 18, 19)} == {
        12: (0, 4), 13: (1, 4), 18: (2, 2), 19: (3, 2)}
    for pi5 in (False, True):
        assert hardware_pwm_channel(17, pi5) is None
        assert hardware_pwm_channel(40, pi5) is None  # not on the header
    assert overlay_line(18) == "dtoverlay=pwm,pin=18,func=2"
    assert overlay_line(13) == "dtoverlay=pwm,pin=13,func=4"
    assert overlay_line(17) is None


def _chips(root: Path, devices: dict[int, str]) -> Path:
    """pwmchipN/device links to platform devices, as in /sys."""
    for number, device in devices.items():
        target = root / "devices" / "platform" / device
        target.mkdir(parents=True)
        chip = root / "class" / "pwm" / f"pwmchip{number}"
        chip.mkdir(parents=True)
        (chip / "device").symlink_to(os.path.relpath(target, chip))
    return root / "class" / "pwm"


def test_find_chip_goes_by_the_device_not_the_number(tmp_path):
    # A Pi 5 on kernel 6.6 (raspberrypi/linux#6818): RP1's PWM0 is pwmchip2.
    pi5_66 = _chips(tmp_path / "a", {0: "107d517a80.pwm", 2: "1f00098000.pwm",
                                     6: "1f0009c000.pwm"})
    assert find_chip(pi5_66, pi5=True) == 2
    assert find_chip(pi5_66, pi5=False) is None
    # On 6.12 it became pwmchip0.
    assert find_chip(_chips(tmp_path / "b", {0: "1f00098000.pwm", 1: "1f0009c000.pwm"}),
                     pi5=True) == 0
    for device in ("2020c000.pwm", "3f20c000.pwm", "fe20c000.pwm"):  # Pi 1/Zero, 2/3, 4
        assert find_chip(_chips(tmp_path / device, {3: device}), pi5=False) == 3
    pi4_pwm1_only = _chips(tmp_path / "c", {0: "fe20c800.pwm"})  # PWM1: audio pins 40/41
    assert find_chip(pi4_pwm1_only, pi5=False) is None
    assert find_chip(tmp_path / "nothing", pi5=True) is None
