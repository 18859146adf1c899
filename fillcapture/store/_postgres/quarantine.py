"""The quarantine and the known accounts as PostgreSQL rows.

Functions over an open connection, run inside the caller's transaction;
the rules are the SQLite engine's (:mod:`fillcapture.store._sqlite.quarantine`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from fillcapture.model import Quarantined, Side, VisibleAccount
from fillcapture.store._postgres.rows import aware
from fillcapture.store._postgres.shared import count
from fillcapture.store.records import QuarantineRow
from fillcapture.store.rules import quarantine_digest

_INSERT = (
    "INSERT INTO quarantine (firm, account_id, account, order_id, reason, detail, kind, raw, "
    "digest, side, trade_date, received_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
    "ON CONFLICT (firm, digest) DO NOTHING"
)
COLUMNS = (
    "id, firm, account_id, account, order_id, reason, detail, kind, raw, side, trade_date, "
    "received_at, resolved_at, resolution"
)


async def insert(conn: asyncpg.Connection, records: Sequence[Quarantined]) -> int:
    """Keep ``records``; one already kept (same firm and bytes) is not kept twice.
    Returns how many were new."""
    new = 0
    for r in records:
        new += count(await conn.execute(
            _INSERT, r.firm, r.account_id, r.account, r.order_id, r.reason, r.detail, r.kind,
            r.raw, quarantine_digest(r.raw), None if r.side is None else r.side.value, r.trade_date,
            aware(r.received_at)))
    return new


async def resolve(conn: asyncpg.Connection, ids: Sequence[int], resolution: str,
                  at: datetime) -> int:
    """Mark the open records ``ids`` resolved; return how many were open."""
    return count(await conn.execute(
        "UPDATE quarantine SET resolved_at = $1, resolution = $2 "
        "WHERE id = ANY($3::bigint[]) AND resolved_at IS NULL", at, resolution, list(ids)))


async def save_accounts(conn: asyncpg.Connection, firm: str,
                        accounts: Sequence[VisibleAccount], at: datetime) -> None:
    """Record what is known of each account; a field T4 did not give this
    time keeps what was known, and a known number is never replaced."""
    await conn.executemany(
        "INSERT INTO accounts AS a (firm, account_id, number, code, name, seen_at) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (firm, account_id) DO UPDATE SET "
        "number = CASE WHEN a.number = '' THEN excluded.number ELSE a.number END, "
        "code = CASE WHEN excluded.code = '' THEN a.code ELSE excluded.code END, "
        "name = CASE WHEN excluded.name = '' THEN a.name ELSE excluded.name END, "
        "seen_at = excluded.seen_at",
        [(firm, a.account_id, a.account, a.code, a.name, at) for a in accounts])


def row(found: asyncpg.Record) -> QuarantineRow:
    """A quarantine row read with :data:`COLUMNS`."""
    (row_id, firm, account_id, account, order_id, reason, detail, kind, raw, side, day,
     received_at, resolved_at, resolution) = found
    record = Quarantined(firm, account_id, account, order_id, reason, detail, kind, bytes(raw),
                         day, received_at, None if side is None else Side(side))
    return QuarantineRow(row_id, record, resolved_at, resolution)
