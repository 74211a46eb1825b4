"""Debian 12 roots for ARM (arm64, armhf), run on this machine under qemu-user emulation.

The ARM install tests (tests/system/test_arm_install.py) use them: each root is a debootstrap
minbase with Python and espeak-ng, built once and cached beside the systemd container's root
(tests/system/container.py, whose lock, mirror and registry settings this reuses). A run
never changes the cached root: it works in an overlay whose upper layer is a folder of the
test's own, mounted with /proc, /sys and /dev in a private mount namespace that ends with
the command, so nothing stays mounted.

qemu-user hands an emulated program the host's /proc/cpuinfo. onnxruntime's CPU probe
(pytorch's cpuinfo) reads it, finds no ARM processor and crashes on `import onnxruntime`
(SIGSEGV): an emulator artefact, not a Pi's. A run can therefore bind a Raspberry Pi's
cpuinfo over /proc/cpuinfo (and its device-tree model under /sys/firmware), as a Pi has.

Run it by hand (as root) to build the roots, with a time for each step:
    python -m tests.system.armroot
"""

from __future__ import annotations

import concurrent.futures
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.system import container

SUITE = container.SUITE
# Debian's name for the architecture: (qemu's binfmt entry, what `uname -m` says inside).
ARCHES = {"arm64": ("qemu-aarch64", "aarch64"), "armhf": ("qemu-arm", "armv7l")}
# What Raspberry Pi OS Lite has and minbase lacks: Python with venv, certificates. Also what
# setup.sh apt-installs on every machine (espeak-ng, PortAudio), so the cached root already
# has them; what it installs on armhf alone (numpy and the rest from Debian) is left for
# setup.sh to install, which the armhf test checks.
PACKAGES = ("python3", "python3-venv", "ca-certificates", "espeak-ng", "libespeak-ng1",
            "libportaudio2")
FRESH_ENV = "EBBTIDE_ARM_FRESH"  # =1: build the roots again, even when cached
BUILD_TIMEOUT_S = 1500
BASE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root", "LANG": "C.UTF-8", "TERM": "dumb"}
# The processor qemu emulates (qemu-user reads QEMU_CPU from each emulated program's
# environment). arm64: a Cortex-A53, a Pi Zero 2 W's and a Pi 3's. qemu's default ("max")
# offers SVE, whose emulation made one short line of Piper take minutes, not 20 s.
QEMU_CPU = {"arm64": "cortex-a53"}

# A Raspberry Pi Zero 2 W's /proc/cpuinfo (four Cortex-A53) as a 64-bit kernel shows it,
# and the device-tree model that setup.sh reads to know it is on a Pi.
PI_MODEL = "Raspberry Pi Zero 2 W Rev 1.0"
_A53 = ("processor\t: {n}\nBogoMIPS\t: 38.40\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
        "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\n"
        "CPU part\t: 0xd03\nCPU revision\t: 4\n\n")
PI_CPUINFO = ("".join(_A53.format(n=n) for n in range(4))
              + f"Revision\t: 902120\nSerial\t\t: 0000000000000000\nModel\t\t: {PI_MODEL}\n")


REPO = Path(__file__).resolve().parents[2]
# On a Pi the speech process cuts itself off from the network (audio/network_ban.py's seccomp
# filter), but qemu-user refuses seccomp to the programs it emulates (they would filter
# qemu's own system calls). So a command meant to run as on a Pi gets the same filter from
# here, put on this Python and inherited by the chroot and the emulator through exec: every
# socket the emulated programs ask for is refused by the host kernel, and the speech process,
# finding itself shut off already, lets Piper speak.
_OFFLINE = ("import os, sys; sys.path.insert(0, sys.argv[1]); from audio import network_ban; "
            "network_ban.forbid_network(); os.execvp(sys.argv[2], sys.argv[2:])")


class ArmRootError(RuntimeError):
    """A step of building or using an ARM root failed; the message says which."""


def cache_dir() -> Path:
    """The folder the test roots are cached in (the systemd container's root is there too)."""
    return container.cache_path().parent


def root_path(arch: str) -> Path:
    return cache_dir() / f"{SUITE}-{arch}"


def _binfmt_entry(arch: str) -> Path:
    return Path("/proc/sys/fs/binfmt_misc") / ARCHES[arch][0]


def _binfmt_ready(arch: str) -> bool:
    """Whether the kernel runs this architecture's programs through qemu, also inside a
    chroot: the entry is enabled and has the F flag (the interpreter opened when it was
    registered, so the root needs no copy of qemu)."""
    try:
        text = _binfmt_entry(arch).read_text()
    except OSError:
        return False
    flags = next((line.split(":", 1)[1] for line in text.splitlines()
                  if line.startswith("flags:")), "")
    return text.startswith("enabled") and "F" in flags


def register_emulators() -> None:
    """Mount binfmt_misc and enable qemu-user-static's entries, where they are installed but
    not registered (a container whose init did not do it). Errors are left to the caller's
    check of _binfmt_ready."""
    misc = Path("/proc/sys/fs/binfmt_misc")
    if misc.is_dir() and not (misc / "register").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(misc)],
                       capture_output=True, check=False)
    if shutil.which("update-binfmts"):
        for arch in ARCHES:
            if not _binfmt_ready(arch):
                subprocess.run(["update-binfmts", "--enable", ARCHES[arch][0]],
                               capture_output=True, check=False)


def missing_requirements() -> str | None:
    """Why ARM roots cannot be built and run here, or None when they can."""
    if os.geteuid() != 0:
        return "building and entering ARM roots needs root (debootstrap, chroot, mounts)"
    for tool, package in (("debootstrap", "debootstrap"), ("unshare", "util-linux")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian package: {package})"
    if not Path("/usr/libexec/qemu-binfmt").is_dir() and not shutil.which("qemu-aarch64-static"):
        return "qemu-user emulation is not installed (Debian packages: qemu-user-static, " \
               "binfmt-support)"
    register_emulators()
    for arch in ARCHES:
        if not _binfmt_ready(arch):
            return (f"the kernel cannot run {arch} programs: binfmt_misc has no enabled "
                    f"{ARCHES[arch][0]} entry with the F flag (no binfmt_misc in this "
                    "container, or qemu-user-static not registered)")
    return None


def _stamp(arch: str) -> str:
    return repr({"suite": SUITE, "arch": arch, "packages": PACKAGES,
                 "mirror": container.debian_mirror(), "version": 1})


def cached_root(arch: str, log: Callable[[str], None] = print) -> Path:
    """The ARM root, built by debootstrap if the cache lacks it or EBBTIDE_ARM_FRESH=1.

    Built into a temporary sibling and renamed when complete, under the same kind of lock
    as the container's root, so an interrupted build is never used."""
    root = root_path(arch)
    stamp_name = ".ebbtide-test-root"
    with container._locked(root):
        for leftover in root.parent.glob(f".{root.name}.*"):
            container._remove_tree(leftover)
        stamp = root / stamp_name
        fresh = os.environ.get(FRESH_ENV) == "1"
        if stamp.is_file() and stamp.read_text() == _stamp(arch) and not fresh:
            return root
        building = root.with_name(f".{root.name}.build-{os.getpid()}")
        mirror = container.debian_mirror()
        log(f"arm: building the {arch} root {root} from {mirror} (debootstrap under qemu)...")
        started = time.monotonic()
        try:
            container._host(["debootstrap", f"--arch={arch}", "--variant=minbase",
                             f"--include={','.join(PACKAGES)}", SUITE, building, mirror],
                            f"debootstrap of the {arch} root", timeout=BUILD_TIMEOUT_S)
            container._configure_root(building)
            (building / stamp_name).write_text(_stamp(arch))
            if root.exists():
                old = root.with_name(f".{root.name}.old-{os.getpid()}")
                root.rename(old)
                container._remove_tree(old)
            building.rename(root)
        except BaseException:
            container._remove_tree(building)
            raise
        log(f"arm: built the {arch} root in {time.monotonic() - started:.0f} s")
    return root


def cached_roots(log: Callable[[str], None] = print) -> dict[str, Path]:
    """Both roots, built side by side when missing (most of the time is downloads and
    dpkg waiting on each other; two builds keep both cores busy)."""
    with concurrent.futures.ThreadPoolExecutor(len(ARCHES)) as pool:
        futures = {arch: pool.submit(cached_root, arch, log) for arch in ARCHES}
        return {arch: future.result() for arch, future in futures.items()}


@dataclass
class Ran:
    """What a command in the root printed, its exit code and how long it took."""

    returncode: int
    output: str
    seconds: float


class ArmBox:
    """A writable view of a cached ARM root: an overlay whose upper layer is `work`/upper.

    Each run() mounts it afresh in a private mount namespace (unshare), so what one command
    writes the next one sees, the cached root stays as built, and nothing stays mounted
    once a command has ended (or been killed by its timeout).
    """

    def __init__(self, arch: str, root: Path, work: Path, *, pi: bool = True) -> None:
        """pi: the root looks like a Raspberry Pi's (its cpuinfo and device-tree model)."""
        self.arch = arch
        self.root = root
        self.work = work
        self.pi = pi
        self._qemu = {"QEMU_CPU": QEMU_CPU[arch]} if arch in QEMU_CPU else {}
        for name in ("upper", "work", "merged"):
            (work / name).mkdir(parents=True, exist_ok=True)
        (work / "cpuinfo").write_text(PI_CPUINFO)
        (work / "model").write_text(PI_MODEL + "\0")

    def _mount_script(self, pi: bool) -> str:
        merged = self.work / "merged"
        options = (f"lowerdir={self.root},upperdir={self.work / 'upper'},"
                   f"workdir={self.work / 'work'}")
        q = shlex.quote
        lines = [
            "set -e",
            f"mount -t overlay overlay -o {q(options)} {q(str(merged))}",
            f"mount -t proc proc {q(str(merged / 'proc'))}",
            f"mount -t sysfs sysfs {q(str(merged / 'sys'))}",
            f"mount --rbind /dev {q(str(merged / 'dev'))}",
            f"mount -t tmpfs -o mode=1777 tmpfs {q(str(merged / 'tmp'))}",
            f"cp /etc/resolv.conf {q(str(merged / 'etc/resolv.conf'))} 2>/dev/null || true",
        ]
        if pi:
            firmware = merged / "sys/firmware"
            lines += [
                f"mount --bind {q(str(self.work / 'cpuinfo'))} "
                f"{q(str(merged / 'proc/cpuinfo'))}",
                f"mount -t tmpfs tmpfs {q(str(firmware))}",
                f"mkdir -p {q(str(firmware / 'devicetree/base'))}",
                f"cp {q(str(self.work / 'model'))} "
                f"{q(str(firmware / 'devicetree/base/model'))}",
            ]
        return "\n".join(lines)

    def run(self, script: str, *, env: Mapping[str, str] | None = None,
            timeout: float = 600, pi: bool | None = None, offline: bool = False) -> Ran:
        """Run a shell script (sh -e) as root inside the root, with a clean environment
        (BASE_ENV and `env`). pi: override the box's choice for this command. offline: the
        command runs under Ebbtide's network ban, put on the emulator from here (_OFFLINE)."""
        pi = self.pi if pi is None else pi
        inner = ["chroot", str(self.work / "merged"), "/usr/bin/env", "-i",
                 *(f"{k}={v}" for k, v in {**BASE_ENV, **self._qemu, **(env or {})}.items()),
                 "sh", "-ec", script]
        if offline:
            inner = [sys.executable, "-I", "-c", _OFFLINE, str(REPO), *inner]
        outer = self._mount_script(pi) + "\nexec " + shlex.join(inner)
        host_env = {k: v for k, v in os.environ.items() if k != "TMPDIR"}
        started = time.monotonic()
        try:
            done = subprocess.run(
                ["unshare", "--mount", "--propagation", "private", "--pid", "--fork",
                 "--kill-child", "sh", "-c", outer],
                capture_output=True, text=True, errors="replace", timeout=timeout,
                stdin=subprocess.DEVNULL, env=host_env, check=False)
        except subprocess.TimeoutExpired as error:
            out = (error.stdout or b"") + (error.stderr or b"")
            text = out.decode(errors="replace") if isinstance(out, bytes) else out
            return Ran(-1, f"{text}\n[timed out after {timeout:.0f} s]",
                       time.monotonic() - started)
        return Ran(done.returncode, done.stdout + done.stderr, time.monotonic() - started)

    def copy_checkout(self, repo: Path, files: Iterable[str], inside: str) -> None:
        """Copy a checkout's files (relative to `repo`) into the root at `inside`, through
        the upper layer, keeping their modes."""
        target = self.work / "upper" / inside.lstrip("/")
        for name in files:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(repo / name, target / name)

    def remove(self) -> None:
        """Remove the work folder (the overlay's upper layer and all a test made in it)."""
        container._remove_tree(self.work)


def _main() -> None:
    reason = missing_requirements()
    if reason:
        raise SystemExit(f"armroot: {reason}")
    started = time.monotonic()
    roots = cached_roots()
    print(f"armroot: {', '.join(map(str, roots.values()))} ready in "
          f"{time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    _main()


# -- installing Ebbtide in both roots, in the background ---------------------------------------

CHECKOUT = "/root/ebbtide"
SETUP_TIMEOUT_S = 1800
STEP_TIMEOUT_S = 900
# A short session for each root to render. armhf (espeak-ng): arriving, one minute of
# breathing, the goodbye (about 100 s, 18 lines). arm64 (Piper): arriving and the goodbye (5
# lines): emulated, Piper takes 30-60 s a line on a busy machine, and the breathing's 13
# lines would take the render past its step's time.
SHORT_CONFIG = {
    "armhf": '[breathing]\nminutes = 1\n[session]\nparts = ["arrive", "breathe", "close"]\n',
    "arm64": '[session]\nparts = ["arrive", "close"]\n'}
# Run in the root with the venv's Python after a render: what a listener would notice, as
# numbers (numpy is there on both architectures: from PyPI on arm64, Debian's on armhf).
_LISTEN = """
import csv, sys, wave
import numpy as np
out = sys.argv[1]
with wave.open(out + "/session.wav") as w:
    rate = w.getframerate()
    samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(float) / 32768
    samples = samples.reshape(-1, w.getnchannels()).mean(axis=1)
lines = [row for row in csv.DictReader(open(out + "/events.csv")) if row["kind"] == "say"]
loud = [float(np.sqrt(np.mean(samples[int(float(r["t_s"]) * rate):
        int((float(r["t_s"]) + float(r["duration_s"])) * rate)] ** 2) + 1e-12))
        for r in lines]
print(f"spoken lines: {len(lines)}; quietest line rms: {min(loud, default=0):.4f}; "
      f"seconds: {len(samples) / rate:.1f}")
"""


@dataclass
class Step:
    name: str
    script: str
    timeout: float = STEP_TIMEOUT_S
    pi: bool = True  # look like a Pi (its cpuinfo and model) while it runs
    env: Mapping[str, str] | None = None
    offline: bool = False  # under the network ban, as the speech process is on a Pi


def steps(arch: str) -> list[Step]:
    """What the test does in each root, in order: setup.sh as a user runs it on a Pi, then
    `ebbtide check` (with the network open, so that the natural voice is off: qemu refuses
    the speech process's filter), and a render of a short session under the network ban
    (the natural voice speaks on arm64)."""
    venv = f"{CHECKOUT}/.venv/bin"
    found = [
        Step("setup", f"cd {CHECKOUT} && ./setup.sh", timeout=SETUP_TIMEOUT_S),
        Step("check", f"cd {CHECKOUT} && {venv}/ebbtide check"),
        # -v: the log names the engine that made each line.
        Step("render", f"cd {CHECKOUT} && printf '{SHORT_CONFIG[arch]}' >/root/short.toml && "
                       f"{venv}/ebbtide -v render --config /root/short.toml --out /root/out && "
                       f"{venv}/python -c '{_LISTEN}' /root/out", offline=True),
        Step("numpy", f"{venv}/python -c 'import numpy, sounddevice, lgpio; "
                      "print(\"numpy\", numpy.__version__, numpy.__file__)'"),
    ]
    return found


@dataclass
class Installed:
    """One root's box and what each step printed (a step after a failed one is not run)."""

    arch: str
    box: ArmBox
    ran: dict[str, Ran]
    log: list[str]


def install(arch: str, repo: Path, files: Iterable[str], work: Path,
            log: Callable[[str], None]) -> Installed:
    """Build (or take) the root, copy the checkout in, and run steps(arch)."""
    started = time.monotonic()
    root = cached_root(arch, log)
    log(f"arm: {arch} root ready after {time.monotonic() - started:.0f} s")
    box = ArmBox(arch, root, work)
    box.copy_checkout(repo, files, CHECKOUT)
    result = Installed(arch, box, {}, [])
    for step in steps(arch):
        ran = box.run(step.script, env=step.env, timeout=step.timeout, pi=step.pi,
                      offline=step.offline)
        result.ran[step.name] = ran
        (work / f"{step.name}.log").write_text(ran.output)  # to read while it runs
        log(f"arm: {arch} {step.name}: exit {ran.returncode} in {ran.seconds:.0f} s")
        if ran.returncode != 0:
            break
    return result


def _idle_priority() -> None:
    """This thread, and all it starts, runs only on CPU the rest of the test run leaves
    idle (SCHED_IDLE, and nice 19 where that is refused): the ARM installs run beside the
    other tests without slowing their timing."""
    tid = __import__("threading").get_native_id()
    try:
        os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
    except (OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, tid, 19)


class Background:
    """Both installs, started once (at the start of a test run that includes the ARM tests)
    and run at idle priority while the other tests run; result() waits for them."""

    def __init__(self, repo: Path, files: list[str], work: Path) -> None:
        self.work = work
        self.lines: list[str] = []
        self.started = time.monotonic()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            len(ARCHES), thread_name_prefix="arm", initializer=_idle_priority)
        self._futures = {arch: self._pool.submit(install, arch, repo, files, work / arch,
                                                 self._log)
                         for arch in ARCHES}

    def _log(self, line: str) -> None:
        self.lines.append(f"{line} [{time.monotonic() - self.started:.0f} s into the run]")

    def result(self, timeout: float) -> dict[str, Installed]:
        done = {arch: future.result(timeout) for arch, future in self._futures.items()}
        self._pool.shutdown()
        return done
