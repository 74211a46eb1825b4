"""A real Debian 12 systemd in a container, for tests of Ebbtide as a system service.

The root (debootstrap minbase with systemd, Python and the packages install.sh asks apt
for) is built once and cached outside the checkout; each boot lays a tmpfs over it
(`--volatile=overlay`), so the cache stays as built. It works where PID 1 is not systemd
(a CI runner, a development container): nspawn needs only root, a tmpfs on
/run/systemd/nspawn and `--keep-unit --register=no`. Commands run in the container with
`nsenter` into the namespaces of its init.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_CACHE = Path("/var/cache/ebbtide-tests/bookworm-systemd")
CACHE_ENV = "EBBTIDE_CONTAINER_CACHE"
SUITE = "bookworm"
# What a Pi's Raspberry Pi OS Lite has and minbase lacks, plus what install.sh apt-installs
# (so its apt-get install finds them there, as on a Pi where they are usually installed).
PACKAGES = ("systemd", "systemd-sysv", "dbus", "python3", "python3-venv", "ca-certificates",
            "espeak-ng", "libespeak-ng1", "libportaudio2", "alsa-utils")
NSPAWN_LOCKS = Path("/run/systemd/nspawn")
# Where the container sees the wheelhouse (see wheelhouse()) and the checkout.
WHEELS_INSIDE = "/srv/wheels"
SOURCE_INSIDE = "/mnt/ebbtide-source"
# The whole environment of a command run inside: nothing of the host's leaks in.
BASE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root", "LANG": "C.UTF-8", "TERM": "dumb", "SYSTEMD_COLORS": "0",
            "SYSTEMD_PAGER": "", "SYSTEMD_LOG_COLOR": "0"}
_UNIT_STARTED = "39f53479d3a045ac8e11786248231fbf"  # systemd's "Started UNIT" message id


class ContainerError(RuntimeError):
    """A step of building, booting or using the container failed; the message says which."""


def missing_requirements() -> str | None:
    """Why the container cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "booting a systemd container needs root (systemd-nspawn)"
    for tool, package in (("systemd-nspawn", "systemd-container"),
                          ("debootstrap", "debootstrap"), ("nsenter", "util-linux")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian package: {package})"
    if not os.path.ismount("/sys/fs/cgroup"):
        return ("no cgroup file system at /sys/fs/cgroup (a chroot?): systemd-nspawn cannot "
                "boot a container here")
    if not _root_is_a_mount():
        return ("/ is not a mount point (a chroot into a plain folder?): systemd-nspawn "
                "cannot boot a container here")
    return None


def _root_is_a_mount() -> bool:
    """Whether this process's / is a mount point of its own (in a chroot into a plain folder
    it is not, and nspawn cannot make its mounts private: "Failed to mount ... on /")."""
    with open("/proc/self/mountinfo") as mounts:
        return any(line.split()[4] == "/" for line in mounts)


def cache_path() -> Path:
    """Where the root is cached: $EBBTIDE_CONTAINER_CACHE, else DEFAULT_CACHE."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


# -- the host's apt and pip settings ---------------------------------------------------------


def _apt_source_files() -> list[Path]:
    """The host's active apt source files (apt reads only these names)."""
    files = [Path("/etc/apt/sources.list")]
    directory = Path("/etc/apt/sources.list.d")
    if directory.is_dir():
        files += sorted(p for p in directory.iterdir() if p.suffix in (".list", ".sources"))
    return [f for f in files if f.is_file()]


def debian_mirror() -> str:
    """The Debian mirror the host's apt uses for `SUITE`."""
    for path in _apt_source_files():
        text = path.read_text()
        if path.suffix == ".sources":  # deb822 stanzas
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.MULTILINE))
                if ("deb" in fields.get("Types", "").split()
                        and SUITE in fields.get("Suites", "").split()):
                    return fields["URIs"].split()[0]
        else:
            for line in text.splitlines():
                words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
                if len(words) >= 3 and words[0] == "deb" and words[2] == SUITE:
                    return words[1]
    return "http://deb.debian.org/debian"


def _only_acquire_settings(path: Path) -> bool:
    """An apt.conf.d file that only tunes downloads (proxies, validity of snapshot mirrors)."""
    try:
        lines = [line.strip() for line in path.read_text().splitlines()]
    except (OSError, UnicodeDecodeError):
        return False
    lines = [line for line in lines if line and not line.startswith(("//", "#"))]
    return bool(lines) and all(line.startswith("Acquire::") for line in lines)


# -- the cached root ---------------------------------------------------------------------------


def _stamp() -> str:
    """What the cached root was built from: a different stamp means build it again."""
    return json.dumps({"suite": SUITE, "packages": PACKAGES, "mirror": debian_mirror(),
                       "version": 1}, sort_keys=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive flock on PATH.lock, so two test runs never build the same thing at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _host(command: Sequence[str | Path], what: str, timeout: float = 1800) -> str:
    # The tests point TMPDIR into a folder of their own on the host; a command run in the
    # root (chroot) would look for it there and fail (update-ca-certificates' mktemp did).
    env = {k: v for k, v in os.environ.items() if k != "TMPDIR"}
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True,
                          timeout=timeout, check=False, stdin=subprocess.DEVNULL, env=env)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise ContainerError(f"{what} failed (exit {done.returncode}):\n{tail}")
    return done.stdout


def _remove_tree(path: Path) -> None:
    """Remove a directory tree. A debootstrap that died may have left /proc or /sys mounted
    in it: those are unmounted first, so the removal never reaches into the host's."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m == str(path) or m.startswith(f"{path}/")),
                        reverse=True):
        subprocess.run(["umount", "-l", mount], check=False, capture_output=True)
    shutil.rmtree(path, ignore_errors=True)


def _configure_root(root: Path) -> None:
    """The host's way out to the registries: CA certificates, pip.conf, apt sources."""
    certs = Path("/usr/local/share/ca-certificates")
    if certs.is_dir():
        target = root / certs.relative_to("/")
        target.mkdir(parents=True, exist_ok=True)
        for cert in certs.rglob("*.crt"):
            (target / cert.relative_to(certs)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(cert, target / cert.relative_to(certs))
    _host(["chroot", root, "update-ca-certificates", "--fresh"], "update-ca-certificates")
    if Path("/etc/pip.conf").is_file():
        shutil.copy2("/etc/pip.conf", root / "etc/pip.conf")
    (root / "etc/apt/sources.list").unlink(missing_ok=True)
    for source in _apt_source_files():
        shutil.copy2(source, root / source.relative_to("/"))
    conf = Path("/etc/apt/apt.conf.d")
    if conf.is_dir():
        for path in conf.iterdir():
            if path.is_file() and _only_acquire_settings(path):
                shutil.copy2(path, root / path.relative_to("/"))
    # Package lists in the cache: install.sh's own `apt-get update` then only revalidates.
    _host(["chroot", root, "apt-get", "update", "-q"], "apt-get update in the root")
    _host(["chroot", root, "apt-get", "clean"], "apt-get clean in the root")


def cached_root(log: Callable[[str], None] = print) -> Path:
    """The container's root, built by debootstrap if the cache lacks it (minutes, once).

    It is built into a temporary sibling directory and renamed when complete, under a lock,
    so an interrupted build is never used: its leftovers are removed by the next build.
    """
    root = cache_path()
    stamp_name = ".ebbtide-test-root"
    with _locked(root):
        for leftover in root.parent.glob(f".{root.name}.*"):  # no build runs but ours
            _remove_tree(leftover)
        stamp = root / stamp_name
        if stamp.is_file() and stamp.read_text() == _stamp():
            return root
        building = root.with_name(f".{root.name}.build-{os.getpid()}")
        mirror = debian_mirror()
        log(f"building the container root {root} from {mirror} (debootstrap, once)...")
        started = time.monotonic()
        try:
            _host(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
                   SUITE, building, mirror], "debootstrap")
            _configure_root(building)
            (building / stamp_name).write_text(_stamp())
            if root.exists():
                old = root.with_name(f".{root.name}.old-{os.getpid()}")
                root.rename(old)
                _remove_tree(old)
            building.rename(root)
        except BaseException:
            _remove_tree(building)
            raise
        log(f"built the container root in {time.monotonic() - started:.0f} s")
    return root


def _requirements(repo: Path) -> list[str]:
    """Everything `pip install REPO[voice,sensor]` (install.sh's) fetches from the index, by
    name: the project's dependencies, its voice and sensor extras and its build backend."""
    project = tomllib.loads((repo / "pyproject.toml").read_text())
    extras = project["project"].get("optional-dependencies", {})
    return [*project["build-system"]["requires"], "wheel",
            *project["project"]["dependencies"],
            *extras.get("voice", []), *extras.get("sensor", [])]


def wheelhouse_key(repo: Path) -> str:
    """The wheelhouse's folder name: it changes with the project's requirements."""
    text = json.dumps([*_requirements(repo), SUITE, os.uname().machine])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def wheels_path() -> Path:
    """The host folder for wheelhouses, beside the cached root; bind it into the container
    at WHEELS_INSIDE."""
    return cache_path().with_name("wheels")


WHEELHOUSE_DAYS = 7  # then made again, so new releases on the index are tried within a week


def wheelhouse(box: Container, repo: Path, log: Callable[[str], None] = print) -> str:
    """The folder (as the container sees it) of wheels for everything install.sh's pip
    fetches, made inside the container (its Python, its platform) when the cache lacks it
    or it is more than WHEELHOUSE_DAYS old. Give it to install.sh with pip_env().

    Made into a temporary sibling and renamed when complete, under a lock.
    """
    key = wheelhouse_key(repo)
    final = wheels_path() / key
    inside = f"{WHEELS_INSIDE}/{key}"
    with _locked(final):
        for leftover in final.parent.glob(f".{key}.*"):  # no build runs but ours
            shutil.rmtree(leftover, ignore_errors=True)
        if final.is_dir() and time.time() - final.stat().st_mtime < WHEELHOUSE_DAYS * 86400:
            return inside
        building = final.with_name(f".{key}.build-{os.getpid()}")
        building.mkdir()
        log(f"making the wheelhouse {final} (once a week, or when the requirements change)...")
        started = time.monotonic()
        try:
            box.run(["python3", "-m", "venv", "/root/wheelhouse-venv"])
            box.run(["/root/wheelhouse-venv/bin/pip", "wheel", "--disable-pip-version-check",
                     "--no-cache-dir", "--quiet", f"--wheel-dir={WHEELS_INSIDE}/{building.name}",
                     *_requirements(repo)], timeout=1800)
            box.run(["rm", "-rf", "/root/wheelhouse-venv"])
            if final.exists():
                old = final.with_name(f".{key}.old-{os.getpid()}")
                final.rename(old)
                shutil.rmtree(old)
            building.rename(final)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        log(f"made the wheelhouse in {time.monotonic() - started:.0f} s")
    return inside


def pip_env(wheelhouse_inside: str) -> dict[str, str]:
    """The environment that makes install.sh's pip (--no-cache-dir) install from the
    wheelhouse alone: the same packages, with no download.

    $PIP_NO_INDEX too: with only $PIP_FIND_LINKS, pip still prefers the index's copy of the
    very same version, and downloads it (pip 23, Debian 12's).
    """
    return {"PIP_FIND_LINKS": wheelhouse_inside, "PIP_NO_INDEX": "1"}


# -- the running container ---------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _pid1_is_systemd() -> bool:
    try:
        return Path("/proc/1/comm").read_text().strip() == "systemd"
    except OSError:
        return False


def poll(check: Callable[[], T | None], timeout: float, failure: Callable[[], str],
         interval: float = 0.05) -> T:
    """check() until it returns something other than None or False, at most `timeout`
    seconds; then AssertionError with failure() as the message."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(failure())
        time.sleep(interval)


class Container:
    """A booted container: `with Container(root) as box: box.run([...])`."""

    def __init__(self, root: Path, *, binds: Mapping[Path, str] | None = None,
                 read_only_binds: Mapping[Path, str] | None = None) -> None:
        """binds: host folders to bind into the container (host path: path inside)."""
        self.root = root
        self.name = f"ebbtide-test-{secrets.token_hex(4)}"
        self._binds = dict(binds or {})
        self._read_only = dict(read_only_binds or {})
        self._nspawn: subprocess.Popen[str] | None = None
        self._console: collections.deque[str] = collections.deque(maxlen=300)
        self._reader: threading.Thread | None = None
        self._mounted_locks = False
        self._made_dirs: list[Path] = []
        self.init_pid = 0  # the container's systemd, as the host numbers it
        self._nsenter = shutil.which("nsenter") or "nsenter"

    # -- boot and shutdown --

    def __enter__(self) -> Container:
        try:
            self.boot()
        except BaseException:
            self.shut_down()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.shut_down()

    def _mount_lock_dir(self) -> None:
        """nspawn keeps its locks in /run/systemd/nspawn and refuses to start without it;
        without systemd as PID 1 nothing made it, so a tmpfs goes there for the run."""
        if NSPAWN_LOCKS.is_dir() and os.path.ismount(NSPAWN_LOCKS):
            return
        if _pid1_is_systemd():
            return
        for directory in (NSPAWN_LOCKS.parent, NSPAWN_LOCKS):
            if not directory.exists():
                directory.mkdir(mode=0o755)
                self._made_dirs.append(directory)
        _host(["mount", "-t", "tmpfs", "-o", "mode=0755,size=1m", "tmpfs", NSPAWN_LOCKS],
              f"mounting a tmpfs on {NSPAWN_LOCKS}")
        self._mounted_locks = True

    def boot(self, timeout: float = 90) -> None:
        """Start systemd-nspawn and wait until the container's systemd has finished booting."""
        self._mount_lock_dir()
        command = ["systemd-nspawn", "-D", str(self.root), "--volatile=overlay", "--boot",
                   "--register=no", "--keep-unit", f"--machine={self.name}",
                   "--console=read-only", "--quiet"]
        command += [f"--bind={host}:{inside}" for host, inside in self._binds.items()]
        command += [f"--bind-ro={host}:{inside}" for host, inside in self._read_only.items()]
        self._nspawn = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True)
        self._reader = threading.Thread(target=self._read_console, daemon=True)
        self._reader.start()
        self.init_pid = poll(self._find_init, 30,
                             lambda: "the container's init never started:\n" + self.console())
        state = poll(self._booted, timeout,
                     lambda: f"the container did not finish booting within {timeout} s:\n"
                             + self.run(["systemctl", "list-jobs"], check=False).stdout
                             + self.console())
        if state == "degraded":
            failed = self.run(["systemctl", "--failed", "--no-legend"], check=False).stdout
            self._console.append(f"[booted degraded: {failed.strip()}]")

    def _read_console(self) -> None:
        assert self._nspawn is not None and self._nspawn.stdout is not None
        for line in self._nspawn.stdout:
            self._console.append(line.rstrip("\n"))

    def console(self) -> str:
        """The last lines nspawn and the container's console printed."""
        return "\n".join(self._console)

    def _find_init(self) -> int | None:
        assert self._nspawn is not None
        if self._nspawn.poll() is not None:
            time.sleep(0.2)  # let the reader catch the last words
            raise ContainerError(f"systemd-nspawn exited with {self._nspawn.returncode}:\n"
                                 + self.console())
        own = os.readlink("/proc/self/ns/pid")
        for pid in _children(self._nspawn.pid):
            with contextlib.suppress(OSError):
                if (os.readlink(f"/proc/{pid}/ns/pid") != own
                        and Path(f"/proc/{pid}/comm").read_text().strip() == "systemd"):
                    return pid
        return None

    def _booted(self) -> str | None:
        state = self.run(["systemctl", "is-system-running"], check=False).stdout.strip()
        return state if state in ("running", "degraded") else None

    def shut_down(self, timeout: float = 60) -> None:
        """Power the container off (SIGTERM makes nspawn ask the container's systemd for an
        orderly poweroff), wait for nspawn to exit, and undo the host-side mount."""
        process, self._nspawn = self._nspawn, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                if self.init_pid:  # the container's init takes every process in it along
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.init_pid, signal.SIGKILL)
                process.kill()
                process.wait(10)
        if self._reader is not None:
            self._reader.join(5)
        if self._mounted_locks:
            subprocess.run(["umount", str(NSPAWN_LOCKS)], check=False, capture_output=True)
            self._mounted_locks = False
        for directory in reversed(self._made_dirs):
            with contextlib.suppress(OSError):
                directory.rmdir()
        self._made_dirs.clear()

    # -- commands inside --

    def run(self, command: Sequence[str], *, input: str | None = None,
            env: Mapping[str, str] | None = None, timeout: float = 120,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command inside the container, as root, in all its namespaces, with a clean
        environment (BASE_ENV and `env`); check=True raises ContainerError on a failure."""
        if not self.init_pid:
            raise ContainerError("the container is not running")
        done = subprocess.run(
            [self._nsenter, "-t", str(self.init_pid), "-a", "--", *command],
            input=input, env={**BASE_ENV, **(env or {})}, capture_output=True, text=True,
            errors="replace", timeout=timeout, check=False,
            stdin=None if input is not None else subprocess.DEVNULL)
        if check and done.returncode != 0:
            raise ContainerError(f"{' '.join(command)} exited with {done.returncode}:\n"
                                 f"{done.stdout}{done.stderr}")
        return done

    def sh(self, script: str, **options: Any) -> subprocess.CompletedProcess[str]:
        """A shell script inside the container."""
        return self.run(["sh", "-ec", script], **options)

    def write(self, path: str, text: str, mode: int = 0o644) -> None:
        """Write a file inside the container (root-owned), making its folders."""
        self.run(["install", "-D", "-m", f"{mode:04o}", "/dev/stdin", path], input=text)

    def read(self, path: str) -> str:
        return self.run(["cat", path]).stdout

    def exists(self, path: str) -> bool:
        return self.run(["test", "-e", path], check=False).returncode == 0

    def copy_tree(self, source: Path, files: Sequence[str], inside: str) -> None:
        """Copy `files` (relative to `source`, which must be bound into the container at
        SOURCE_INSIDE) to the folder `inside`, keeping their modes."""
        script = ("import os, shutil, sys\n"
                  "src, dst = sys.argv[1:]\n"
                  "for name in sys.stdin.read().split('\\0'):\n"
                  "    if name:\n"
                  "        os.makedirs(os.path.dirname(os.path.join(dst, name)), exist_ok=True)\n"
                  "        shutil.copy2(os.path.join(src, name), os.path.join(dst, name))\n")
        self.run(["python3", "-c", script, SOURCE_INSIDE, inside], input="\0".join(files))

    # -- systemd --

    def systemctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(["systemctl", *args], check=check)

    def show(self, unit: str, *properties: str) -> dict[str, str]:
        """`systemctl show -p ...` as a dict."""
        out = self.run(["systemctl", "show", unit, *(f"--property={p}" for p in properties)])
        return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)

    def cursor(self) -> str:
        """The journal's cursor now: journal(after=...) then returns only what came later."""
        out = self.run(["journalctl", "--lines=0", "--show-cursor", "--quiet"]).stdout
        found = re.search(r"cursor: (\S+)", out)
        if not found:  # only an empty journal has none, and a booted system's never is
            raise ContainerError(f"journalctl gave no cursor: {out!r}")
        return found.group(1)

    def journal(self, unit: str | None = None, after: str = "") -> list[dict[str, str]]:
        """The journal's entries (of `unit`, after the cursor `after`) as dicts, oldest
        first; MESSAGE always a str."""
        command = ["journalctl", "--output=json", "--no-pager", "--quiet"]
        if unit:
            command.append(f"--unit={unit}")
        if after:
            command.append(f"--after-cursor={after}")
        entries = []
        for line in self.run(command, check=False).stdout.splitlines():
            entry = json.loads(line)
            message = entry.get("MESSAGE")
            if isinstance(message, list):  # journald gives non-UTF-8 text as bytes
                entry["MESSAGE"] = bytes(message).decode(errors="replace")
            elif message is None:
                entry["MESSAGE"] = ""
            entries.append(entry)
        return entries

    def journal_tail(self, unit: str = "ebbtide", lines: int = 40) -> str:
        """The unit's last journal lines, for failure messages."""
        return self.run(["journalctl", f"--unit={unit}", f"--lines={lines}", "--no-pager",
                         "--output=short-monotonic"], check=False).stdout

    @staticmethod
    def is_started_line(entry: Mapping[str, str], unit: str) -> bool:
        """systemd's own "Started UNIT" line."""
        return (entry.get("MESSAGE_ID") == _UNIT_STARTED and entry.get("UNIT") == unit
                and entry.get("JOB_RESULT") == "done")
