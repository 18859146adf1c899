"""PostgreSQL capture benchmark: fills/s of ``capture()`` for a batch size and insert method.

Each run creates a fresh database on the server ``--url`` names (its user
must be allowed to create databases), captures ``--batches`` writer batches
of ``--size`` new fills each (random order ids, as T4's GUIDs), then the
same batches again (all duplicates), and prints fills/s of both, then the
server's own ceilings (:func:`server_insert_rate`): into the fills table,
and into the table with the fill identity's index alone. ``--method``:

- ``copy``: the engine's way, COPY into a staging table, then one
  ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``;
- ``executemany``: one prepared ``INSERT ... ON CONFLICT DO NOTHING``
  sent for every row in one pipelined ``executemany``.

    .venv/bin/python bench/pg_capture.py --url postgresql://fc@127.0.0.1:5432/postgres \\
        [--size 1000] [--batches 20] [--method copy]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from fillcapture.model import Fill, Side
from fillcapture.store import CaptureBatch, open_store
from fillcapture.store._postgres import writes
from fillcapture.store._postgres.rows import INSERT_COLUMNS, fill_rows, is_spread_part

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)

_EXECUTEMANY = (
    f"INSERT INTO fills ({', '.join(INSERT_COLUMNS)}) "  # noqa: S608 - constant names
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(INSERT_COLUMNS) + 1))}) "
    "ON CONFLICT (firm, order_id, trade_key, leg_index) DO NOTHING"
)


async def insert_by_executemany(conn: asyncpg.Connection, fills: Sequence[Fill],
                                captured_at: datetime) -> int:
    """The alternative measured: executemany, new rows counted as those
    past the newest id before it (executemany reports no count; under the
    outbox lock no other writer's id is among them)."""
    assert not any(is_spread_part(fill) for fill in fills)
    before = await conn.fetchval("SELECT coalesce(max(id), 0) FROM fills")
    await conn.executemany(_EXECUTEMANY, fill_rows(fills, captured_at))
    return int(await conn.fetchval("SELECT count(*) FROM fills WHERE id > $1", before))


def batch(size: int, start: int) -> list[Fill]:
    return [
        Fill(firm="BENCH", account_id=f"acc-{n % 200}", account=f"{10000 + n % 200}",
             order_id=str(uuid.uuid4()), exchange_trade_id=f"T{start + n}", sequence_order=1,
             leg_index=None, market_id="XCME_Eq ES (Z26)", side=Side.BUY, volume=1,
             price=Decimal("6012.25"), price_text="6012.25",
             exchange_time=T0 + timedelta(microseconds=start + n), trade_date=date(2026, 3, 2))
        for n in range(size)
    ]


@asynccontextmanager
async def fresh_database(url: str) -> AsyncIterator[str]:
    """A new empty database on the server ``url`` names (its user must be
    allowed to create databases), its URL; dropped when the block ends."""
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        yield urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


async def capture_rates(url: str, size: int, batches: int) -> tuple[float, float]:
    """fills/s of ``capture()`` in a fresh database: ``batches`` batches of
    ``size`` new fills, then the same again (all duplicates)."""
    work = [batch(size, i * size) for i in range(batches)]
    rates = []
    async with fresh_database(url) as target, open_store(target) as store:
        for _ in range(2):
            started = time.perf_counter()
            for fills in work:
                await store.capture(CaptureBatch(fills=fills))
            rates.append(size * batches / (time.perf_counter() - started))
    return rates[0], rates[1]


# The same statement the engine's capture ends in (ON CONFLICT on the fill
# identity, into the migrated fills table), fed by rows the server makes up
# itself: random GUID order ids, 200 accounts, one trade date.
_SERVER_ROWS = (
    f"INSERT INTO fills ({', '.join(INSERT_COLUMNS)}) "  # noqa: S608 - constant names
    "SELECT 'BENCH', 'acc-' || (g % 200), (10000 + g % 200)::text, gen_random_uuid()::text, "
    "'T' || g, -1, 'T' || g, 1, 'XCME_Eq ES (Z26)', 'BUY', 1, '6012.25', "
    "$2::timestamptz + g * interval '1 microsecond', $2::timestamptz::date, now(), false "
    "FROM generate_series($1::bigint, $1::bigint + $3::bigint - 1) g "
    "ON CONFLICT (firm, order_id, trade_key, leg_index) DO NOTHING"
)


# The fills table with none of its indexes but the identity's (the store's
# idempotence): what any design that keeps it could reach at best.
_IDENTITY_ONLY = (
    "ALTER TABLE fills DROP CONSTRAINT fills_pkey",
    "DROP INDEX fills_account_date", "DROP INDEX fills_account_time",
    "DROP INDEX fills_leg_pending", "DROP INDEX fills_sideless",
)


async def server_insert_rate(url: str, size: int, batches: int, *,
                             identity_only: bool = False) -> float:
    """rows/s the server inserts into a fresh store's fills table with no
    client at all: ``batches`` statements of ``size`` rows, each its own
    transaction. No path from T4 to this table can beat it. ``identity_only``:
    into the table stripped of every index but the fill identity's."""
    async with fresh_database(url) as target:
        async with open_store(target):
            pass  # migrated
        conn = await asyncpg.connect(target)
        try:
            if identity_only:
                await conn.execute("DROP TRIGGER outbox_fills_floor ON fills")
                for statement in _IDENTITY_ONLY:
                    await conn.execute(statement)
            started = time.perf_counter()
            for n in range(batches):
                await conn.execute(_SERVER_ROWS, n * size, T0, size)
            return size * batches / (time.perf_counter() - started)
        finally:
            await conn.close()


async def run(url: str, size: int, batches: int, method: str) -> None:
    if method == "executemany":
        writes.insert = insert_by_executemany  # type: ignore[assignment]
    new, duplicate = await capture_rates(url, size, batches)
    for label, rate in (("new", new), ("duplicate", duplicate)):
        print(f"{method:12} size {size:6} {label:9} {rate:10,.0f} fills/s")
    server = await server_insert_rate(url, size, batches)
    print(f"{'server alone':12} size {size:6} {'new':9} {server:10,.0f} rows/s")
    identity = await server_insert_rate(url, size, batches, identity_only=True)
    print(f"{'identity only':12} size {size:6} {'new':9} {identity:10,.0f} rows/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--method", choices=("copy", "executemany"), default="copy")
    args = parser.parse_args()
    asyncio.run(run(args.url, args.size, args.batches, args.method))


if __name__ == "__main__":
    main()
