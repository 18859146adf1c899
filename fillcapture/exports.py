"""Stored fills as files: CSV and Parquet, streamed in constant memory.

(Not to be confused with ``prometheus.py``, the Prometheus endpoint.)

Both formats have the columns of ``fillcapture fills``. Fills go from
``Store.fills()`` (a page of rows at a time) straight to the file, so an export
of years of fills holds no more than a Parquet row group. pyarrow is imported
only by :func:`write_parquet`: the daemon's process imports this module's
command line and must not carry Arrow's libraries.
"""

from __future__ import annotations

import csv
from collections.abc import AsyncIterable, AsyncIterator, Callable
from pathlib import Path
from typing import Any, TextIO

from fillcapture.fillshape import COLUMN_NAMES, COLUMNS, reader, text_row
from fillcapture.store import StoredFill

FILL_COLUMNS = COLUMN_NAMES
"""The columns, as :data:`fillcapture.fillshape.COLUMNS` declares them."""

ROW_GROUP_ROWS = 65_536
"""Fills per Parquet row group: what a Parquet export holds in memory, as Arrow arrays."""

BATCH_ROWS = 8_192
"""Fills converted to Arrow at a time: what it holds as Python objects."""

PROGRESS_EVERY = 1_000
"""Fills between two progress reports."""

PRICE_PRECISION, PRICE_SCALE = 38, 18
"""Parquet price type, ``decimal128(38, 18)``: T4 prices have at most 18 digits
before the point and 18 after (the adapter refuses any other), so every one
fits exactly; Arrow refuses a value that would not rather than round it."""


def fill_row(fill: StoredFill) -> dict[str, Any]:
    """``fill`` as the text-ready row of ``fillcapture fills`` (CSV, JSON, table)."""
    return text_row(fill)


def cell_text(value: Any) -> str:
    """A value as a CSV or table cell: booleans as ``true``/``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def counted(fills: AsyncIterable[StoredFill],
                  advance: Callable[[int], None]) -> AsyncIterator[StoredFill]:
    """``fills``, calling ``advance(n)`` after every :data:`PROGRESS_EVERY` and at the end."""
    pending = 0
    async for fill in fills:
        yield fill
        pending += 1
        if pending == PROGRESS_EVERY:
            advance(pending)
            pending = 0
    advance(pending)


async def write_csv(fills: AsyncIterable[StoredFill], out: TextIO) -> int:
    """Write ``fills`` as CSV with a header row; return how many. Prices are T4's text."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FILL_COLUMNS)
    written = 0
    async for fill in fills:
        writer.writerow([cell_text(value) for value in fill_row(fill).values()])
        written += 1
    return written


async def write_parquet(fills: AsyncIterable[StoredFill], path: Path) -> int:
    """Write ``fills`` to a Parquet file at ``path``; return how many.

    Types: prices ``decimal128(38, 18)`` (exact), ``exchange_time``
    ``timestamp[us, UTC]``, ``trade_date`` ``date32``, ``busted`` boolean;
    ``user``, ``leg_index`` and ``side`` are null where unknown (no owner, an
    outright fill, an order never seen).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    # The C allocator's pool, not Arrow's default (jemalloc), which keeps
    # freed row groups' memory: 152 MB peak instead of 190 MB for 584,000 fills.
    pa.set_memory_pool(pa.system_memory_pool())
    types = {
        "string": pa.string(), "int32": pa.int32(), "int64": pa.int64(), "bool": pa.bool_(),
        "decimal": pa.decimal128(PRICE_PRECISION, PRICE_SCALE),
        "timestamp": pa.timestamp("us", tz="UTC"), "date32": pa.date32(),
    }
    schema = pa.schema([
        pa.field(f.name, types[f.column.arrow], nullable=f.column.nullable)
        for f in COLUMNS if f.column is not None
    ])

    readers = [reader(column) for column in COLUMNS]

    def batch(rows: list[StoredFill]) -> Any:
        arrays = []
        for read, field in zip(readers, schema, strict=True):
            values = [read(fill) for fill in rows]
            if pa.types.is_decimal(field.type):  # T4's text straight to decimal128, never a float
                arrays.append(pa.array(values, type=pa.string()).cast(field.type))
            else:
                arrays.append(pa.array(values, type=field.type))
        return pa.record_batch(arrays, schema=schema)

    written = 0
    with pq.ParquetWriter(path, schema) as writer:
        group: list[Any] = []  # Arrow batches of the row group being filled
        grouped = 0
        async for rows in _chunks(fills, BATCH_ROWS):
            group.append(batch(rows))
            grouped += len(rows)
            written += len(rows)
            if grouped >= ROW_GROUP_ROWS:
                writer.write_table(pa.Table.from_batches(group, schema=schema))
                group, grouped = [], 0
        if group:
            writer.write_table(pa.Table.from_batches(group, schema=schema))
    return written


async def _chunks(fills: AsyncIterable[StoredFill], size: int) -> AsyncIterator[list[StoredFill]]:
    chunk: list[StoredFill] = []
    async for fill in fills:
        chunk.append(fill)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
