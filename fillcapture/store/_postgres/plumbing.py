"""The PostgreSQL engine's plumbing: an asyncpg pool and how the roles use it.

Every role class of the engine builds on :class:`Plumbing`; nothing here
knows a table. The pool opens in ``__aenter__`` (the schema migrated, or
checked if read-only) and closes in :meth:`Plumbing.close`. A read-only store
runs every transaction ``READ ONLY`` (``default_transaction_read_only`` set
on each connection), so the server itself refuses its writes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import Any, Self, TypeAlias

import asyncpg

from fillcapture.store._postgres import lease, migrations, writes
from fillcapture.store._postgres.errors import ERRORS, store_error
from fillcapture.store._postgres.server import Server
from fillcapture.store.lease import LeaseHeld, Waiting
from fillcapture.store.records import StoreError

POOL_SIZE = 4
"""Connections at most: the writer, and short or streaming reads beside it."""

CLOSE_TIMEOUT = 5.0
"""Seconds :meth:`Plumbing.close` waits for borrowed connections before cutting them."""

Conn: TypeAlias = asyncpg.Connection
Record: TypeAlias = asyncpg.Record


async def _released(conn: Conn) -> None:
    """What a connection needs on its way back to the pool: nothing more.
    asyncpg rolls back a transaction left open before calling this, and the
    engine leaves no other session state on pool connections (no session
    ``SET``, ``LISTEN``, session-level lock or cursor outside a transaction),
    so the default reset query would be one more round trip per operation."""


class Plumbing:
    """A store in one PostgreSQL database: the pool and how the roles use it.

    ``readonly``: the schema must be current (it is checked, never migrated),
    and every write raises :class:`StoreError`. Safe to share between tasks:
    each operation borrows a connection of the pool.
    """

    def __init__(self, location: Server, *, readonly: bool = False) -> None:
        self.location = location
        self.readonly = readonly
        self.where = location.describe()
        self._pool: asyncpg.Pool | None = None
        # Connections of the pool that fills() streams hold.
        self._readers: set[Conn] = set()
        # The leases held through this store: each capture checks them.
        self._fences: list[lease.Fence] = []

    def __repr__(self) -> str:
        mode = "ro" if self.readonly else "rw"
        return f"<PostgresStore {self.where} {mode}{'' if self._pool else ' closed'}>"

    async def __aenter__(self) -> Self:
        if self._pool is not None:
            return self
        try:
            pool = await asyncpg.create_pool(
                min_size=1, max_size=POOL_SIZE, init=None if self.readonly else writes.stage,
                reset=_released,
                **self.location.connect_options(readonly=self.readonly))
        except ERRORS as exc:
            raise store_error(self.where, exc, "cannot connect") from None
        try:
            async with pool.acquire() as conn:
                if self.readonly:
                    await migrations.require_current(conn, self.where)
                else:
                    await migrations.migrate(conn, self.where)
        except BaseException as exc:
            pool.terminate()
            if isinstance(exc, ERRORS):
                raise store_error(self.where, exc, "cannot prepare the schema") from None
            raise
        self._pool = pool
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the pool: ``fills()`` streams still open are cut at once,
        other borrowed connections after :data:`CLOSE_TIMEOUT`; idempotent."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        readers = list(self._readers)
        self._readers.clear()
        if readers:
            pool.terminate()
            return
        try:
            await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT)
        except ERRORS:
            pool.terminate()

    def lease(self, instance: str, *, waiting: Waiting | None = None,
              check_seconds: float = 1.0) -> AbstractAsyncContextManager[LeaseHeld]:
        """The lease of ``instance``: an advisory lock on a connection of its
        own, checked every ``check_seconds`` and fencing every capture."""
        return self._leased(instance, waiting, check_seconds)

    @asynccontextmanager
    async def _leased(self, instance: str, waiting: Waiting | None,
                      check_seconds: float) -> AsyncIterator[LeaseHeld]:
        """The lease; once lost, the pool's connections are replaced at their
        next use (whatever ended the lease's connection, a killed session or a
        restarted server, has likely ended theirs)."""
        async with lease.hold(self.location, self.where, instance, self._fences, waiting,
                              check_seconds) as held:
            try:
                yield held
            finally:
                if held.lost.is_set() and self._pool is not None:
                    await self._pool.expire_connections()

    def _open_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError(f"{self.where}: store is not open")
        return self._pool

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Conn]:
        """A connection of the pool for a short read, errors as StoreError."""
        pool = self._open_pool()
        try:
            async with pool.acquire() as conn:
                yield conn
        except ERRORS as exc:
            raise store_error(self.where, exc) from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        """One write transaction: committed when the block ends, rolled back
        if it raises."""
        self._check_writable()
        async with self.reading() as conn, conn.transaction():
            yield conn

    @asynccontextmanager
    async def transaction_with(self, begin: str) -> AsyncIterator[Conn]:
        """As :meth:`transaction`, begun by ``begin``: ``BEGIN`` and the
        statements (without parameters) to run first, in one round trip."""
        self._check_writable()
        async with self.reading() as conn:
            await conn.execute(begin)
            try:
                yield conn
            except BaseException:
                if not conn.is_closed():
                    with contextlib.suppress(Exception):  # the pool rolls back then
                        await conn.execute("ROLLBACK")
                raise
            try:
                await conn.execute("COMMIT")
            except BaseException:
                # Its state is unknown now: the pool makes a fresh connection.
                conn.terminate()
                raise

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Conn]:
        """A read-only transaction seeing one snapshot for several reads."""
        async with self.reading() as conn, conn.transaction(
                isolation="repeatable_read", readonly=True):
            yield conn

    def _check_writable(self) -> None:
        if self.readonly:
            raise StoreError(f"{self.where}: store is open read-only")

    async def _all(self, sql: str, *args: Any) -> list[Record]:
        async with self.reading() as conn:
            return list(await conn.fetch(sql, *args))

    async def _value(self, sql: str, *args: Any) -> Any:
        async with self.reading() as conn:
            return await conn.fetchval(sql, *args)
