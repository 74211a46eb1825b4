"""Data files read and written without surprises: only regular files are read, never
through a symlink, never blocking, never beyond a size bound; writes go to a new temporary
file in the same folder, renamed into place.

A household's folders can hold anything (a named pipe, a link to a device, a huge file), and
the voice maker must refuse each at once, with a reason, rather than hang or fill memory.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path


class NotRegular(OSError):
    """A path that is not a regular file of a bounded size; the message says what it is."""


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of the regular file at `path`, never through a symlink at its end and never
    blocking: a FIFO, a device, a folder, a symlink, or a file over `limit` bytes is refused
    with NotRegular (at once: O_NONBLOCK means a FIFO with no writer does not wait)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise NotRegular(errno.ELOOP, "it is a symbolic link") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegular(errno.EINVAL, f"it is {_kind(info.st_mode)}, not a file")
        if info.st_size > limit:
            raise NotRegular(errno.EFBIG, f"it is {info.st_size / 2**20:.0f} MB, more than "
                                          f"the {limit / 2**20:.0f} MB allowed")
        with os.fdopen(os.dup(fd), "rb") as file:
            raw = file.read(limit + 1)
    finally:
        os.close(fd)
    if len(raw) > limit:  # it grew while it was read
        raise NotRegular(errno.EFBIG, f"it is more than the {limit / 2**20:.0f} MB allowed")
    return raw


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "a socket"


def write_atomically(path: Path, content: bytes) -> None:
    """Write via a synced temporary file in the same folder (made with O_EXCL|O_NOFOLLOW by
    mkstemp, mode 0600) and os.replace: a reader never sees half a file, a full disk leaves
    the old one, and a symlink planted at `path` is replaced, never written through."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
