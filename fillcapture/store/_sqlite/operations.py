"""The SQLite engine's operations role: seals and certificates, gaps, daemon state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime

from fillcapture.store._sqlite import certificates
from fillcapture.store._sqlite.plumbing import Plumbing
from fillcapture.store._sqlite.rows import (
    from_micros,
    utc_micros,
)
from fillcapture.store.records import (
    Gap,
    Seal,
    SealedDay,
    Verification,
)


class OperationsRole(Plumbing):
    """The daemon's own records."""

    async def seal_day(self, firm: str, day: date, reconciled_at: datetime | None,
                       verification: Verification | None = None,
                       recovered: Mapping[str, int] | None = None) -> list[Seal]:
        """Seal ``day`` for ``firm``: per account, its live fills, volume and
        busts as stored now, and its certificate. A day is sealed once;
        sealing it again is a no-op."""
        text = day.isoformat()
        now = utc_micros(datetime.now(UTC))
        async with self._writing() as conn:
            cursor = await conn.execute(
                "INSERT INTO sealed_days (firm, trade_date, reconciled_at, sealed_at, verified, "
                "reconcile_step, unverified_reason) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (firm, text, None if reconciled_at is None else utc_micros(reconciled_at), now,
                 *certificates.verification_columns(verification)))
            if cursor.rowcount:
                await certificates.write_certificates(conn, firm, day, recovered or {})
                # One pass over the day's rows (the account index does not lead
                # with the date; once a day, this is cheap enough).
                await conn.execute(
                    "INSERT INTO seals (firm, account, trade_date, fills, volume, busted) "
                    "SELECT firm, account, trade_date, "
                    "count(*) FILTER (WHERE busted_at IS NULL), "
                    "coalesce(sum(volume) FILTER (WHERE busted_at IS NULL), 0), "
                    "count(*) FILTER (WHERE busted_at IS NOT NULL) "
                    "FROM fills WHERE firm = ? AND trade_date = ? "
                    "GROUP BY firm, account, trade_date",
                    (firm, text))
        return [seal for seal in await self.seals(day) if seal.trade_date == day
                and seal.firm == firm]

    async def quarantined_counts(self, firm: str, day: date) -> dict[str, int]:
        async with self._reading() as conn:
            return await certificates.quarantined_counts(conn, firm, day)

    async def sealed_days(self, since: date | None = None, until: date | None = None, *,
                          latest: bool = False) -> list[SealedDay]:
        async with self._reading() as conn:
            return await certificates.sealed_days(conn, since, until, latest)

    async def sealed_through(self, firm: str) -> date | None:
        rows = await self._all("SELECT max(trade_date) FROM sealed_days WHERE firm = ?", (firm,))
        return date.fromisoformat(rows[0][0]) if rows and rows[0][0] else None

    async def seals(self, since: date | None = None) -> list[Seal]:
        rows = await self._all(
            "SELECT s.firm, s.account, s.trade_date, s.fills, s.volume, s.busted, "
            "d.reconciled_at, d.sealed_at, "
            "(SELECT count(*) FROM amendments a WHERE a.firm = s.firm AND a.account = s.account "
            " AND a.trade_date = s.trade_date) "
            "FROM seals s JOIN sealed_days d ON d.firm = s.firm AND d.trade_date = s.trade_date "
            "WHERE s.trade_date >= ? ORDER BY s.trade_date, s.firm, s.account",
            ((since or date.min).isoformat(),))
        return [
            Seal(row[0], row[1], date.fromisoformat(row[2]), row[3], row[4], row[5],
                 None if row[6] is None else from_micros(row[6]), from_micros(row[7]), row[8])
            for row in rows
        ]

    async def open_gap(self, instance: str, started_at: datetime, reason: str) -> int:
        async with self._writing() as conn:
            cursor = await conn.execute(
                "INSERT INTO gaps (instance, started_at, reason) VALUES (?, ?, ?)",
                (instance, utc_micros(started_at), reason))
            return int(cursor.lastrowid or 0)

    async def close_gap(self, gap_id: int, ended_at: datetime, unrecoverable: bool) -> None:
        async with self._writing() as conn:
            await conn.execute(
                "UPDATE gaps SET ended_at = ?, unrecoverable = ? WHERE id = ?",
                (utc_micros(ended_at), int(unrecoverable), gap_id))

    async def gaps(self, *, open_only: bool = False) -> list[Gap]:
        where = " WHERE unrecoverable = 1 AND acknowledged_at IS NULL" if open_only else ""
        sql = (
            "SELECT id, instance, started_at, ended_at, reason, unrecoverable, acknowledged_at "
            "FROM gaps" + where + " ORDER BY started_at DESC, id DESC"
        )
        rows = await self._all(sql)
        return [
            Gap(row[0], row[1], from_micros(row[2]),
                None if row[3] is None else from_micros(row[3]), row[4], bool(row[5]),
                None if row[6] is None else from_micros(row[6]))
            for row in rows
        ]

    async def acknowledge_gap(self, gap_id: int) -> bool:
        async with self._writing() as conn:
            cursor = await conn.execute(
                "UPDATE gaps SET acknowledged_at = ? WHERE id = ? AND acknowledged_at IS NULL",
                (utc_micros(datetime.now(UTC)), gap_id))
            if cursor.rowcount:
                return True
            found = await conn.execute_fetchall("SELECT 1 FROM gaps WHERE id = ?", (gap_id,))
            return bool(list(found))

    async def recovered_since(self, firm: str, accounts: Sequence[str], day: date,
                              since: datetime) -> dict[str, int]:
        found: dict[str, int] = {}
        async with self._reading() as conn:
            for account in accounts:
                # The account index narrows to (account, day); the rest is a filter.
                ((count,),) = await conn.execute_fetchall(
                    "SELECT count(*) FROM fills WHERE account = ? AND trade_date = ? "
                    "AND firm = ? AND historical = 1 AND captured_at >= ?",
                    (account, day.isoformat(), firm, utc_micros(since)))
                if count:
                    found[account] = int(count)
        return found

    async def set_state(self, instance: str, values: dict[str, str]) -> None:
        async with self._writing() as conn:
            await conn.executemany(
                "INSERT INTO daemon_state (instance, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT (instance, key) DO UPDATE SET value = excluded.value",
                [(instance, key, value) for key, value in values.items()])

    async def state(self) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for instance, key, value in await self._all(
                "SELECT instance, key, value FROM daemon_state ORDER BY instance, key"):
            found.setdefault(instance, {})[key] = value
        return found

    async def last_fills(self, accounts: Sequence[str]) -> dict[str, tuple[datetime, date, int]]:
        """Per account number: its newest fill's time, its latest trade date and
        that date's live fill count (index seeks per account, not a scan)."""
        found: dict[str, tuple[datetime, date, int]] = {}
        async with self._reading() as conn:
            for account in accounts:
                rows = list(await conn.execute_fetchall(
                    "SELECT max(trade_date) FROM fills WHERE account = ?", (account,)))
                if not rows or rows[0][0] is None:
                    continue
                day = rows[0][0]
                (row,) = await conn.execute_fetchall(
                    "SELECT max(exchange_time), count(*) FILTER (WHERE busted_at IS NULL) "
                    "FROM fills WHERE account = ? AND trade_date = ?", (account, day))
                found[account] = (from_micros(row[0]), date.fromisoformat(day), row[1])
        return found
