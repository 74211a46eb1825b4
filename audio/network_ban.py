"""The speech process gets no network, for life, and keeps its files inside Ebbtide's folder.

onnxruntime (under Piper) sends usage data to its vendor from native threads of its own, and
its Python switch does not stop that, so "nothing leaves the device" cannot rest on a
setting. `forbid_network()` has the kernel refuse every way this process, and whatever it
starts, could get a network socket: a seccomp filter, which an ordinary user may install, in
the service's sandbox too. `private_environment()` points the child's home, XDG folders and
TMPDIR into the voice cache, and sets onnxruntime's own opt-out as well.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
from pathlib import Path

# struct seccomp_data (linux/seccomp.h): the call number at 0, the arch at 4, the six u64
# arguments from 16. All three ABIs are little-endian: an argument's low 32 bits (an int, as
# the kernel reads the socket type) sit at the argument's own offset.
_NR, _ARCH, _ARG0, _ARG1 = 0, 4, 16, 24
_LD, _JEQ, _JGE, _AND, _RET = 0x20, 0x15, 0x35, 0x54, 0x06  # classic BPF opcodes
_X32_BIT = 0x40000000  # x32 calls come in as AUDIT_ARCH_X86_64 with this bit in the number
RESULTS = {"allow": 0x7FFF0000, "kill": 0x80000000,  # SECCOMP_RET_ALLOW, _KILL_PROCESS
           **{name: 0x00050000 | getattr(errno, name.upper())  # SECCOMP_RET_ERRNO | errno
              for name in ("eacces", "eperm", "enosys")}}

# The ABIs Ebbtide runs in, by (ELF class, e_machine): name, AUDIT_ARCH_*, seccomp(2)'s
# number. A 32-bit process on a 64-bit ARM kernel (Raspberry Pi OS armhf on a Pi 4 or 5)
# enters as AUDIT_ARCH_ARM with the ARM numbers, so every filter holds all three.
ABIS = {(2, 62): ("x86_64", 0xC000003E, 317), (2, 183): ("aarch64", 0xC00000B7, 277),
        (1, 40): ("arm", 0x40000028, 383)}
# Each call's (x86_64, aarch64, arm) numbers, from the kernel's syscall tables, and where
# the filter sends it. Every socket() is refused: the child talks to its parent over pipes,
# and an AF_UNIX socket could ask a local daemon (nscd, systemd-resolved, syslog) to reach
# the network for it. socketpair() is judged by its arguments. The rest are ways round the
# socket rule: io_uring makes sockets itself, request_key() has the kernel's helper look
# names up, and ptrace, process_vm_* and pidfd_getfd borrow another process's socket.
CALLS = {"socket": ((41, 198, 281), "eacces"), "socketpair": ((53, 199, 288), "pair"),
         "io_uring_setup": ((425, 425, 425), "enosys"),
         "io_uring_enter": ((426, 426, 426), "enosys"),
         "io_uring_register": ((427, 427, 427), "enosys"),
         "add_key": ((248, 217, 309), "enosys"), "request_key": ((249, 218, 310), "enosys"),
         "keyctl": ((250, 219, 311), "enosys"), "ptrace": ((101, 117, 26), "eperm"),
         "process_vm_readv": ((310, 270, 376), "eperm"),
         "process_vm_writev": ((311, 271, 377), "eperm"),
         "pidfd_getfd": ((438, 438, 438), "eperm")}
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2
_SECCOMP_SET_MODE_FILTER, _SECCOMP_FILTER_FLAG_TSYNC = 1, 1

_in_force = False
_refused: str | None = None  # why the first try failed: later calls say the same


class NetworkStillReachable(RuntimeError):
    """forbid_network() could not make the network unreachable; the message says why."""


def program() -> list[tuple[int, int, int, int]]:
    """The filter as (code, jt, jf, k) rows: the arch first (any other ABI, such as i386
    through int 0x80, is killed), then the call number, then for socketpair() its arguments.
    Only AF_UNIX stream and seqpacket pairs pass: each end is joined to the other and to
    nothing else, while a datagram one could still sendto() /dev/log."""
    asm: list[str | tuple[int, str | int, str | int, int]] = [(_LD, 0, 0, _ARCH)]
    asm += [(_JEQ, name, 0, audit) for name, audit, _ in ABIS.values()]
    asm.append((_RET, 0, 0, RESULTS["kill"]))
    for column, (name, _, _) in enumerate(ABIS.values()):
        asm += [name, (_LD, 0, 0, _NR)]
        if name == "x86_64":
            asm.append((_JGE, "enosys", 0, _X32_BIT))
        asm += [(_JEQ, where, 0, numbers[column]) for numbers, where in CALLS.values()]
        asm.append((_RET, 0, 0, RESULTS["allow"]))
    asm += ["pair", (_LD, 0, 0, _ARG0), (_JEQ, 0, "eacces", socket.AF_UNIX),
            (_LD, 0, 0, _ARG1), (_AND, 0, 0, 0xF),  # the type, without SOCK_CLOEXEC and the like
            (_JEQ, "allow", 0, socket.SOCK_STREAM),
            (_JEQ, "allow", "eacces", socket.SOCK_SEQPACKET)]
    for name in ("allow", "eacces", "eperm", "enosys"):
        asm += [name, (_RET, 0, 0, RESULTS[name])]
    return _assembled(asm)


def _assembled(asm: list[str | tuple[int, str | int, str | int, int]]
               ) -> list[tuple[int, int, int, int]]:
    """Labels (str) become forward jump offsets; a jump that is an int stays as it is."""
    where: dict[str, int] = {}
    count = 0
    for item in asm:
        if isinstance(item, str):
            where[item] = count
        else:
            count += 1
    code: list[tuple[int, int, int, int]] = []
    for item in asm:
        if isinstance(item, str):
            continue
        op, jt, jf, k = item
        jumps = [where[j] - len(code) - 1 if isinstance(j, str) else j for j in (jt, jf)]
        if not all(0 <= j <= 255 for j in jumps):
            raise ValueError(f"jump out of range at {len(code)}: {jumps}")
        code.append((op, jumps[0], jumps[1], k))
    return code


def forbid_network() -> None:
    """From now on this process, and everything it starts, can get no network socket
    (EACCES), and nothing can lift that. Raises NetworkStillReachable if it cannot be done;
    a second call returns at once, or raises for the first call's reason.

    Call it first thing: where seccomp(2) is refused (systemd's @system-service leaves it
    out), the filter goes in through prctl(), which covers only the calling thread, so then
    the process must have no other thread yet (numpy's OpenBLAS starts some on import).
    Where neither way is open, a process started under a filter that already refuses every
    socket (NoNewPrivs, so nothing it runs can lift it) counts as banned.
    """
    global _in_force, _refused
    if _in_force:
        return
    if _refused is not None:
        raise NetworkStillReachable(_refused)
    try:
        _install()
    except NetworkStillReachable as error:
        _refused = str(error)
        raise
    _in_force = True


def _install() -> None:
    if os.uname().sysname != "Linux":
        raise NetworkStillReachable("it needs Linux's seccomp filters")
    _, _, seccomp_nr = _own_abi()
    _refuse_open_network_sockets()
    rows = program()
    prog = _Prog(len(rows), (_Insn * len(rows))(*(_Insn(*row) for row in rows)))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    libc.syscall.argtypes = [ctypes.c_long] + [ctypes.c_ulong] * 3
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise NetworkStillReachable(f"PR_SET_NO_NEW_PRIVS was refused ({_why()})")
    done = libc.syscall(seccomp_nr, _SECCOMP_SET_MODE_FILTER, _SECCOMP_FILTER_FLAG_TSYNC,
                        ctypes.addressof(prog))
    if done > 0:
        raise NetworkStillReachable(f"thread {done} could not take the filter")
    if done < 0:
        refused, threads = _why(), _threads()
        if threads != 1:
            why = (f"seccomp(2) was refused ({refused}) and this process has {threads} "
                   "threads, which prctl() would leave unfiltered: it must be called before "
                   "anything starts a thread")
        elif libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0):
            why = f"this kernel refuses seccomp filters ({_why()})"
        else:
            why = ""
        if why:
            if _shut_from_outside():
                return
            raise NetworkStillReachable(why)
    try:  # the proof, on this kernel: the filter is in, and it has the last word
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()
    except OSError as error:
        if error.errno == errno.EACCES:
            return
        raise NetworkStillReachable(f"socket(AF_INET) said {error}, not EACCES") from error
    raise NetworkStillReachable("the filter is in, but socket(AF_INET) still works")


def _shut_from_outside() -> bool:
    """Whether this process was started already shut off from the network by a filter of
    someone else's that no program it runs can lift, where it cannot put in its own: under
    qemu-user, which refuses seccomp to the programs it emulates (they would filter qemu's
    own calls), the tests put Ebbtide's filter on the emulator itself. It must refuse every
    kind of socket, a datagram socket pair and io_uring, as the filter here does."""
    status = {}
    try:
        with open("/proc/self/status") as lines:
            for line in lines:
                key, _, value = line.partition(":")
                status[key] = value.strip()
    except OSError:
        return False
    if status.get("NoNewPrivs") != "1" or status.get("Seccomp") != "2":
        return False
    refusals = {errno.EACCES, errno.EPERM, errno.EAFNOSUPPORT}
    for family in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX, socket.AF_NETLINK,
                   socket.AF_PACKET):
        try:
            socket.socket(family, socket.SOCK_DGRAM).close()
            return False
        except OSError as error:
            if error.errno not in refusals:
                return False
    try:
        for end in socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM):
            end.close()
        return False
    except OSError as error:
        if error.errno not in refusals:
            return False
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.argtypes = [ctypes.c_long] + [ctypes.c_ulong] * 3
    io_uring_setup = CALLS["io_uring_setup"][0][0]  # 425 in all three tables
    if libc.syscall(io_uring_setup, 1, 0, 0) != -1:
        return False
    return ctypes.get_errno() in refusals | {errno.ENOSYS}


def private_environment(base: Path) -> dict[str, str]:
    """Entries for the speech process's environment: HOME, the XDG folders and TMPDIR inside
    `base` (made 0700), so what a library writes there (onnxruntime writes
    $XDG_CACHE_HOME/Microsoft/... and $TMPDIR/.ses) stays in Ebbtide's folder, and
    onnxruntime's own opt-out, read when it loads, so that it writes them not at all."""
    places = {"HOME": "", "XDG_CACHE_HOME": ".cache", "XDG_CONFIG_HOME": ".config",
              "XDG_DATA_HOME": ".local/share", "XDG_STATE_HOME": ".local/state",
              "XDG_RUNTIME_DIR": ".run", "TMPDIR": ".tmp"}
    base = base.absolute()
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {"ORT_DISABLE_TELEMETRY": "1"}
    for key, place in places.items():
        path = base
        for part in Path(place).parts:  # each level 0700, where mkdir(parents=True) is not
            path /= part
            path.mkdir(mode=0o700, exist_ok=True)
        env[key] = str(path)
    return env


class _Insn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class _Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Insn))]


def _own_abi() -> tuple[str, int, int]:
    """This process's ABI from its own ELF header: under Raspberry Pi OS armhf on a 64-bit
    kernel, uname says aarch64 while the process is 32-bit ARM."""
    try:
        with open("/proc/self/exe", "rb") as exe:
            return abi_of(exe.read(20))
    except OSError as error:
        raise NetworkStillReachable(f"cannot read /proc/self/exe ({error})") from error


def abi_of(head: bytes) -> tuple[str, int, int]:
    """(name, AUDIT_ARCH_*, seccomp(2)'s number) for the ELF header `head`, if there is a
    filter for its ABI."""
    if len(head) < 20 or head[:4] != b"\x7fELF" or head[5] != 1:
        raise NetworkStillReachable("this program is not a little-endian ELF file")
    (machine,) = struct.unpack_from("<H", head, 18)
    if (head[4], machine) not in ABIS:
        raise NetworkStillReachable(f"there is no filter for this processor (ELF class "
                                    f"{head[4]}, machine {machine}), only for x86_64, "
                                    "aarch64 and 32-bit arm")
    return ABIS[head[4], machine]


def _refuse_open_network_sockets() -> None:
    """A filter stops new sockets, not one already open (inherited): refuse to go on."""
    for name in os.listdir("/proc/self/fd"):
        try:
            if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                continue
            with socket.socket(fileno=os.dup(int(name))) as sock:
                family = sock.family
        except OSError:
            continue  # the listing's own descriptor, closed by now
        if family != socket.AF_UNIX:
            kind = getattr(family, "name", f"family {family}")
            raise NetworkStillReachable(f"descriptor {name} is already an {kind} socket")


def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0  # unknown, so not one


def _why() -> str:
    code = ctypes.get_errno()
    return f"{errno.errorcode.get(code, code)}: {os.strerror(code)}"
