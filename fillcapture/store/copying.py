"""Copying a whole store into another, of either engine, and proving it equal.

One pass (:func:`copy_store`) walks every table of
:data:`fillcapture.store.tables.TABLES` in dependency order, reading the
source and the destination side by side in key order, ``batch`` rows at a
time: a source row the destination lacks is written, one it holds
otherwise (a fill busted or given its side since the last pass) is written
over, and a destination row the source no longer has (a user removed,
positions recomputed, fills past retention) is removed. So a pass run
again, after an interruption or while a daemon kept capturing into the
source, writes only what is missing or changed and ends with the source's
tables as they were when each was read; rows the daemon commits to a table
after the pass read it are copied by the next pass. So is a row whose parent
(:attr:`~fillcapture.store.tables.Table.parent`: a user's account, its user)
the destination lacks, as its parent came after the pass copied the parent's
table: it is *deferred*, never written without it.

Before writing anything, the destination must be empty or an earlier copy of
this source: the last row of each table with a record identity (fills,
busts, quarantine) must be the source's row of that key; else
:class:`ForeignDestination` (nothing written).

:func:`verify` then reads both stores' tables whole again, independently of
the copy, and compares their row counts and digests
(:class:`fillcapture.store.tables.Digest`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from fillcapture.store.records import StoreError
from fillcapture.store.roles import Tables
from fillcapture.store.tables import BY_NAME, TABLES, Digest, Key, Row, Table

BATCH = 5000
"""Rows read, and written, per statement by default."""


class ForeignDestination(StoreError):
    """The destination holds another store's rows: copying would mix two stores."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class Progress(Protocol):
    """Who is told how a pass goes: per table, its rows and then what was done."""

    def table(self, table: Table, total: int) -> Callable[[int], None]:
        """``table``'s walk begins over ``total`` source rows; returns what is
        called with the number of source rows walked since."""
        ...

    def done(self, table: Table, result: TableCopy) -> None: ...


@dataclass(frozen=True)
class TableCopy:
    """What one pass did to a table of the destination."""

    name: str
    rows: int
    written: int
    removed: int
    deferred: int = 0


@dataclass(frozen=True)
class TableCheck:
    """One table compared: each store's row count and digest."""

    name: str
    source_rows: int
    destination_rows: int
    source_digest: str
    destination_digest: str

    @property
    def equal(self) -> bool:
        return (self.source_rows == self.destination_rows
                and self.source_digest == self.destination_digest)


async def check_destination(source: Tables, destination: Tables, where: str) -> None:
    """:class:`ForeignDestination` unless ``destination`` (named ``where`` in
    the message) is empty or an earlier copy of ``source``."""
    for table in TABLES:
        if not table.identity:
            continue
        last = await destination.last_row(table)
        if last is None:
            continue
        key = table.key_of(last)
        mine = await source.find_row(table, key)
        if mine is None or table.identity_of(mine) != table.identity_of(last):
            raise ForeignDestination(
                f"{where} holds another store's {table.name} (its row {_shown(key)} is not "
                "the source's): copy into an empty store, or into an earlier copy of this one")


def _shown(key: Key) -> str:
    return ", ".join(str(value) for value in key)


class _Pages:
    """A table's rows of one store in key order, read ``batch`` at a time:
    ``rows[at:]`` are those read and not yet walked."""

    def __init__(self, store: Tables, table: Table, batch: int) -> None:
        self.store, self.table, self.batch = store, table, batch
        self.rows: list[Row] = []
        self.at = 0
        self.after: Key | None = None
        self.ended = False
        self.walked = 0

    async def fill(self) -> bool:
        """Rows buffered (reading the next page if needed); ``False`` at the end."""
        if self.at == len(self.rows) and not self.ended:
            self.rows = await self.store.read_rows(self.table, self.after, self.batch)
            self.at = 0
            self.ended = len(self.rows) < self.batch
            if self.rows:
                self.after = self.table.key_of(self.rows[-1])
        return self.at < len(self.rows)

    def head(self) -> Row:
        return self.rows[self.at]

    def take(self, count: int | None = None) -> list[Row]:
        """The next ``count`` rows (all buffered if ``None``), walked past."""
        end = len(self.rows) if count is None else self.at + count
        rows = self.rows[self.at:end]
        self.at = end
        self.walked += len(rows)
        return rows

    def ahead(self, count: int) -> list[Row]:
        return self.rows[self.at:self.at + count]


def _same_stretch(theirs: _Pages, ours: _Pages) -> int:
    """How many of the rows buffered next are the same on both sides."""
    span = min(len(theirs.rows) - theirs.at, len(ours.rows) - ours.at)
    mine, held = theirs.ahead(span), ours.ahead(span)
    if mine == held:
        return span
    return next(i for i, (a, b) in enumerate(zip(mine, held, strict=True)) if a != b)


async def copy_table(source: Tables, destination: Tables, table: Table, batch: int,
                     advance: Callable[[int], None]) -> TableCopy:
    """One pass over ``table``: make the destination's rows the source's."""
    theirs, ours = _Pages(source, table, batch), _Pages(destination, table, batch)
    writes: list[Row] = []  # rows to write over the destination's
    appends: list[Row] = []  # rows after every row of the destination
    removes: list[Key] = []
    written = removed = deferred = 0
    orphans = _Orphans(destination, table)

    # One write at a time runs while the walk reads on: it only touches keys
    # the walk has passed (or, appending, keys the destination never had).
    pending: asyncio.Future[None] | None = None

    async def submit(write: Coroutine[Any, Any, None]) -> None:
        nonlocal pending
        if pending is not None:
            await pending
        pending = asyncio.ensure_future(write)

    async def flush(final: bool = False) -> None:
        nonlocal written, removed, deferred
        if writes and (final or len(writes) >= batch):
            rows, later = await orphans.split(writes)
            await submit(destination.write_rows(table, rows))
            written += len(rows)
            deferred += later
            writes.clear()
        if appends and (final or len(appends) >= batch):
            rows, later = await orphans.split(appends)
            await submit(destination.append_rows(table, rows))
            written += len(rows)
            deferred += later
            appends.clear()
        if removes and (final or len(removes) >= batch):
            await submit(destination.delete_rows(table, removes[:]))
            removed += len(removes)
            removes.clear()
        if final and pending is not None:
            await pending

    try:
        await _walk(theirs, ours, table, writes, appends, removes, flush, advance)
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
    return TableCopy(table.name, theirs.walked, written, removed, deferred)


class _Orphans:
    """Which of a child table's rows the destination has no parent row for."""

    def __init__(self, destination: Tables, table: Table) -> None:
        self.destination, self.table = destination, table
        self.present: dict[Any, bool] = {}

    async def split(self, rows: list[Row]) -> tuple[list[Row], int]:
        """``rows`` whose parent the destination holds, and how many others."""
        if self.table.parent is None:
            return rows[:], 0
        column, parent_name = self.table.parent
        at = self.table.names.index(column)
        parent = BY_NAME[parent_name]
        for value in {row[at] for row in rows} - self.present.keys():
            self.present[value] = await self.destination.find_row(parent, (value,)) is not None
        kept = [row for row in rows if self.present[row[at]]]
        return kept, len(rows) - len(kept)


async def _walk(theirs: _Pages, ours: _Pages, table: Table, writes: list[Row],
                appends: list[Row], removes: list[Key],
                flush: Callable[..., Awaitable[None]], advance: Callable[[int], None]) -> None:
    """Walk both stores' rows in key order, sorting each source row into
    ``writes`` or ``appends`` and each destination row the source lacks into
    ``removes``, flushing them as they fill."""
    key_of = table.key_of
    while True:
        has_source, has_destination = await asyncio.gather(theirs.fill(), ours.fill())
        if not has_source and not has_destination:
            break
        if not has_destination:  # the common case: the destination has ended
            rows = theirs.take()
            appends.extend(rows)
            advance(len(rows))
        elif not has_source:
            removes.extend(key_of(row) for row in ours.take())
        else:
            same = _same_stretch(theirs, ours)
            if same:  # rows unchanged since the last pass, passed over at once
                theirs.take(same)
                ours.take(same)
                advance(same)
                continue
            mine, held = theirs.head(), ours.head()
            mine_key, held_key = key_of(mine), key_of(held)
            if mine_key < held_key:
                writes.extend(theirs.take(1))
                advance(1)
            elif held_key < mine_key:
                removes.append(key_of(ours.take(1)[0]))
            else:
                if table.identity and table.identity_of(mine) != table.identity_of(held):
                    raise ForeignDestination(
                        f"the destination's {table.name} row {_shown(held_key)} is another "
                        "store's: copy into an empty store")
                theirs.take(1)
                ours.take(1)
                if mine != held:
                    writes.append(mine)
                advance(1)
        await flush()
    await flush(True)


async def copy_store(source: Tables, destination: Tables, progress: Progress, *,
                     where: str, batch: int = BATCH) -> list[TableCopy]:
    """One pass over every table, after :func:`check_destination`."""
    await check_destination(source, destination, where)
    results = []
    for table in TABLES:
        advance = progress.table(table, await source.count_rows(table))
        result = await copy_table(source, destination, table, batch, advance)
        progress.done(table, result)
        results.append(result)
    return results


async def table_digest(store: Tables, table: Table, batch: int = BATCH) -> tuple[int, str]:
    """``table``'s row count and digest, its rows read in key order."""
    digest, after = Digest(table), None
    while True:
        rows = await store.read_rows(table, after, batch)
        digest.add(rows)
        if len(rows) < batch:
            return digest.rows, digest.hexdigest()
        after = table.key_of(rows[-1])


async def verify(source: Tables, destination: Tables, batch: int = BATCH) -> list[TableCheck]:
    """Every table's count and digest in both stores, each read on its own."""
    checks = []
    for table in TABLES:
        (rows, digest), (their_rows, their_digest) = await asyncio.gather(
            table_digest(source, table, batch), table_digest(destination, table, batch))
        checks.append(TableCheck(table.name, rows, their_rows, digest, their_digest))
    return checks
