"""The SQLite engine's tables role: every table's rows as engine-neutral values.

SQLite keeps times as integer microseconds since the epoch (``users.created_at``
as fixed-width ISO text), dates as ISO text and flags as 0/1; here they
become ``datetime``, ``date`` and ``bool`` and back. Row ids are commit order,
so the neutral ``id`` of fills and busts is the row id itself. Text keys sort
by their bytes (SQLite's BINARY collation), as the PostgreSQL engine sorts
them for a copy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from fillcapture.store._sqlite.plumbing import Plumbing, scalar
from fillcapture.store._sqlite.rows import from_micros, utc_micros, utc_text
from fillcapture.store.records import StoreError
from fillcapture.store.tables import Key, Kind, Row, Table

_TEXT_TIMES = {("users", "created_at")}
"""Time columns SQLite keeps as ISO text rather than microseconds."""


def _iso_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.utcoffset() is None:
        raise StoreError(f"stored time {text!r} has no time zone")
    return moment


_READ: dict[Kind, Callable[[Any], Any]] = {
    Kind.TIME: from_micros, Kind.DATE: date.fromisoformat, Kind.BOOL: bool,
    Kind.BYTES: bytes,
}
_WRITE: dict[Kind, Callable[[Any], Any]] = {
    Kind.TIME: utc_micros, Kind.DATE: date.isoformat, Kind.BOOL: int,
}


def _codecs(table: Table, codecs: dict[Kind, Callable[[Any], Any]],
            text_time: Callable[[Any], Any]) -> list[tuple[int, Callable[[Any], Any]]]:
    """(position, converter) of each column that needs converting."""
    found = []
    for i, (name, kind) in enumerate(table.columns):
        if (table.name, name) in _TEXT_TIMES:
            found.append((i, text_time))
        elif kind in codecs:
            found.append((i, codecs[kind]))
    return found


def _convert(rows: Sequence[Sequence[Any]],
             codecs: list[tuple[int, Callable[[Any], Any]]]) -> list[Row]:
    out = []
    for row in rows:
        values = list(row)
        for i, convert in codecs:
            if values[i] is not None:
                values[i] = convert(values[i])
        out.append(tuple(values))
    return out


def _key_values(table: Table, key: Key) -> list[Any]:
    """``key`` as SQLite stores it."""
    kinds = dict(table.columns)
    values = []
    for column, value in zip(table.key, key, strict=True):
        convert = _WRITE.get(kinds[column])
        values.append(convert(value) if convert is not None else value)
    return values


class TablesRole(Plumbing):
    """Whole tables read and written in key order."""

    def _select(self, table: Table) -> str:
        return f"SELECT {', '.join(table.names)} FROM {table.name}"  # noqa: S608 - catalogue

    def _keyset(self, table: Table) -> str:
        return f"({', '.join(table.key)})"

    async def read_rows(self, table: Table, after: Key | None, limit: int) -> list[Row]:
        """Up to ``limit`` rows after the key ``after``, in key order."""
        sql, params = self._select(table), []
        if after is not None:
            marks = ", ".join("?" for _ in table.key)
            sql += f" WHERE {self._keyset(table)} > ({marks})"
            params = _key_values(table, after)
        sql += f" ORDER BY {', '.join(table.key)} LIMIT ?"
        rows = await self._all(sql, [*params, limit])
        return _convert(rows, _codecs(table, _READ, _iso_time))

    async def write_rows(self, table: Table, rows: Sequence[Row]) -> None:
        """Insert ``rows``, each replacing the row of its key (an upsert)."""
        if not rows:
            return
        names = table.names
        updates = ", ".join(f"{n} = excluded.{n}" for n in names if n not in table.key)
        sql = (f"INSERT INTO {table.name} ({', '.join(names)}) "  # noqa: S608 - catalogue
               f"VALUES ({', '.join('?' for _ in names)}) "
               f"ON CONFLICT ({', '.join(table.key)}) DO "
               + (f"UPDATE SET {updates}" if updates else "NOTHING"))
        values = _convert(rows, _codecs(table, _WRITE, utc_text))
        async with self._writing() as conn:
            await conn.executemany(sql, values)

    async def append_rows(self, table: Table, rows: Sequence[Row]) -> None:
        """Insert ``rows`` (none of them held yet)."""
        if not rows:
            return
        names = table.names
        sql = (f"INSERT INTO {table.name} ({', '.join(names)}) "  # noqa: S608 - catalogue
               f"VALUES ({', '.join('?' for _ in names)})")
        values = _convert(rows, _codecs(table, _WRITE, utc_text))
        async with self._writing() as conn:
            await conn.executemany(sql, values)

    async def delete_rows(self, table: Table, keys: Sequence[Key]) -> None:
        """Remove the rows of ``keys``."""
        if not keys:
            return
        marks = ", ".join("?" for _ in table.key)
        sql = f"DELETE FROM {table.name} WHERE {self._keyset(table)} = ({marks})"  # noqa: S608
        async with self._writing() as conn:
            await conn.executemany(sql, [_key_values(table, key) for key in keys])

    async def count_rows(self, table: Table) -> int:
        async with self._reading() as conn:
            return await scalar(conn, f"SELECT count(*) FROM {table.name}")  # noqa: S608

    async def last_row(self, table: Table) -> Row | None:
        order = ", ".join(f"{column} DESC" for column in table.key)
        rows = await self._all(f"{self._select(table)} ORDER BY {order} LIMIT 1")
        found = _convert(rows, _codecs(table, _READ, _iso_time))
        return found[0] if found else None

    async def find_row(self, table: Table, key: Key) -> Row | None:
        marks = ", ".join("?" for _ in table.key)
        rows = await self._all(f"{self._select(table)} WHERE {self._keyset(table)} = ({marks})",
                               _key_values(table, key))
        found = _convert(rows, _codecs(table, _READ, _iso_time))
        return found[0] if found else None
