"""bench/history.py's store on PostgreSQL: built by COPY, as the SQLite one by direct writes.

The rows are bench/history.py's (times in microseconds, trade dates as ISO
text, as the SQLite schema keeps them); :func:`build` converts them to the
PostgreSQL schema's types and copies each trade date's straight into
``fills``, with the secondary indexes dropped during the load and made
again after it (one sort each instead of ten million insertions), then the
busts from the busted fills, then ``ANALYZE``. Building only: the loading
session commits with ``synchronous_commit`` off; the store's own
connections keep it on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from fillcapture.store import open_store
from fillcapture.store._postgres import migrations

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
COLUMNS = ("firm", "account_id", "account", "order_id", "trade_key", "leg_index",
           "exchange_trade_id", "sequence_order", "market_id", "side", "volume", "price",
           "exchange_time", "trade_date", "captured_at", "historical", "busted_at")
"""bench/history.py's row tuples: INSERT_COLUMNS, then busted_at."""

_BUSTS = (
    "INSERT INTO busts (firm, account_id, account, order_id, trade_key, leg_index, "
    "busted_at, captured_at) SELECT firm, account_id, account, order_id, trade_key, "
    "leg_index, busted_at, busted_at + interval '1 millisecond' FROM fills "
    "WHERE busted_at IS NOT NULL"
)
# The secondary indexes of fills: all but the primary key and the identity.
_SECONDARY = (
    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
    "AND tablename = 'fills' AND indexname NOT IN ('fills_pkey', 'fills_identity')"
)


def _moment(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def converted(rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """bench/history.py's rows in the PostgreSQL schema's types."""
    days: dict[str, date] = {}
    out = []
    for row in rows:
        day = days.get(row[13])
        if day is None:
            day = days[row[13]] = date.fromisoformat(row[13])
        out.append((*row[:12], _moment(row[12]), day, _moment(row[14]), bool(row[15]),
                    None if row[16] is None else _moment(row[16])))
    return out


async def build(url: str, users: dict[str, list[str]],
                days: Iterable[Sequence[tuple[Any, ...]]],
                progress: Callable[[int, int], None]) -> None:
    """Make the store at ``url`` (its fills and busts emptied first) and load
    each trade date's rows of ``days``; ``progress(dates, fills)`` after each."""
    async with open_store(url) as store:  # the schema, as the daemon makes it
        for user, numbers in sorted(users.items()):
            if not await store.user_accounts(user):
                await store.add_user(user, numbers)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("TRUNCATE fills, busts, position_days, positions, summary_rows, "
                           "summary_coverage, activity_days")
        indexes = list(await conn.fetch(_SECONDARY))
        for name, _ in indexes:
            await conn.execute(f'DROP INDEX "{name}"')
        written = 0
        for n, rows in enumerate(days, 1):
            await conn.copy_records_to_table("fills", records=converted(rows), columns=COLUMNS)
            written += len(rows)
            progress(n, written)
        for _, definition in indexes:
            await conn.execute(definition)
        await conn.execute(_BUSTS)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def stored_count(url: str) -> int | None:
    """Fills in the store at ``url``, None if it has no schema yet."""
    conn = await asyncpg.connect(url)
    try:
        if await conn.fetchval("SELECT to_regclass('fills')") is None:
            return None
        return int(await conn.fetchval("SELECT count(*) FROM fills"))
    finally:
        await conn.close()


async def describe(url: str) -> tuple[int, float]:
    """The store's schema version and its database's size in GiB."""
    conn = await asyncpg.connect(url)
    try:
        version = await migrations.schema_version(conn) or 0
        size = await conn.fetchval("SELECT pg_database_size(current_database())")
        return version, size / 2**30
    finally:
        await conn.close()


def timed_build(url: str, users: dict[str, list[str]],
                days: Iterable[Sequence[tuple[Any, ...]]],
                progress: Callable[[int, int], None]) -> float:
    """:func:`build`, and the seconds it took."""
    import asyncio

    started = time.perf_counter()
    asyncio.run(build(url, users, days, progress))
    return time.perf_counter() - started
