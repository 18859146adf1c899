"""The PostgreSQL engine's tables role: every table's rows as engine-neutral values.

The neutral ``id`` of fills and busts is their row id, which is their place
in commit order (what cursors count in, see :mod:`.outbox`); a written row
keeps it, so the copy keeps commit order.
A batch is upserted with one statement over ``unnest`` of its columns, or,
where none of its rows is held yet, written with ``COPY``. After each
write the row-id sequence is moved past the rows written, so
capture on this store numbers its next rows after them. Text keys are
sorted ``COLLATE "C"`` (by their bytes, as SQLite sorts them), so both
engines give a table's rows in one order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fillcapture.store._postgres.plumbing import Conn, Plumbing
from fillcapture.store.tables import Key, Kind, Row, Table

_TYPES = {Kind.TEXT: "text", Kind.INT: "bigint", Kind.BOOL: "boolean",
          Kind.TIME: "timestamptz", Kind.DATE: "date", Kind.BYTES: "bytea"}


def _column(table: Table, name: str) -> str:
    """The stored column behind the neutral column ``name``: the same."""
    return name


def _key_order(table: Table, suffix: str = "") -> str:
    kinds = dict(table.columns)
    return ", ".join(
        _column(table, k) + (' COLLATE "C"' if kinds[k] is Kind.TEXT else "") + suffix
        for k in table.key)


def _select(table: Table) -> str:
    columns = ", ".join(_column(table, name) for name in table.names)
    return f"SELECT {columns} FROM {table.name} WHERE true"  # noqa: S608 - catalogue


def _key_match(table: Table, op: str, first: int = 1) -> str:
    """``(key columns) op ($first, ...)``, each parameter cast to its type."""
    kinds = dict(table.columns)
    marks = ", ".join(f"${first + i}::{_TYPES[kinds[k]]}" for i, k in enumerate(table.key))
    return f"({_key_order(table)}) {op} ({marks})"


def _arrays(table: Table, names: Sequence[str], rows: Sequence[Row]) -> list[list[Any]]:
    """The columns ``names`` of ``rows``, one list per column."""
    positions = [table.names.index(name) for name in names]
    return [[row[i] for row in rows] for i in positions]


def _unnest(table: Table, names: Sequence[str]) -> str:
    kinds = dict(table.columns)
    return ", ".join(f"${i + 1}::{_TYPES[kinds[n]]}[]" for i, n in enumerate(names))


def _upsert(table: Table) -> str:
    names = table.names
    targets = [_column(table, n) for n in names]
    values = [f"c{i}" for i in range(len(names))]
    keys = {_column(table, k) for k in table.key}
    updates = ", ".join(f"{c} = excluded.{c}" for c in targets if c not in keys and c != "id")
    overriding = " OVERRIDING SYSTEM VALUE" if "id" in targets else ""
    return (f"INSERT INTO {table.name} ({', '.join(targets)}){overriding} "  # noqa: S608
            f"SELECT {', '.join(values)} FROM unnest({_unnest(table, names)}) "
            f"AS u({', '.join(f'c{i}' for i in range(len(names)))}) "
            f"ON CONFLICT ({', '.join(_column(table, k) for k in table.key)}) DO "
            + (f"UPDATE SET {updates}" if updates else "NOTHING"))


async def _advance(conn: Conn, table: Table) -> None:
    """Move the table's sequences past its rows, never back."""
    sequences: list[tuple[str, str]] = []
    if "id" in table.names:
        name = await conn.fetchval("SELECT pg_get_serial_sequence($1, 'id')", table.name)
        if name is not None:
            sequences.append((name, "id"))
    for sequence, column in sequences:
        newest = f"(SELECT max({column}) AS m FROM {table.name}) x"  # noqa: S608 - catalogue
        current = f"(SELECT last_value FROM {sequence})"  # noqa: S608 - catalogue
        sql = f"SELECT setval('{sequence}', greatest(m, {current})) FROM {newest}"  # noqa: S608
        sql += " WHERE m IS NOT NULL"
        await conn.execute(sql)


class TablesRole(Plumbing):
    """Whole tables read and written in key order."""

    async def read_rows(self, table: Table, after: Key | None, limit: int) -> list[Row]:
        """Up to ``limit`` rows after the key ``after``, in key order."""
        sql, args = _select(table), []
        if after is not None:
            sql += f" AND {_key_match(table, '>')}"
            args = list(after)
        sql += f" ORDER BY {_key_order(table)} LIMIT ${len(args) + 1}"
        return [tuple(row) for row in await self._all(sql, *args, limit)]

    async def write_rows(self, table: Table, rows: Sequence[Row]) -> None:
        """Insert ``rows``, each replacing the row of its key (an upsert)."""
        if not rows:
            return
        async with self.transaction() as conn:
            await conn.execute(_upsert(table), *_arrays(table, table.names, rows))
            await _advance(conn, table)

    async def append_rows(self, table: Table, rows: Sequence[Row]) -> None:
        """``COPY`` ``rows`` in (none of them held yet): twice as fast as the
        upsert, for the bulk of a copy."""
        if not rows:
            return
        columns = [_column(table, name) for name in table.names]
        async with self.transaction() as conn:
            await conn.copy_records_to_table(table.name, records=rows, columns=columns)
            await _advance(conn, table)

    async def delete_rows(self, table: Table, keys: Sequence[Key]) -> None:
        """Remove the rows of ``keys``."""
        if not keys:
            return
        columns = ", ".join(_column(table, k) for k in table.key)
        key_rows = [tuple(key) for key in keys]
        arrays = [[key[i] for key in key_rows] for i in range(len(table.key))]
        sql = (f"DELETE FROM {table.name} WHERE ({columns}) IN "  # noqa: S608 - catalogue
               f"(SELECT * FROM unnest({_unnest(table, table.key)}))")
        async with self.transaction() as conn:
            await conn.execute(sql, *arrays)

    async def count_rows(self, table: Table) -> int:
        return int(await self._value(f"SELECT count(*) FROM ({_select(table)}) t"))  # noqa: S608

    async def last_row(self, table: Table) -> Row | None:
        rows = await self._all(f"{_select(table)} ORDER BY {_key_order(table, ' DESC')} LIMIT 1")
        return tuple(rows[0]) if rows else None

    async def find_row(self, table: Table, key: Key) -> Row | None:
        rows = await self._all(f"{_select(table)} AND {_key_match(table, '=')}", *key)
        return tuple(rows[0]) if rows else None
