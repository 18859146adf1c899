"""The quarantine and the known accounts as SQLite rows (migration 11).

Functions over an open connection, called by :class:`SqliteStore` inside its
own transactions; nothing else touches these tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import aiosqlite

from fillcapture.model import Quarantined, Side, VisibleAccount
from fillcapture.store._sqlite.rows import from_micros, utc_micros
from fillcapture.store.records import QuarantineRow
from fillcapture.store.rules import quarantine_digest

__all__ = ["QuarantineRow", "counts", "insert", "known_accounts", "resolve",
           "save_accounts", "select"]


_INSERT = (
    "INSERT INTO quarantine (firm, account_id, account, order_id, reason, detail, kind, raw, "
    "digest, side, trade_date, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (firm, digest) DO NOTHING"
)
_COLUMNS = (
    "id, firm, account_id, account, order_id, reason, detail, kind, raw, side, trade_date, "
    "received_at, resolved_at, resolution"
)


async def insert(conn: aiosqlite.Connection, records: Sequence[Quarantined]) -> int:
    """Keep ``records``; one already kept (same firm and bytes) is not kept twice.
    Returns how many were new."""
    rows = [
        (r.firm, r.account_id, r.account, r.order_id, r.reason, r.detail, r.kind, r.raw,
         quarantine_digest(r.raw), None if r.side is None else r.side.value,
         None if r.trade_date is None else r.trade_date.isoformat(), utc_micros(r.received_at))
        for r in records
    ]
    before = conn.total_changes
    await conn.executemany(_INSERT, rows)
    return conn.total_changes - before


async def select(conn: aiosqlite.Connection, *, open_only: bool, reason: str | None,
                 limit: int | None) -> list[QuarantineRow]:
    where = []
    params: list[object] = []
    if open_only:
        where.append("resolved_at IS NULL")
    if reason is not None:
        where.append("reason = ?")
        params.append(reason)
    sql = f"SELECT {_COLUMNS} FROM quarantine"  # noqa: S608 - constant text
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [_row(row) for row in await conn.execute_fetchall(sql, params)]


async def counts(conn: aiosqlite.Connection) -> dict[str, int]:
    """Open (unresolved) records by reason."""
    rows = await conn.execute_fetchall(
        "SELECT reason, count(*) FROM quarantine WHERE resolved_at IS NULL GROUP BY reason")
    return {row[0]: int(row[1]) for row in rows}


async def resolve(conn: aiosqlite.Connection, ids: Sequence[int], resolution: str,
                  at: datetime) -> int:
    before = conn.total_changes
    await conn.executemany(
        "UPDATE quarantine SET resolved_at = ?, resolution = ? "
        "WHERE id = ? AND resolved_at IS NULL",
        [(utc_micros(at), resolution, row_id) for row_id in ids])
    return conn.total_changes - before


async def save_accounts(conn: aiosqlite.Connection, firm: str,
                        accounts: Sequence[VisibleAccount], at: datetime) -> None:
    """Record what is known of each account; a field T4 did not give this
    time keeps what was known, and a known number is never replaced."""
    await conn.executemany(
        "INSERT INTO accounts (firm, account_id, number, code, name, seen_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (firm, account_id) DO UPDATE SET "
        "number = CASE WHEN number = '' THEN excluded.number ELSE number END, "
        "code = CASE WHEN excluded.code = '' THEN code ELSE excluded.code END, "
        "name = CASE WHEN excluded.name = '' THEN name ELSE excluded.name END, "
        "seen_at = excluded.seen_at",
        [(firm, a.account_id, a.account, a.code, a.name, utc_micros(at)) for a in accounts])


async def known_accounts(conn: aiosqlite.Connection) -> dict[str, list[VisibleAccount]]:
    """Every recorded account, by firm."""
    found: dict[str, list[VisibleAccount]] = {}
    for firm, account_id, number, code, name in await conn.execute_fetchall(
            "SELECT firm, account_id, number, code, name FROM accounts ORDER BY firm, number"):
        found.setdefault(firm, []).append(VisibleAccount(account_id, number, name, code))
    return found


def _row(row: aiosqlite.Row) -> QuarantineRow:
    (row_id, firm, account_id, account, order_id, reason, detail, kind, raw, side, day,
     received_at, resolved_at, resolution) = row
    record = Quarantined(
        firm, account_id, account, order_id, reason, detail, kind, bytes(raw),
        None if day is None else date.fromisoformat(day), from_micros(received_at),
        None if side is None else Side(side))
    return QuarantineRow(row_id, record, None if resolved_at is None else from_micros(resolved_at),
                         resolution)
