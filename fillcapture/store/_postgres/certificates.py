"""Reconcile certificates in the PostgreSQL store: at the seal, what each
account's day held against T4's last snapshot count (:mod:`.snapshots`).

Functions over an open connection, run inside the caller's transaction; the
rules are the SQLite engine's (:mod:`fillcapture.store._sqlite.certificates`).
A fill counts as after the snapshot when its outbox number is above the
snapshot's mark: numbers are in commit order.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import asyncpg

from fillcapture.store.records import Certificate, SealedDay, Verification


async def quarantined_counts(conn: asyncpg.Connection, firm: str, day: date) -> dict[str, int]:
    """Per account number: records of ``firm``'s ``day`` still held in the
    quarantine; one quarantined before its account's number was known is
    counted under the number recorded for its account id since, else ``""``."""
    rows = await conn.fetch(
        "SELECT CASE WHEN q.account <> '' THEN q.account ELSE coalesce("
        "(SELECT a.number FROM accounts a WHERE a.firm = q.firm "
        "AND a.account_id = q.account_id AND a.number <> ''), '') END, count(*) "
        "FROM quarantine q WHERE q.firm = $1 AND q.trade_date = $2 AND q.resolved_at IS NULL "
        "GROUP BY 1", firm, day)
    return {row[0]: int(row[1]) for row in rows}


async def write_certificates(conn: asyncpg.Connection, firm: str, day: date,
                             recovered: Mapping[str, int]) -> None:
    """Inside the seal's transaction: one certificate per account with fills
    stored, a snapshot counted or records quarantined on ``day``."""
    stored = {row[0]: (row[1], row[2]) for row in await conn.fetch(
        "SELECT account, count(*), count(*) FILTER (WHERE busted_at IS NOT NULL) "
        "FROM fills WHERE firm = $1 AND trade_date = $2 GROUP BY account", firm, day)}
    snapshots = {row[0]: (row[1], row[2], row[3]) for row in await conn.fetch(
        "SELECT account, fills, received_at, fills_mark FROM snapshot_counts "
        "WHERE firm = $1 AND trade_date = $2", firm, day)}
    quarantined = await quarantined_counts(conn, firm, day)
    rows: list[tuple[Any, ...]] = []
    for account in sorted(stored.keys() | snapshots.keys() | quarantined.keys()):
        count, busted = stored.get(account, (0, 0))
        snapshot = snapshots.get(account)
        after = 0
        if snapshot is not None:
            after = await conn.fetchval(
                "SELECT count(*) FROM fills WHERE account = $1 AND trade_date = $2 "
                "AND firm = $3 AND NOT historical AND id > $4",
                account, day, firm, snapshot[2])
        rows.append((firm, day, account, None if snapshot is None else snapshot[0],
                     None if snapshot is None else snapshot[1], after, count,
                     recovered.get(account, 0), quarantined.get(account, 0), busted))
    await conn.executemany(
        "INSERT INTO certificates (firm, trade_date, account, snapshot, snapshot_at, "
        "after_snapshot, stored, recovered, quarantined, busted) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", rows)


def verification_columns(verification: Verification | None
                         ) -> tuple[bool | None, str | None, str | None]:
    if verification is None:
        return None, None, None
    return verification.verified, verification.step, verification.reason


# Each firm's latest sealed day, or every one from $2 through $3.
_DAYS = (
    "(NOT $1 OR (firm, trade_date) IN "
    "(SELECT firm, max(trade_date) FROM sealed_days GROUP BY firm)) "
    "AND trade_date >= $2 AND trade_date <= $3"
)


async def sealed_days(conn: asyncpg.Connection, since: date | None, until: date | None,
                      latest: bool) -> list[SealedDay]:
    bounds = (latest, since or date.min, until or date.max)
    certificates: dict[tuple[str, date], list[Certificate]] = {}
    for row in await conn.fetch(
            "SELECT firm, trade_date, account, snapshot, snapshot_at, "  # noqa: S608 - constant
            "after_snapshot, stored, recovered, quarantined, busted FROM certificates "
            f"WHERE {_DAYS} ORDER BY trade_date, firm, account", *bounds):
        certificates.setdefault((row[0], row[1]), []).append(Certificate(
            row[0], row[2], row[1], row[3], row[4], row[5], row[6], row[7], row[8], row[9]))
    return [
        SealedDay(row[0], row[1], row[2], row[3], row[4], row[5], row[6],
                  tuple(certificates.get((row[0], row[1]), ())))
        for row in await conn.fetch(
            "SELECT firm, trade_date, sealed_at, reconciled_at, verified, "  # noqa: S608 - constant
            f"reconcile_step, unverified_reason FROM sealed_days WHERE {_DAYS} "
            "ORDER BY trade_date, firm", *bounds)
    ]
