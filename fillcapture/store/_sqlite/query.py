"""The SQLite engine's query role: fills read in order, by stream or page, and account activity.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncGenerator

from fillcapture.store._sqlite.connection import (
    connect,
)
from fillcapture.store._sqlite.errors import store_error
from fillcapture.store._sqlite.plumbing import Plumbing, scalar
from fillcapture.store._sqlite.registry import owners_of
from fillcapture.store._sqlite.rows import (
    from_micros,
    stored_fill,
)
from fillcapture.store._sqlite.selects import page_select, select
from fillcapture.store._sqlite.shared import DISTINCT
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


# An account's activity at a firm: of the days recorded (through the third
# parameter), from activity_days; of later days, from their fills. Each gives
# live fills, their volume, busted fills, first and last live fill time.
_RECORDED_ACTIVITY = (
    "SELECT coalesce(sum(fills), 0), coalesce(sum(volume), 0), coalesce(sum(busted), 0), "
    "min(first_time), max(last_time) FROM activity_days "
    "WHERE account = ? AND firm = ? AND trade_date <= ?"
)


_LIVE_ACTIVITY = (
    "SELECT count(*) FILTER (WHERE busted_at IS NULL), "
    "coalesce(sum(volume) FILTER (WHERE busted_at IS NULL), 0), "
    "count(*) FILTER (WHERE busted_at IS NOT NULL), "
    "min(exchange_time) FILTER (WHERE busted_at IS NULL), "
    "max(exchange_time) FILTER (WHERE busted_at IS NULL) "
    "FROM fills INDEXED BY fills_account_date WHERE account = ? AND firm = ? AND trade_date > ?"
)


class QueryRole(Plumbing):
    """Reads of stored fills; long ones on a connection of their own."""

    async def fill_page(self, query: FillQuery, after: FillPosition | None, limit: int) -> FillPage:
        """Up to ``limit`` matching fills after ``after``, in :meth:`fills` order.

        Read through a connection of its own, like :meth:`fills`: a large page
        does not hold up the short reads that share the store's connection.
        """
        sql, params = page_select(query, after, limit + 1)  # one more: is there a next?
        async with self._own_reader() as reader:
            rows = list(await reader.execute_fetchall(sql, params))
        fills = [stored_fill(row[1:]) for row in rows[:limit]]
        if len(rows) <= limit:
            return FillPage(fills, None)
        return FillPage(fills, FillPosition(fills[-1].exchange_time, rows[limit - 1][0]))

    async def account_activity(self, name: str) -> list[AccountActivity]:
        """Per registry entry of ``name``: the recorded activity of the days
        the summary covers, and the fills of later days. An entry naming its
        firm owns that firm's fills of the account; a firm-less entry those at
        every firm no other entry names (the precedence of :data:`OWNER`)."""
        found: list[AccountActivity] = []
        owners = await owners_of(self, name) or []
        if not owners:
            return found
        async with self._own_reader() as reader:
            coverage = {row[0]: row[1] for row in await reader.execute_fetchall(
                "SELECT firm, through FROM summary_coverage")}
            firms = [row[0] for row in await reader.execute_fetchall(
                DISTINCT.format(column="firm"))]
            for owner in owners:
                claimed = [] if owner.firm else [row[0] for row in await reader.execute_fetchall(
                    "SELECT firm FROM owned_numbers WHERE account = ? AND firm <> ''",
                    (owner.account,))]
                owned = firms_owned(owner.firm, firms, claimed)
                parts: list[sqlite3.Row] = []
                for firm in owned:
                    params = (owner.account, firm, coverage.get(firm, ""))
                    parts.extend(await reader.execute_fetchall(_RECORDED_ACTIVITY, params))
                    parts.extend(await reader.execute_fetchall(_LIVE_ACTIVITY, params))
                firsts = [part[3] for part in parts if part[3] is not None]
                lasts = [part[4] for part in parts if part[4] is not None]
                found.append(AccountActivity(
                    owner.firm, owner.account, sum(part[0] for part in parts),
                    sum(part[1] for part in parts), sum(part[2] for part in parts),
                    from_micros(min(firsts)) if firsts else None,
                    from_micros(max(lasts)) if lasts else None))
        return found

    async def fills(self, query: FillQuery) -> AsyncGenerator[StoredFill, None]:
        """Stream matching fills in (exchange_time, id) order, ``PAGE_ROWS`` at a time.

        Each stream reads through its own read-only connection, so it sees one
        consistent snapshot and never holds up the capture path's connection.
        Close an abandoned stream (``contextlib.aclosing``) to free it early.
        """
        if self._conn is None and not self._dropped:
            raise StoreError(f"{self.path}: store is not open")
        sql, params = select(query)
        reader = await connect(self.path, readonly=True)
        self._readers.add(reader)
        try:
            cursor = await reader.execute(sql, params)
            while rows := await cursor.fetchmany(PAGE_ROWS):
                for row in rows:
                    yield stored_fill(row)
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) from exc
        except ValueError as exc:
            if reader in self._readers:
                raise
            # aiosqlite's complaint when close() shut the reader under us.
            raise StoreError(f"{self.path}: store closed while reading fills") from exc
        finally:
            self._readers.discard(reader)
            await reader.close()  # closes the cursor too; a no-op if already closed

    async def count_fills(self) -> int:
        """How many fills are stored, busted ones included."""
        async with self._reading() as conn:
            return await scalar(conn, "SELECT count(*) FROM fills")
