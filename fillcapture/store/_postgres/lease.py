"""One daemon per PostgreSQL store and firm instance: a session-level advisory lock.

Two daemons capturing one firm into one store would both log in as the
firm's fill user, and T4 lets only one session of a user live. So the daemon
holds a lease for its (store, instance) while it runs: here
``pg_try_advisory_lock`` on a connection of its own (not the pool's, whose
connections come and go), keyed by ``hashtext(instance)``. The server
releases it when that connection ends, however the process ends, so a stale
lease cannot outlive its holder. The ``leases`` table names the holder (pid,
host, since) for the error the next daemon prints.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import asyncpg

from fillcapture.store._postgres import locks
from fillcapture.store._postgres.errors import ERRORS, store_error
from fillcapture.store.records import StoreError

if TYPE_CHECKING:
    from fillcapture.store._postgres.location import PostgresLocation

_TAKE = "SELECT pg_try_advisory_lock($1, hashtext($2))"
_RECORD = (
    "INSERT INTO leases (instance, pid, host, since) VALUES ($1, $2, $3, now()) "
    "ON CONFLICT (instance) DO UPDATE SET pid = excluded.pid, host = excluded.host, "
    "since = excluded.since"
)
_HOLDER = "SELECT pid, host, since FROM leases WHERE instance = $1"


@asynccontextmanager
async def hold(location: PostgresLocation, where: str, instance: str) -> AsyncIterator[None]:
    """Hold the lease of ``instance`` for the block. Raises a permanent
    :class:`StoreError` naming the holder if another process has it."""
    try:
        conn = await asyncpg.connect(**location.connect_options(readonly=False))
    except ERRORS as exc:
        raise store_error(where, exc, "cannot take the lease") from None
    try:
        try:
            taken = await conn.fetchval(_TAKE, locks.LEASES, instance)
            if not taken:
                raise StoreError(
                    f"{where}: firm instance {instance!r} is already captured into this "
                    f"store by {await _holder(conn, instance)}; stop that daemon first",
                    permanent=True)
            await conn.execute(_RECORD, instance, os.getpid(), socket.gethostname())
        except ERRORS as exc:
            raise store_error(where, exc, "cannot take the lease") from None
        yield
    finally:
        # Closing the session releases the lock; unlocking first frees it
        # at once even if the close is slow.
        with contextlib.suppress(*ERRORS):
            await conn.execute("SELECT pg_advisory_unlock($1, hashtext($2))",
                               locks.LEASES, instance)
        with contextlib.suppress(*ERRORS):
            await conn.close(timeout=5)


async def _holder(conn: asyncpg.Connection, instance: str) -> str:
    """The holder as the ``leases`` row names it."""
    row = await conn.fetchrow(_HOLDER, instance)
    if row is None:
        return "another process (it has not named itself yet)"
    since = row["since"].isoformat(timespec="seconds")
    return f"pid {row['pid']} on host {row['host']} since {since}"
