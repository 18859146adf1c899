"""What a failed store operation means: one line naming the store and the cause,
whether a restart can fix it, and whether a running daemon should wait it out.

Every engine turns its driver's errors into :class:`StoreError` here, so the
command line (exit 2 for permanent causes, else 1) and the daemon (waits out a
full disk or a read-only store, stops on the rest) decide by the same rules.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from fillcapture.store.records import Cause, StoreError

FULL = Cause("disk full: free space on the store's file system", permanent=False, outage=True)
READ_ONLY = Cause("read-only: the store's file system or files refuse writes",
                  permanent=True, outage=True)

# By SQLite's primary result code (extended code & 0xFF).
_SQLITE_FULL = 13
_SQLITE_READONLY = 8
_SQLITE_CANTOPEN = 14
_SQLITE_NOTADB = 26
_SQLITE_CORRUPT = 11
_SQLITE_PERM = 3
_SQLITE_AUTH = 23
_SQLITE_IOERR = 10
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6

_BY_CODE = {
    _SQLITE_FULL: FULL,
    _SQLITE_READONLY: READ_ONLY,
    _SQLITE_NOTADB: Cause("not an SQLite database (wrong file, or damaged beyond reading)",
                          permanent=True),
    _SQLITE_CORRUPT: Cause("database file is malformed: restore it from a backup",
                           permanent=True),
    _SQLITE_PERM: Cause("access denied", permanent=True),
    _SQLITE_AUTH: Cause("access denied", permanent=True),
    _SQLITE_BUSY: Cause("locked by another process for too long", permanent=False),
    _SQLITE_LOCKED: Cause("locked by another process for too long", permanent=False),
}

_BY_ERRNO = {
    errno.ENOSPC: FULL,
    errno.EDQUOT: FULL,
    errno.EROFS: READ_ONLY,
    errno.EACCES: Cause("permission denied", permanent=True, outage=True),
    errno.EPERM: Cause("permission denied", permanent=True, outage=True),
}


def classify(exc: BaseException, path: Path | None = None) -> Cause:
    """The cause of ``exc`` (an sqlite3 or OS error) met on the store at ``path``."""
    if isinstance(exc, StoreError):
        return Cause(str(exc), exc.permanent, exc.outage)
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        primary = code & 0xFF if isinstance(code, int) else None
        if primary in _BY_CODE:
            return _BY_CODE[primary]
        if primary in (_SQLITE_CANTOPEN, _SQLITE_IOERR):
            found = _file_system_cause(path)
            if found is not None:
                return found
            if primary == _SQLITE_CANTOPEN:
                return Cause(f"cannot open the file ({exc})", permanent=True)
        return Cause(str(exc), permanent=False)
    if isinstance(exc, OSError):
        by_errno = _BY_ERRNO.get(exc.errno or 0)
        if by_errno is not None:
            return by_errno
        return Cause(exc.strerror or str(exc), permanent=False)
    return Cause(str(exc), permanent=False)


def store_error(path: Path, exc: BaseException, doing: str | None = None) -> StoreError:
    """A :class:`StoreError` of one line: ``PATH: [DOING: ]CAUSE``, classified."""
    cause = classify(exc, path)
    text = f"{path}: {doing}: {cause.text}" if doing else f"{path}: {cause.text}"
    return StoreError(text, permanent=cause.permanent, outage=cause.outage)


def _file_system_cause(path: Path | None) -> Cause | None:
    """Why SQLite could not open or write files beside ``path``, as far as the
    file system says: read-only, full, or a directory this process cannot write."""
    if path is None:
        return None
    directory = path.parent
    try:
        stats = os.statvfs(directory)
    except OSError:
        return Cause(f"directory {directory} is missing or unreadable", permanent=True)
    if stats.f_flag & os.ST_RDONLY:
        return READ_ONLY
    if stats.f_bavail == 0:
        return FULL
    if not os.access(directory, os.W_OK | os.X_OK):
        return Cause(f"directory {directory} is not writable by this user (SQLite keeps "
                     "its -wal and -shm files there)", permanent=True, outage=True)
    return None
