"""Files the product writes: private (0600), new, never through a symbolic link.

Every export, recording, backup and simulator ledger is written through these
primitives, whatever the process umask:

- :func:`staged` writes a file elsewhere and renames it onto its target when
  the block succeeds. The file being written lives in a directory of its own
  (``NAME.XXXXXXXX.partial/``, 0700) created beside the target, so nothing
  planted beside the target (a ``NAME.partial`` file or link) is ever opened,
  reused or removed, and libraries that open files by name (a store engine, Arrow) can
  be handed the path. A symbolic link at the target itself is refused, before
  the work and again before the rename (which would replace the link, not
  follow it, even if one appeared in between).
- :func:`append_private` opens a file for appending (ledgers), creating it
  0600; it refuses a symbolic link, a file that is not a regular file or one
  owned by another user, and tightens a wider mode of our own file to 0600.
- :func:`keep_private` checks a file we keep using (a store file and its
  journals): never a symbolic link, and not readable by others.
- :func:`private_dirs` creates missing directories 0700.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeFile(OSError):
    """A path the product will not write: a symbolic link, not a regular file, or
    another user's. ``strerror`` says which, ``filename`` names it."""


def refuse_link(path: Path) -> None:
    """Raise :class:`UnsafeFile` if ``path`` is a symbolic link."""
    if path.is_symlink():
        raise UnsafeFile(errno.ELOOP, "is a symbolic link; not followed", str(path))


def private_dirs(path: Path) -> None:
    """Create ``path`` and any missing parents, each 0700; existing ones are left alone."""
    missing: list[Path] = []
    while not path.exists() and not path.is_symlink():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue  # another process made it first
        os.chmod(directory, PRIVATE_DIR)  # the umask may have taken the owner's bits


def create_private(path: Path) -> int:
    """A new file at ``path``, 0600, open for writing; its descriptor.

    ``O_EXCL`` refuses any existing name, a symbolic link included (it is never
    followed): :class:`FileExistsError`.
    """
    fd = os.open(path, _NEW, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)  # a umask of 0o200 or 0o400 would take away our own bits
    return fd


@contextmanager
def staged(target: Path) -> Iterator[Path]:
    """A new empty private file to write, renamed onto ``target`` when the block
    succeeds and removed when it fails: an interrupted write never leaves a
    file that looks complete, nor one anyone else could read or swap.

    The path is in a 0700 directory of this process's own, so opening it by name
    (``open(path, "w")``, a store engine, Arrow) is safe. A symbolic link at ``target`` is
    :class:`UnsafeFile`; an existing regular file there is replaced.
    """
    refuse_link(target)
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.", suffix=".partial",
                                    dir=target.parent))
    try:
        os.chmod(staging, PRIVATE_DIR)
        partial = staging / target.name
        os.close(create_private(partial))
        yield partial
        refuse_link(target)
        os.replace(partial, target)
        _sync_directory(target.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def replacing(target: Path) -> Iterator[BinaryIO]:
    """:func:`staged`, the file open for binary writing, flushed to disk before the rename."""
    with staged(target) as partial:
        fd = os.open(partial, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())


def append_private(path: Path) -> BinaryIO:
    """``path`` open for appending (created 0600 if missing).

    A symbolic link, something other than a regular file, or a file owned by
    another user is :class:`UnsafeFile`; our own file with a wider mode is
    tightened to 0600 first.
    """
    try:
        fd = os.open(path, _APPEND, PRIVATE_FILE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFile(errno.ELOOP, "is a symbolic link; not followed", str(path)) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile(errno.EINVAL, "is not a regular file", str(path))
        if info.st_uid != os.geteuid():
            raise UnsafeFile(errno.EPERM, f"is owned by uid {info.st_uid}, not us", str(path))
        if stat.S_IMODE(info.st_mode) != PRIVATE_FILE:
            os.fchmod(fd, PRIVATE_FILE)
        return os.fdopen(fd, "ab")
    except BaseException:
        os.close(fd)
        raise


def keep_private(path: Path, *, owner: int | None = None) -> None:
    """Make sure the existing file at ``path`` is fit to keep private data in.

    A symbolic link or something other than a regular file is
    :class:`UnsafeFile`. A mode wider than 0600 is tightened to 0600 if the file
    is ``owner``'s (by default this process's user), else :class:`UnsafeFile`:
    another user's file is not ours to change; a chmod that fails (a read-only
    mount) is a plain :class:`OSError`. A missing file is no concern.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeFile(errno.ELOOP, "is a symbolic link; not followed", str(path))
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFile(errno.EINVAL, "is not a regular file", str(path))
    current = stat.S_IMODE(info.st_mode)
    if not current & ~PRIVATE_FILE:
        return
    if info.st_uid != (os.geteuid() if owner is None else owner):
        raise UnsafeFile(errno.EPERM, f"mode {current:04o} lets others read it and it is "
                         f"owned by uid {info.st_uid}, so it cannot be made 0600", str(path))
    try:
        os.chmod(path, PRIVATE_FILE)
    except OSError as exc:  # e.g. a read-only mount: the file's writer may tighten it later
        raise OSError(exc.errno, f"mode {current:04o} lets others read it and it cannot "
                      f"be made 0600 here: {exc.strerror}", str(path)) from None


def _sync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
