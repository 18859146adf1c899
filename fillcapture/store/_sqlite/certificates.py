"""The SQLite side of reconcile certificates: T4's snapshot counts as they
arrive, and at the seal what each account's day held against them.

Functions over an open connection, run inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import aiosqlite

from fillcapture.model import SnapshotReceived
from fillcapture.store._sqlite.rows import from_micros
from fillcapture.store.records import Certificate, SealedDay, Verification

# A snapshot's first frame replaces what was recorded of its dates, mark and
# time included; a later frame of it updates the counts only.
_FIRST_FRAME = (
    "INSERT INTO snapshot_counts (firm, account, trade_date, account_id, fills, received_at, "
    "fills_mark) VALUES (?, ?, ?, ?, ?, ?, (SELECT coalesce(max(id), 0) FROM fills)) "
    "ON CONFLICT (firm, account, trade_date) DO UPDATE SET account_id = excluded.account_id, "
    "fills = excluded.fills, received_at = excluded.received_at, "
    "fills_mark = excluded.fills_mark"
)
_LATER_FRAME = (
    "INSERT INTO snapshot_counts (firm, account, trade_date, account_id, fills, received_at, "
    "fills_mark) VALUES (?, ?, ?, ?, ?, ?, (SELECT coalesce(max(id), 0) FROM fills)) "
    "ON CONFLICT (firm, account, trade_date) DO UPDATE SET fills = excluded.fills"
)


async def save_snapshots(conn: aiosqlite.Connection, snapshots: Sequence[SnapshotReceived],
                         now: int) -> None:
    for snapshot in snapshots:
        if not snapshot.account:
            continue  # no number: nobody can own it
        sql = _FIRST_FRAME if snapshot.first else _LATER_FRAME
        await conn.executemany(sql, [
            (snapshot.firm, snapshot.account, day.isoformat(), snapshot.account_id, fills, now)
            for day, fills in snapshot.trade_dates])


async def quarantined_counts(conn: aiosqlite.Connection, firm: str, day: date
                             ) -> dict[str, int]:
    """Per account number: records of ``firm``'s ``day`` still held in the
    quarantine when the day is sealed. A record quarantined before its
    account's number was known is counted under the number recorded for its
    account id since, else under ``""``."""
    rows = await conn.execute_fetchall(
        "SELECT CASE WHEN q.account <> '' THEN q.account ELSE coalesce("
        "(SELECT a.number FROM accounts a WHERE a.firm = q.firm "
        "AND a.account_id = q.account_id AND a.number <> ''), '') END, count(*) "
        "FROM quarantine q WHERE q.firm = ? AND q.trade_date = ? AND q.resolved_at IS NULL "
        "GROUP BY 1", (firm, day.isoformat()))
    return {row[0]: int(row[1]) for row in rows}


async def write_certificates(conn: aiosqlite.Connection, firm: str, day: date,
                             recovered: Mapping[str, int]) -> None:
    """Inside the seal's transaction: one certificate per account with fills
    stored, a snapshot counted or records quarantined on ``day``."""
    text = day.isoformat()
    stored = {row[0]: (row[1], row[2]) for row in await conn.execute_fetchall(
        "SELECT account, count(*), count(*) FILTER (WHERE busted_at IS NOT NULL) "
        "FROM fills WHERE firm = ? AND trade_date = ? GROUP BY account", (firm, text))}
    snapshots = {row[0]: (row[1], row[2], row[3]) for row in await conn.execute_fetchall(
        "SELECT account, fills, received_at, fills_mark FROM snapshot_counts "
        "WHERE firm = ? AND trade_date = ?", (firm, text))}
    quarantined = await quarantined_counts(conn, firm, day)
    rows: list[tuple[Any, ...]] = []
    for account in sorted(stored.keys() | snapshots.keys() | quarantined.keys()):
        count, busted = stored.get(account, (0, 0))
        snapshot = snapshots.get(account)
        after = 0
        if snapshot is not None:
            # The account index narrows to (account, day); the rest is a filter.
            ((after,),) = await conn.execute_fetchall(
                "SELECT count(*) FROM fills WHERE account = ? AND trade_date = ? "
                "AND firm = ? AND historical = 0 AND id > ?",
                (account, text, firm, snapshot[2]))
        rows.append((firm, text, account, None if snapshot is None else snapshot[0],
                     None if snapshot is None else snapshot[1], after, count,
                     recovered.get(account, 0), quarantined.get(account, 0), busted))
    await conn.executemany(
        "INSERT INTO certificates (firm, trade_date, account, snapshot, snapshot_at, "
        "after_snapshot, stored, recovered, quarantined, busted) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def verification_columns(verification: Verification | None) -> tuple[int | None, str | None,
                                                                      str | None]:
    if verification is None:
        return None, None, None
    return int(verification.verified), verification.step, verification.reason


# Each firm's latest sealed day, or every one from :since through :until.
_DAYS = (
    "(NOT :latest OR (firm, trade_date) IN "
    "(SELECT firm, max(trade_date) FROM sealed_days GROUP BY firm)) "
    "AND trade_date >= :since AND trade_date <= :until"
)


async def sealed_days(conn: aiosqlite.Connection, since: date | None, until: date | None,
                      latest: bool) -> list[SealedDay]:
    bounds = {"since": (since or date.min).isoformat(), "until": (until or date.max).isoformat(),
              "latest": latest}
    certificates: dict[tuple[str, str], list[Certificate]] = {}
    for row in await conn.execute_fetchall(
            "SELECT firm, trade_date, account, snapshot, snapshot_at, "  # noqa: S608 - constant
            "after_snapshot, stored, recovered, quarantined, busted FROM certificates "
            f"WHERE {_DAYS} ORDER BY trade_date, firm, account", bounds):
        certificates.setdefault((row[0], row[1]), []).append(Certificate(
            row[0], row[2], date.fromisoformat(row[1]), row[3],
            None if row[4] is None else from_micros(row[4]), row[5], row[6], row[7], row[8],
            row[9]))
    return [
        SealedDay(row[0], date.fromisoformat(row[1]), from_micros(row[2]),
                  None if row[3] is None else from_micros(row[3]),
                  None if row[4] is None else bool(row[4]), row[5], row[6],
                  tuple(certificates.get((row[0], row[1]), ())))
        for row in await conn.execute_fetchall(
            "SELECT firm, trade_date, sealed_at, reconciled_at, verified, "  # noqa: S608 - constant
            f"reconcile_step, unverified_reason FROM sealed_days WHERE {_DAYS} "
            "ORDER BY trade_date, firm", bounds)
    ]
