"""Files Ebbtide writes (pictures, the card, a render's files) appear whole or not at all.

Each is written to a new temporary file beside the target (so the rename stays on one file
system), synced, and renamed over the target. So:
- a full disk, a crash or an error leaves the file that was there as it was, and no
  temporary file behind;
- nothing is written through a symbolic link: the temporary file is made with O_EXCL and
  O_NOFOLLOW, and rename() replaces a name, never what a link at it points to;
- the mode of a file that was there is never changed: it is replaced by a new file (0600
  for private data such as the history's picture, else 0644, less what the umask takes).

A symbolic link at the target is refused, not replaced: it was put there by someone, maybe
another user of a shared folder such as /tmp hoping Ebbtide would write into the file it
points to, and replacing it silently would break whatever the owner meant it for. Saying
so lets the person choose. (Should a link appear between the check and the rename, the
rename replaces the link itself: the file it points to is still never touched.)
"""

from __future__ import annotations

import errno
import io
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from device.core.errors import EbbtideError

PRIVATE_MODE = 0o600
SHARED_MODE = 0o644


class WriteFailed(EbbtideError):
    """A file could not be written; the message is one plain line naming it, and says
    whether the file that was there is kept."""


_REASONS = {
    errno.ENOSPC: "the disk is full: free some space and try again",
    errno.EDQUOT: "the disk quota is used up: free some space and try again",
    errno.EACCES: "permission denied: choose a folder you can write to",
    errno.EPERM: "permission denied: choose a folder you can write to",
    errno.EROFS: "the file system is read-only: choose another folder",
    errno.ENOENT: "the folder does not exist",
    errno.ENOTDIR: "a part of the path is not a folder",
}


def _refusal(path: Path) -> str | None:
    """Why `path` must not be replaced (a link, a folder, a device...), or None."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError:
        return None  # the folder itself is the problem: opening the temporary file says so
    if stat.S_ISLNK(found.st_mode):
        return ("it is a symbolic link, and Ebbtide never writes through one: remove the "
                "link or choose another name")
    if stat.S_ISDIR(found.st_mode):
        return "it is a folder: give a file name"
    if not stat.S_ISREG(found.st_mode):
        return "it is not a regular file (a device or a pipe?): choose another name"
    return None


def _message(path: Path, error: OSError, existed: bool) -> str:
    reason = _REASONS.get(error.errno or 0) or (error.strerror or str(error)).lower()
    kept = "the file that was there is kept" if existed else "nothing was written"
    return f"cannot write {path}: {reason} ({kept})"


def _open_temporary(path: Path, mode: int) -> tuple[int, Path]:
    """A new file beside `path`, made by us alone (O_EXCL) and never through a link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(100):
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(temporary, flags, mode), temporary
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path.parent))


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every file system allows it)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


@contextmanager
def atomic_file(path: Path, *, private: bool = False, text: bool = False) -> Iterator[IO[Any]]:
    """A file object to write `path`'s new content into (binary, or UTF-8 text with no
    newline translation, as the csv module wants); it replaces `path` when the block ends
    without an exception. Raises WriteFailed, with the previous file intact, when `path`
    cannot be replaced or anything goes wrong while writing (a full disk)."""
    path = Path(path)
    refusal = _refusal(path)
    if refusal:
        raise WriteFailed(f"cannot write {path}: {refusal}")
    existed = path.exists()
    try:
        descriptor, temporary = _open_temporary(path, PRIVATE_MODE if private else SHARED_MODE)
    except OSError as error:
        raise WriteFailed(_message(path, error, existed)) from None
    try:
        with os.fdopen(descriptor, "wb") as raw:
            if text:
                wrapped = io.TextIOWrapper(raw, encoding="utf-8", newline="")
                yield wrapped
                wrapped.flush()
                wrapped.detach()  # raw is closed by its own block
            else:
                yield raw
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        with suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise WriteFailed(_message(path, error, existed)) from None
        raise
    _sync_folder(path.parent)


def write_atomically(path: Path, writer: Callable[[IO[bytes]], None], *,
                     private: bool = False) -> None:
    """Call writer(file) to write `path`'s whole new content, then put it in place (see
    atomic_file)."""
    with atomic_file(path, private=private) as file:
        writer(file)
