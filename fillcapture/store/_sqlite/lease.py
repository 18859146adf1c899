"""One daemon per SQLite store and firm: an exclusive lock file beside the store.

Two daemons capturing one firm into one store would both log in as the
firm's fill user, and T4 lets only one session of a user live. So the daemon
holds a lease for its (store, instance) while it runs. Here that is
``flock(LOCK_EX)`` on ``<store>.<instance>.lease``: the kernel releases it
when the process ends, however it ends (SIGKILL too), so a stale lease cannot
outlive its holder. The file says who holds it (pid, host, since) for the
error the next daemon prints. It is created 0600 and never through a symlink.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import os
import socket
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from fillcapture.store._sqlite.errors import store_error
from fillcapture.store.lease import LeaseHeld, Waiting
from fillcapture.store.records import StoreError

_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC
POLL_SECONDS = 0.2
"""How often a standby tries the lock (flock cannot be waited for without a thread)."""


def lease_path(store: Path, instance: str) -> Path:
    """The lock file of ``instance`` on the store at ``store``."""
    return store.with_name(f"{store.name}.{quote(instance, safe='')}.lease")


@asynccontextmanager
async def hold(store: Path, instance: str, waiting: Waiting | None = None
               ) -> AsyncIterator[LeaseHeld]:
    """Hold the lease of ``instance`` on ``store`` for the block. If another
    process has it: a permanent :class:`StoreError` naming the holder, or,
    with ``waiting``, wait for it (told each holder). A lock the kernel holds
    for the living process is never lost."""
    path = lease_path(store, instance)
    fd = _open(store, path)
    try:
        waited = await _lock(fd, store, path, instance, waiting)
        _write_holder(store, path)
        yield LeaseHeld(instance, waited=waited)
    finally:
        os.close(fd)  # releases the lock


async def _lock(fd: int, store: Path, path: Path, instance: str,
                waiting: Waiting | None) -> bool:
    """Take the lock on ``fd``; whether it had to wait for another holder."""
    told: str | None = None
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(path)
            if waiting is None:
                raise StoreError(
                    f"{store}: firm instance {instance!r} is already captured into this store "
                    f"by {holder} (lease {path}); stop that daemon first",
                    permanent=True) from None
            if holder != told:
                waiting(holder)
                told = holder
            await asyncio.sleep(POLL_SECONDS)
            continue
        return told is not None


def _open(store: Path, path: Path) -> int:
    """The lease file, opened read-only (a writable descriptor held open
    would keep its file system from being remounted read-only)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | _FLAGS, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symlink in its place
            raise StoreError(f"{store}: lease {path} is a symlink; remove it",
                             permanent=True) from None
        raise store_error(store, exc, f"cannot open the lease {path}") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise StoreError(f"{store}: lease {path} is not a regular file", permanent=True)
    return fd


def _write_holder(store: Path, path: Path) -> None:
    """Say who holds the lease; written only by the holder, under the lock."""
    holder = {"pid": os.getpid(), "host": socket.gethostname(),
              "since": datetime.now(UTC).isoformat(timespec="seconds")}
    try:
        fd = os.open(path, os.O_WRONLY | _FLAGS)
        try:
            os.ftruncate(fd, 0)
            os.write(fd, (json.dumps(holder) + "\n").encode())
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
    except OSError as exc:
        raise store_error(store, exc, f"cannot write the lease {path}") from exc


def _holder(path: Path) -> str:
    """The holder as its lease file names it."""
    with contextlib.suppress(OSError, ValueError):
        fd = os.open(path, os.O_RDONLY | _FLAGS)
        try:
            found = json.loads(os.read(fd, 4096).decode())
        finally:
            os.close(fd)
        return f"pid {int(found['pid'])} on host {found['host']} since {found['since']}"
    return "another process (its lease file names no holder yet)"
