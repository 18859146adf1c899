"""The PostgreSQL engine's query role: fills read in order, by stream or page,
and account activity.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from datetime import date
from typing import Any

from fillcapture.store._postgres.errors import ERRORS, store_error
from fillcapture.store._postgres.plumbing import Plumbing
from fillcapture.store._postgres.registry import owners_of
from fillcapture.store._postgres.rows import stored_fill
from fillcapture.store._postgres.selects import page_select, select
from fillcapture.store._postgres.shared import DISTINCT
from fillcapture.store.records import (
    AccountActivity,
    FillPage,
    FillPosition,
    FillQuery,
    StoredFill,
    StoreError,
)
from fillcapture.store.rules import firms_owned

PAGE_ROWS = 500
"""Rows fetched per round trip by ``fills()``: what it holds in memory at most."""

# An account's activity at a firm: of the days recorded (through $3), from
# activity_days; of later days, from their fills. Each gives live fills,
# their volume, busted fills, first and last live fill time (sums cast back
# to bigint: sum() of a bigint is a numeric).
_RECORDED_ACTIVITY = (
    "SELECT coalesce(sum(fills), 0)::bigint, coalesce(sum(volume), 0)::bigint, "
    "coalesce(sum(busted), 0)::bigint, "
    "min(first_time), max(last_time) FROM activity_days "
    "WHERE account = $1 AND firm = $2 AND trade_date <= $3"
)
_LIVE_ACTIVITY = (
    "SELECT count(*) FILTER (WHERE busted_at IS NULL), "
    "coalesce(sum(volume) FILTER (WHERE busted_at IS NULL), 0)::bigint, "
    "count(*) FILTER (WHERE busted_at IS NOT NULL), "
    "min(exchange_time) FILTER (WHERE busted_at IS NULL), "
    "max(exchange_time) FILTER (WHERE busted_at IS NULL) "
    "FROM fills WHERE account = $1 AND firm = $2 AND trade_date > $3"
)


class QueryRole(Plumbing):
    """Reads of stored fills; a stream holds a connection of its own while it runs."""

    async def fill_page(self, query: FillQuery, after: FillPosition | None, limit: int) -> FillPage:
        """Up to ``limit`` matching fills after ``after``, in :meth:`fills` order."""
        sql, args = page_select(query, after, limit + 1)  # one more: is there a next?
        rows = await self._all(sql, *args)
        fills = [stored_fill(row[1:]) for row in rows[:limit]]
        if len(rows) <= limit:
            return FillPage(fills, None)
        return FillPage(fills, FillPosition(fills[-1].exchange_time, rows[limit - 1][0]))

    async def account_activity(self, name: str) -> list[AccountActivity]:
        """Per registry entry of ``name``: the recorded activity of the days
        the summary covers, and the fills of later days (the ownership of
        :func:`fillcapture.store.rules.firms_owned`)."""
        found: list[AccountActivity] = []
        async with self.snapshot() as conn:
            owners = await owners_of(conn, name)
            if not owners:
                return found
            coverage = {row[0]: row[1] for row in await conn.fetch(
                "SELECT firm, through FROM summary_coverage")}
            firms = [row[0] for row in await conn.fetch(DISTINCT.format(column="firm"))]
            for owner in owners:
                claimed = [] if owner.firm else [row[0] for row in await conn.fetch(
                    "SELECT firm FROM owned_numbers WHERE account = $1 AND firm <> ''",
                    owner.account)]
                parts: list[Any] = []
                for firm in firms_owned(owner.firm, firms, claimed):
                    through = coverage.get(firm, date.min)
                    parts.append(await conn.fetchrow(_RECORDED_ACTIVITY, owner.account, firm,
                                                     through))
                    parts.append(await conn.fetchrow(_LIVE_ACTIVITY, owner.account, firm,
                                                     through))
                firsts = [part[3] for part in parts if part[3] is not None]
                lasts = [part[4] for part in parts if part[4] is not None]
                found.append(AccountActivity(
                    owner.firm, owner.account, sum(part[0] for part in parts),
                    sum(part[1] for part in parts), sum(part[2] for part in parts),
                    min(firsts) if firsts else None, max(lasts) if lasts else None))
        return found

    async def fills(self, query: FillQuery) -> AsyncGenerator[StoredFill, None]:
        """Stream matching fills in (exchange_time, id) order, ``PAGE_ROWS`` at
        a time, from one consistent snapshot: a read-only transaction on a
        connection of the pool, held while the stream runs (and cut by
        :meth:`close`). Close an abandoned stream (``contextlib.aclosing``)
        to free it early."""
        sql, args = select(query)
        pool = self._open_pool()
        try:
            conn = await pool.acquire()
        except ERRORS as exc:
            raise store_error(self.where, exc) from exc
        self._readers.add(conn)
        try:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                async for row in conn.cursor(sql, *args, prefetch=PAGE_ROWS):
                    yield stored_fill(row)
        except ERRORS as exc:
            if conn not in self._readers:
                raise StoreError(f"{self.where}: store closed while reading fills") from exc
            raise store_error(self.where, exc) from exc
        finally:
            if conn in self._readers:
                self._readers.discard(conn)
                with contextlib.suppress(*ERRORS):
                    await pool.release(conn)

    async def count_fills(self) -> int:
        """How many fills are stored, busted ones included."""
        return int(await self._value("SELECT count(*) FROM fills"))
