"""One daemon per PostgreSQL store and firm instance: a session-level advisory lock.

Two daemons capturing one firm into one store would both log in as the
firm's fill user, and T4 lets only one session of a user live. So the daemon
holds a lease for its (store, instance) while it runs: here
``pg_try_advisory_lock`` on a connection of its own (not the pool's, whose
connections come and go), keyed by ``hashtext(instance)``. The server
releases it when that connection ends, however the process ends, so a stale
lease cannot outlive its holder. The ``leases`` table names the holder (pid,
host, since) for the error the next daemon prints, and for a standby.

A standby polls for the lock every :data:`POLL_SECONDS`. Unlike a file lock,
this one can be lost while its holder lives: the connection killed
(``pg_terminate_backend``), the server restarted, a network partition. So
the holder asks the server every ``check_seconds`` whether its connection
still holds the lock, a check that takes longer than that counting as a
loss, and a closed connection sets :attr:`LeaseHeld.lost` at once. Writes are
fenced as well: every capture transaction confirms, inside itself, that the
lease's connection still holds the lock (:func:`fence`), so a holder that
lost it commits nothing more, even before its own check notices.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
import structlog

from fillcapture.store._postgres import locks
from fillcapture.store._postgres.errors import ERRORS, store_error
from fillcapture.store._postgres.server import Server
from fillcapture.store.lease import LeaseHeld, Waiting
from fillcapture.store.records import StoreError

log = structlog.get_logger(__name__)

POLL_SECONDS = 0.2
"""How often a standby tries the lock."""

_TAKE = "SELECT pg_try_advisory_lock($1, hashtext($2))"
_RECORD = (
    "INSERT INTO leases (instance, pid, host, since) VALUES ($1, $2, $3, now()) "
    "ON CONFLICT (instance) DO UPDATE SET pid = excluded.pid, host = excluded.host, "
    "since = excluded.since"
)
_HOLDER = "SELECT pid, host, since FROM leases WHERE instance = $1"
# Whether backend $1 holds the two-key advisory lock ($2, hashtext($3)):
# pg_locks shows it as classid, objid with objsubid 2.
_HELD = (
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = $1 "
    "AND classid = $2::bigint::oid AND objid = (hashtext($3)::bigint & 4294967295)::oid "
    "AND objsubid = 2 AND granted)"
)


@dataclass(frozen=True, slots=True)
class Fence:
    """What a capture transaction checks: the lease's backend holds the lock."""

    backend: int
    instance: str
    held: LeaseHeld


async def fence(conn: asyncpg.Connection, where: str, fences: list[Fence]) -> None:
    """Inside a write transaction: a permanent :class:`StoreError` (and the
    lease marked lost) unless each held lease's connection still holds it."""
    for each in fences:
        if not await conn.fetchval(_HELD, each.backend, locks.LEASES, each.instance):
            each.held.lost.set()
            raise StoreError(f"{where}: the lease of firm instance {each.instance!r} was "
                             "lost; nothing more is committed for it", permanent=True)


@asynccontextmanager
async def hold(location: Server, where: str, instance: str,
               fences: list[Fence], waiting: Waiting | None = None,
               check_seconds: float = 1.0) -> AsyncIterator[LeaseHeld]:
    """Hold the lease of ``instance`` for the block (see the module). Without
    ``waiting``, a permanent :class:`StoreError` naming the holder if another
    process has it; with it, wait. While held, its fence is in ``fences``."""
    try:
        conn = await asyncpg.connect(**location.connect_options(readonly=False))
    except ERRORS as exc:
        raise store_error(where, exc, "cannot take the lease") from None
    watch: asyncio.Task[None] | None = None
    entry: Fence | None = None
    try:
        try:
            waited = await _take(conn, where, instance, waiting)
            await conn.execute(_RECORD, instance, os.getpid(), socket.gethostname())
        except ERRORS as exc:
            raise store_error(where, exc, "cannot take the lease") from None
        held = LeaseHeld(instance, waited=waited)
        conn.add_termination_listener(lambda _: held.lost.set())
        entry = Fence(conn.get_server_pid(), instance, held)
        fences.append(entry)
        watch = asyncio.create_task(_watch(conn, held, check_seconds), name="lease-check")
        yield held
    finally:
        if entry is not None:
            fences.remove(entry)
        if watch is not None:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
        # Closing the session releases the lock; unlocking first frees it
        # at once even if the close is slow.
        if not conn.is_closed():
            with contextlib.suppress(*ERRORS, TimeoutError):
                async with asyncio.timeout(check_seconds):
                    await conn.execute("SELECT pg_advisory_unlock($1, hashtext($2))",
                                       locks.LEASES, instance)
        with contextlib.suppress(*ERRORS):
            await conn.close(timeout=5)


async def _take(conn: asyncpg.Connection, where: str, instance: str,
                waiting: Waiting | None) -> bool:
    """Take the lock; whether another held it first (then ``waiting`` was told)."""
    told: str | None = None
    while not await conn.fetchval(_TAKE, locks.LEASES, instance):
        holder = await _holder(conn, instance)
        if waiting is None:
            raise StoreError(
                f"{where}: firm instance {instance!r} is already captured into this "
                f"store by {holder}; stop that daemon first", permanent=True)
        if holder != told:
            waiting(holder)
            told = holder
        await asyncio.sleep(POLL_SECONDS)
    return told is not None


async def _watch(conn: asyncpg.Connection, held: LeaseHeld, seconds: float) -> None:
    """Every ``seconds``, ask whether the connection still holds the lock;
    no answer within ``seconds`` counts as no."""
    while not held.lost.is_set():
        await asyncio.sleep(seconds)
        try:
            async with asyncio.timeout(seconds):
                still = await conn.fetchval(_HELD, conn.get_server_pid(), locks.LEASES,
                                            held.instance)
        except (*ERRORS, TimeoutError) as exc:
            log.error("lease.check_failed", instance=held.instance, error=str(exc) or
                      type(exc).__name__)
            still = False
        if not still:
            held.lost.set()
    # The connection may hang (a partition): drop it rather than wait on it.
    conn.terminate()


async def _holder(conn: asyncpg.Connection, instance: str) -> str:
    """The holder as the ``leases`` row names it."""
    row = await conn.fetchrow(_HOLDER, instance)
    if row is None:
        return "another process (it has not named itself yet)"
    since = row["since"].isoformat(timespec="seconds")
    return f"pid {row['pid']} on host {row['host']} since {since}"
