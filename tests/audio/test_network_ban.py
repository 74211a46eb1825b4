"""After forbid_network() no network socket can be had, by the process or anything it starts;
pipes and socket pairs still work; it goes on top of systemd's own filter; and where it cannot
go in at all, the voice maker speaks with espeak-ng and says why, rather than load Piper.

A filter can never be taken off, so each test that installs one does it in a child Python.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import shutil
import socket
import stat
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from audio import network_ban

# The children's common start: probe() says "ok" or the errno's name; status() reads one
# field of /proc/self/status; outer() puts in a filter as the service's systemd does.
PREAMBLE = '''
import ctypes, errno, json, os, socket, sys, threading
from audio import network_ban

def probe(family, kind=socket.SOCK_DGRAM):
    try:
        socket.socket(family, kind).close()
        return "ok"
    except OSError as error:
        return errno.errorcode[error.errno]

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return line.split()[1]

class Insn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]

class Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Insn))]

def ours_from_outside():
    """Ebbtide's own program put in before the process runs its code, as the ARM tests put it
    on the qemu that emulates a root's programs."""
    rows = network_ban.program()
    prog = Prog(len(rows), (Insn * len(rows))(*(Insn(*row) for row in rows)))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    assert libc.prctl(38, 1, 0, 0, 0) == 0
    assert libc.prctl(22, 2, ctypes.addressof(prog), 0, 0) == 0

def outer(seccomp=errno.EPERM, set_seccomp=None):
    """As ebbtide.service's SystemCallFilter= and RestrictAddressFamilies=AF_UNIX: seccomp(2)
    gets `seccomp` (an errno), a socket other than AF_UNIX EAFNOSUPPORT. With `set_seccomp`,
    prctl(PR_SET_SECCOMP) gets that errno: a kernel without seccomp filters."""
    name, audit, seccomp_nr = network_ban.abi_of(open("/proc/self/exe", "rb").read(20))
    column = ("x86_64", "aarch64", "arm").index(name)
    socket_nr = network_ban.CALLS["socket"][0][column]
    prctl_nr = (157, 167, 172)[column]
    allow, error = 0x7FFF0000, 0x50000
    rows = [(0x20, 0, 0, 4), (0x15, 1, 0, audit), (0x06, 0, 0, 0x80000000),
            (0x20, 0, 0, 0), (0x15, 0, 1, seccomp_nr), (0x06, 0, 0, error | seccomp),
            (0x15, 0, 3, socket_nr), (0x20, 0, 0, 16), (0x15, 5, 0, socket.AF_UNIX),
            (0x06, 0, 0, error | errno.EAFNOSUPPORT),
            (0x15, 0, 3, prctl_nr), (0x20, 0, 0, 16), (0x15, 0, 1, 22),
            (0x06, 0, 0, error | set_seccomp if set_seccomp else allow), (0x06, 0, 0, allow)]
    prog = Prog(len(rows), (Insn * len(rows))(*(Insn(*row) for row in rows)))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    assert libc.prctl(38, 1, 0, 0, 0) == 0  # NoNewPrivileges=yes
    assert libc.prctl(22, 2, ctypes.addressof(prog), 0, 0) == 0
'''


def child(code: str, *prefix: str) -> dict:
    """Run `code` (after PREAMBLE) in a fresh Python; it prints one JSON value, returned."""
    script = PREAMBLE + textwrap.dedent(code)
    done = subprocess.run([*prefix, sys.executable, "-I", "-c", script], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_socket_is_refused_with_eacces() -> None:
    seen = child("""
        before = probe(socket.AF_INET)
        network_ban.forbid_network()
        print(json.dumps({"before": before, "after": {
            f"{family}/{kind}": probe(family, kind)
            # INET, INET6, PACKET, NETLINK, UNIX, BLUETOOTH, CAN, VSOCK, XDP
            for family in (2, 10, 17, 16, 1, 31, 29, 40, 44)
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM, socket.SOCK_RAW)},
            "seccomp": status("Seccomp"), "no_new_privs": status("NoNewPrivs")}))
    """)
    assert seen["before"] == "ok"
    assert set(seen["after"].values()) == {"EACCES"}, seen["after"]
    assert (seen["seccomp"], seen["no_new_privs"]) == ("2", "1")


def test_pipes_and_stream_socket_pairs_still_work() -> None:
    seen = child("""
        network_ban.forbid_network()
        said = {}
        read, write = os.pipe()
        os.write(write, b"calm")
        said["pipe"] = os.read(read, 4).decode()
        for kind in (socket.SOCK_STREAM, socket.SOCK_SEQPACKET):
            a, b = socket.socketpair(socket.AF_UNIX, kind | socket.SOCK_CLOEXEC)
            a.sendall(b"calm")
            said[kind.name] = b.recv(4).decode()
        try:
            socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)  # could sendto() /dev/log
            said["dgram"] = "ok"
        except OSError as error:
            said["dgram"] = errno.errorcode[error.errno]
        print(json.dumps(said))
    """)
    assert seen == {"pipe": "calm", "SOCK_STREAM": "calm", "SOCK_SEQPACKET": "calm",
                    "dgram": "EACCES"}


def test_every_program_it_starts_is_banned_too() -> None:
    seen = child("""
        import subprocess
        network_ban.forbid_network()
        python = subprocess.run([sys.executable, "-I", "-c",
            "import socket\\ntry:\\n socket.socket()\\nexcept OSError as e: print(e.errno)"],
            capture_output=True, text=True).stdout.strip()
        # Not Python: bash's /dev/tcp, to loopback's discard port
        shell = subprocess.run(["bash", "-c", "echo > /dev/tcp/127.0.0.1/9"],
                               capture_output=True, text=True).stderr
        grand = subprocess.run(["grep", "-E", "^(Seccomp|NoNewPrivs):", "/proc/self/status"],
                               capture_output=True, text=True).stdout.split()
        print(json.dumps({"python": python, "shell": shell, "status": grand}))
    """)
    assert seen["python"] == "13"  # EACCES
    assert "Permission denied" in seen["shell"]
    assert seen["status"] == ["NoNewPrivs:", "1", "Seccomp:", "2"]


def test_the_ways_round_the_socket_rule_are_closed() -> None:
    seen = child("""
        import subprocess
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.argtypes = [ctypes.c_long] * 4
        name, _, _ = network_ban.abi_of(open("/proc/self/exe", "rb").read(20))
        column = ("x86_64", "aarch64", "arm").index(name)
        def call(name, *args):
            numbers, _ = network_ban.CALLS[name]
            if libc.syscall(numbers[column], *args, *[0] * (3 - len(args))) >= 0:
                return "ok"
            return errno.errorcode[ctypes.get_errno()]
        network_ban.forbid_network()
        with subprocess.Popen(["sleep", "30"]) as other:  # one it could trace, unfiltered
            seen = {"io_uring_setup": call("io_uring_setup", 1, 0),
                    "request_key": call("request_key", 0, 0, 0),
                    "ptrace": call("ptrace", 0x4206, other.pid, 0),  # PTRACE_SEIZE
                    "pidfd_getfd": call("pidfd_getfd", 0, 0, 0)}
            other.kill()
        print(json.dumps(seen))
    """)
    assert seen == {"io_uring_setup": "ENOSYS", "request_key": "ENOSYS", "ptrace": "EPERM",
                    "pidfd_getfd": "EPERM"}


def test_threads_started_before_it_are_banned_too() -> None:
    seen = child("""
        go, done, result = threading.Event(), threading.Event(), []
        def worker():
            go.wait()
            result.append(probe(socket.AF_INET))
            done.set()
        threading.Thread(target=worker).start()
        network_ban.forbid_network()
        go.set()
        done.wait(10)
        print(json.dumps(result))
    """)
    assert seen == ["EACCES"]


def test_it_goes_on_top_of_the_services_own_filter() -> None:
    """systemd's @system-service refuses seccomp(2): the filter goes in through prctl(),
    and the ban's EACCES, not systemd's EAFNOSUPPORT, is the answer."""
    seen = child("""
        outer()
        before = [probe(socket.AF_INET), probe(socket.AF_UNIX)]
        network_ban.forbid_network()
        print(json.dumps({"before": before, "after": [probe(socket.AF_INET),
                          probe(socket.AF_UNIX)], "filters": status("Seccomp_filters")}))
    """)
    assert seen == {"before": ["EAFNOSUPPORT", "ok"], "after": ["EACCES", "EACCES"],
                    "filters": "2"}


def test_with_seccomp2_refused_it_will_not_leave_a_thread_unbanned() -> None:
    seen = child("""
        outer()
        stop = threading.Event()
        threading.Thread(target=stop.wait).start()
        said = []
        for _ in range(2):
            try:
                network_ban.forbid_network()
                said.append("in force")
            except network_ban.NetworkStillReachable as error:
                said.append(str(error))
        stop.set()
        print(json.dumps([said, status("Seccomp_filters")]))
    """)
    said, filters = seen
    assert "2 threads" in said[0] and "before anything starts a thread" in said[0]
    assert said[1] == said[0], "asked again, it gives the first reason"
    assert filters == "1", "only systemd's: nothing was half done"


def test_started_already_shut_off_where_no_filter_can_go_in_it_counts_as_banned() -> None:
    """As under qemu-user: the emulated program's own filter is refused (seccomp(2) ENOSYS,
    prctl EINVAL) and it has a thread of the emulator's, but the process was started under a
    filter that refuses every socket: the ban holds, and forbid_network() says so."""
    seen = child("""
        ours_from_outside()
        outer(errno.ENOSYS, errno.EINVAL)
        stop = threading.Event()
        threading.Thread(target=stop.wait).start()
        try:
            network_ban.forbid_network()
            said = "in force"
        except network_ban.NetworkStillReachable as error:
            said = str(error)
        stop.set()
        print(json.dumps([said, probe(socket.AF_UNIX), probe(socket.AF_NETLINK),
                          status("Seccomp_filters")]))
    """)
    assert seen == ["in force", "EACCES", "EAFNOSUPPORT", "2"]


def test_a_filter_that_leaves_any_socket_open_is_not_taken_for_the_ban() -> None:
    """The service's own systemd filter refuses seccomp filters here and every socket but
    AF_UNIX: not shut enough, so the reason is given and nothing is pretended."""
    seen = child("""
        outer(errno.ENOSYS, errno.EINVAL)
        try:
            network_ban.forbid_network()
            said = "in force"
        except network_ban.NetworkStillReachable as error:
            said = str(error)
        print(json.dumps([said, probe(socket.AF_UNIX)]))
    """)
    assert seen == ["this kernel refuses seccomp filters (EINVAL: Invalid argument)", "ok"]


def test_an_open_network_socket_is_refused_before_anything_changes() -> None:
    seen = child("""
        kept = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            network_ban.forbid_network()
            said = "in force"
        except network_ban.NetworkStillReachable as error:
            said = str(error)
        print(json.dumps([said, status("Seccomp"), status("NoNewPrivs")]))
    """)
    assert seen == [f"descriptor {seen[0].split()[1]} is already an AF_INET socket", "0", "0"]


def test_an_ordinary_user_can_put_it_in() -> None:
    """No privilege needed: a process holding no capability at all (as an ordinary user
    does; as root, every capability is dropped) puts the filter in and is refused."""
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: no way to drop the capabilities")
    drop = (["setpriv", "--inh-caps=-all", "--bounding-set=-all"] if os.geteuid() == 0
            else [])
    seen = child("""
        network_ban.forbid_network()
        print(json.dumps([status("CapEff"), probe(socket.AF_INET), probe(socket.AF_INET6)]))
    """, *drop)
    assert seen == ["0000000000000000", "EACCES", "EACCES"]


# The voice maker: the filter goes in before anything starts a thread, so the natural voice
# speaks inside the service's sandbox; where the kernel takes no filter, espeak-ng speaks.
FILL = """
import logging
from pathlib import Path
logs = []
class Kept(logging.Handler):
    def emit(self, record):
        logs.append(record.getMessage())
logging.getLogger().addHandler(Kept(logging.WARNING))
from audio.voicemaker import VoiceMaker
from device.core.voice import Line, VoiceSettings
filters = []
def look(done, total):
    for task in Path("/proc/self/task").iterdir():
        for pid in (task / "children").read_text().split():
            status = Path(f"/proc/{pid}/status").read_text().splitlines()
            filters.append([ln.split()[1] for ln in status if ln.startswith("Seccomp_filters:")])
report = VoiceMaker(VoiceSettings(), Path(sys.argv[1])).fill(
    [Line("hold", "Hold."), Line("out", "And out, slowly.")], 22050, look)
print(json.dumps({"engine": report.engine, "lines": len(report.lines),
                  "failure": report.failure, "logs": logs, "filters": filters}))
"""


def fill_under(outer_filter: str, folder: Path) -> dict:
    """Two lines made, with the voice maker's default command, by a Python that first puts
    in `outer_filter` (a call of PREAMBLE's outer()), as systemd would."""
    done = subprocess.run([sys.executable, "-I", "-c", PREAMBLE + outer_filter + "\n" + FILL,
                           str(folder)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_in_the_services_sandbox_the_natural_voice_speaks_banned(tmp_path) -> None:
    seen = fill_under("outer()", tmp_path / "voice")
    assert seen["engine"].startswith("piper ") and seen["lines"] == 2
    assert seen["failure"] is None and seen["logs"] == []
    assert seen["filters"] and all(f == ["2"] for f in seen["filters"]), seen["filters"]


def test_where_the_kernel_takes_no_filter_espeak_speaks_and_one_line_says_why(tmp_path) -> None:
    seen = fill_under("outer(errno.ENOSYS, errno.EINVAL)", tmp_path / "voice")
    assert seen["engine"].startswith("espeak-ng") and seen["lines"] == 2
    assert seen["failure"] is None
    assert seen["logs"] == ["the natural voice is off: its speech process could not be cut off "
                            "from the network (this kernel refuses seccomp filters (EINVAL: "
                            "Invalid argument)); espeak-ng speaks"]


def test_started_under_ebbtide_s_filter_where_none_can_go_in_piper_speaks(tmp_path) -> None:
    """The ARM tests' way to hear Piper under qemu-user: the filter on the emulator."""
    seen = fill_under("ours_from_outside()\nouter(errno.ENOSYS, errno.EINVAL)",
                      tmp_path / "voice")
    assert seen["engine"].startswith("piper ") and seen["lines"] == 2
    assert seen["failure"] is None and seen["logs"] == []


# --- the program itself, run by a small BPF interpreter for every ABI --------------------


def run(program: list[tuple[int, int, int, int]], arch: int, nr: int, *args: int) -> int:
    """What the kernel would answer: classic BPF over struct seccomp_data (little-endian)."""
    data = struct.pack("<IIQ6Q", nr & 0xFFFFFFFF, arch, 0, *args, *[0] * (6 - len(args)))
    a = pc = 0
    while True:
        code, jt, jf, k = program[pc]
        pc += 1
        if code == 0x20:
            (a,) = struct.unpack_from("<I", data, k)
        elif code == 0x54:
            a &= k
        elif code in (0x15, 0x35):
            pc += jt if (a == k if code == 0x15 else a >= k) else jf
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unknown instruction {code:#x}")


ALLOW, KILL = 0x7FFF0000, 0x80000000
EACCES, EPERM, ENOSYS = (0x50000 | e for e in (13, 1, 38))
ABIS = {"x86_64": (0, 0xC000003E), "aarch64": (1, 0xC00000B7), "arm": (2, 0x40000028)}


@pytest.mark.parametrize("abi", ABIS)
def test_the_program_for_every_abi(abi: str) -> None:
    program = network_ban.program()
    column, arch = ABIS[abi]
    number = {name: numbers[column] for name, (numbers, _) in network_ban.CALLS.items()}
    for family in (socket.AF_INET, socket.AF_INET6, socket.AF_PACKET, socket.AF_NETLINK,
                   socket.AF_UNIX, 0, 1 << 32 | socket.AF_INET, 255):
        assert run(program, arch, number["socket"], family, socket.SOCK_STREAM) == EACCES
    pair = number["socketpair"]
    for kind, result in ((socket.SOCK_STREAM, ALLOW), (socket.SOCK_SEQPACKET, ALLOW),
                         (socket.SOCK_DGRAM, EACCES), (socket.SOCK_RAW, EACCES)):
        assert run(program, arch, pair, socket.AF_UNIX, kind | socket.SOCK_CLOEXEC) == result
    assert run(program, arch, pair, socket.AF_INET, socket.SOCK_STREAM) == EACCES
    for name in ("io_uring_setup", "io_uring_enter", "io_uring_register", "add_key",
                 "request_key", "keyctl"):
        assert run(program, arch, number[name]) == ENOSYS
    for name in ("ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd"):
        assert run(program, arch, number[name]) == EPERM
    others = set(range(460)) - set(number.values())
    assert {run(program, arch, nr, socket.AF_INET) for nr in others} == {ALLOW}


def test_a_foreign_abi_is_killed_and_x32_is_absent() -> None:
    program = network_ban.program()
    assert run(program, 0x40000003, 359, socket.AF_INET) == KILL  # i386 socket (int 0x80)
    assert run(program, 0x40000003, 102, 1) == KILL  # i386 socketcall
    assert run(program, 0x4000003E, 41, socket.AF_INET) == KILL  # no such audit arch
    assert run(program, 0xC000003E, 0x40000000 | 41, socket.AF_INET) == ENOSYS  # x32 socket
    assert run(program, 0xC000003E, -1) == ENOSYS


def test_the_numbers_are_libseccomp_s() -> None:
    """libseccomp's own tables (libseccomp2 is on every systemd system) agree with ours."""
    found = ctypes.util.find_library("seccomp")
    if not found:
        pytest.skip("no libseccomp on this machine to check the numbers against")
    lib = ctypes.CDLL(found)
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    for abi, audit, seccomp_nr in network_ban.ABIS.values():
        assert lib.seccomp_arch_resolve_name(abi.encode()) == audit

        def resolve(name: str, audit: int = audit) -> int:
            return lib.seccomp_syscall_resolve_name_arch(audit, name.encode())

        assert resolve("seccomp") == seccomp_nr
        assert resolve("prctl") == (157, 167, 172)[ABIS[abi][0]]  # the tests' outer filter
        for name, (numbers, _) in network_ban.CALLS.items():
            assert resolve(name) == numbers[ABIS[abi][0]], (abi, name)
        assert resolve("socketcall") < 0  # none of the three goes round socket()


def test_a_processor_without_a_filter_is_refused() -> None:
    def header(elf_class: int, endian: int, machine: int) -> bytes:
        return b"\x7fELF" + bytes([elf_class, endian]) + bytes(12) + struct.pack("<H", machine)

    assert network_ban.abi_of(header(2, 1, 62))[0] == "x86_64"
    assert network_ban.abi_of(header(1, 1, 40))[0] == "arm"
    for head in (header(1, 1, 3), header(2, 1, 243), header(2, 2, 183), b"#!/bin/sh\n"):
        with pytest.raises(network_ban.NetworkStillReachable):
            network_ban.abi_of(head)


def test_the_private_environment_is_one_private_folder(tmp_path: Path) -> None:
    home = tmp_path / "voice" / "home"
    env = network_ban.private_environment(home)
    assert env.pop("ORT_DISABLE_TELEMETRY") == "1"
    assert set(env) == {"HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
                        "XDG_STATE_HOME", "XDG_RUNTIME_DIR", "TMPDIR"}
    assert env["HOME"] == str(home) and env["TMPDIR"] == str(home / ".tmp")
    for value in env.values():
        path = Path(value)
        assert path.is_relative_to(home) and path.is_dir()
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / ".local").stat().st_mode) == 0o700
    assert network_ban.private_environment(home) == {**env, "ORT_DISABLE_TELEMETRY": "1"}
