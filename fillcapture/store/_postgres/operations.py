"""The PostgreSQL engine's operations role: seals and certificates, gaps, daemon state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime

from fillcapture.store._postgres import certificates
from fillcapture.store._postgres.plumbing import Plumbing
from fillcapture.store._postgres.rows import aware
from fillcapture.store._postgres.shared import count
from fillcapture.store.records import Gap, Seal, SealedDay, Verification


class OperationsRole(Plumbing):
    """The daemon's own records."""

    async def seal_day(self, firm: str, day: date, reconciled_at: datetime | None,
                       verification: Verification | None = None,
                       recovered: Mapping[str, int] | None = None) -> list[Seal]:
        """Seal ``day`` for ``firm``: per account, its live fills, volume and
        busts as stored now, and its certificate. A day is sealed once;
        sealing it again is a no-op."""
        async with self.transaction() as conn:
            sealed = count(await conn.execute(
                "INSERT INTO sealed_days (firm, trade_date, reconciled_at, sealed_at, verified, "
                "reconcile_step, unverified_reason) VALUES ($1, $2, $3, now(), $4, $5, $6) "
                "ON CONFLICT DO NOTHING",
                firm, day, None if reconciled_at is None else aware(reconciled_at),
                *certificates.verification_columns(verification)))
            if sealed:
                await certificates.write_certificates(conn, firm, day, recovered or {})
                await conn.execute(
                    "INSERT INTO seals (firm, account, trade_date, fills, volume, busted) "
                    "SELECT firm, account, trade_date, "
                    "count(*) FILTER (WHERE busted_at IS NULL), "
                    "coalesce(sum(volume) FILTER (WHERE busted_at IS NULL), 0), "
                    "count(*) FILTER (WHERE busted_at IS NOT NULL) "
                    "FROM fills WHERE firm = $1 AND trade_date = $2 "
                    "GROUP BY firm, account, trade_date", firm, day)
        return [seal for seal in await self.seals(day) if seal.trade_date == day
                and seal.firm == firm]

    async def quarantined_counts(self, firm: str, day: date) -> dict[str, int]:
        """Per account number: records of ``firm``'s ``day`` in quarantine."""
        async with self.reading() as conn:
            return await certificates.quarantined_counts(conn, firm, day)

    async def sealed_days(self, since: date | None = None, until: date | None = None, *,
                          latest: bool = False) -> list[SealedDay]:
        """Sealed days, oldest first, with their certificates."""
        async with self.snapshot() as conn:
            return await certificates.sealed_days(conn, since, until, latest)

    async def sealed_through(self, firm: str) -> date | None:
        """The latest trade date sealed for ``firm``."""
        found: date | None = await self._value(
            "SELECT max(trade_date) FROM sealed_days WHERE firm = $1", firm)
        return found

    async def seals(self, since: date | None = None) -> list[Seal]:
        """Seals from ``since`` on, with the amendments each day received."""
        rows = await self._all(
            "SELECT s.firm, s.account, s.trade_date, s.fills, s.volume, s.busted, "
            "d.reconciled_at, d.sealed_at, "
            "(SELECT count(*) FROM amendments a WHERE a.firm = s.firm AND a.account = s.account "
            " AND a.trade_date = s.trade_date) "
            "FROM seals s JOIN sealed_days d ON d.firm = s.firm AND d.trade_date = s.trade_date "
            "WHERE s.trade_date >= $1 ORDER BY s.trade_date, s.firm, s.account",
            since or date.min)
        return [Seal(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8])
                for row in rows]

    async def open_gap(self, instance: str, started_at: datetime, reason: str) -> int:
        """Record the start of a gap; return its id."""
        async with self.transaction() as conn:
            return int(await conn.fetchval(
                "INSERT INTO gaps (instance, started_at, reason) VALUES ($1, $2, $3) "
                "RETURNING id", instance, aware(started_at), reason))

    async def close_gap(self, gap_id: int, ended_at: datetime, unrecoverable: bool) -> None:
        async with self.transaction() as conn:
            await conn.execute("UPDATE gaps SET ended_at = $1, unrecoverable = $2 WHERE id = $3",
                               aware(ended_at), unrecoverable, gap_id)

    async def gaps(self, *, open_only: bool = False) -> list[Gap]:
        """Gaps, newest first; ``open_only``: unrecoverable and not acknowledged."""
        where = " WHERE unrecoverable AND acknowledged_at IS NULL" if open_only else ""
        rows = await self._all(
            "SELECT id, instance, started_at, ended_at, reason, unrecoverable, acknowledged_at "
            "FROM gaps" + where + " ORDER BY started_at DESC, id DESC")
        return [Gap(row[0], row[1], row[2], row[3], row[4], row[5], row[6]) for row in rows]

    async def acknowledge_gap(self, gap_id: int) -> bool:
        """Acknowledge an unrecoverable gap; False if there is no such gap."""
        async with self.transaction() as conn:
            if count(await conn.execute(
                    "UPDATE gaps SET acknowledged_at = now() WHERE id = $1 "
                    "AND acknowledged_at IS NULL", gap_id)):
                return True
            return bool(await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM gaps WHERE id = $1)", gap_id))

    async def recovered_since(self, firm: str, accounts: Sequence[str], day: date,
                              since: datetime) -> dict[str, int]:
        """Per account: fills of ``day`` stored from snapshots since ``since``."""
        rows = await self._all(
            "SELECT account, count(*) FROM fills WHERE account = ANY($1::text[]) "
            "AND trade_date = $2 AND firm = $3 AND historical AND captured_at >= $4 "
            "GROUP BY account", list(accounts), day, firm, aware(since))
        return {row[0]: int(row[1]) for row in rows if row[1]}

    async def set_state(self, instance: str, values: dict[str, str]) -> None:
        """Record what a daemon says about itself (status)."""
        async with self.transaction() as conn:
            await conn.executemany(
                "INSERT INTO daemon_state (instance, key, value) VALUES ($1, $2, $3) "
                "ON CONFLICT (instance, key) DO UPDATE SET value = excluded.value",
                [(instance, key, value) for key, value in values.items()])

    async def state(self) -> dict[str, dict[str, str]]:
        """Every daemon's recorded state, by instance."""
        found: dict[str, dict[str, str]] = {}
        for instance, key, value in await self._all(
                "SELECT instance, key, value FROM daemon_state ORDER BY instance, key"):
            found.setdefault(instance, {})[key] = value
        return found

    async def last_fills(self, accounts: Sequence[str]) -> dict[str, tuple[datetime, date, int]]:
        """Per account number: its newest fill's time, its latest trade date and
        that date's live fill count (index seeks per account, not a scan)."""
        found: dict[str, tuple[datetime, date, int]] = {}
        async with self.snapshot() as conn:
            for account in accounts:
                day = await conn.fetchval(
                    "SELECT max(trade_date) FROM fills WHERE account = $1", account)
                if day is None:
                    continue
                row = await conn.fetchrow(
                    "SELECT max(exchange_time), count(*) FILTER (WHERE busted_at IS NULL) "
                    "FROM fills WHERE account = $1 AND trade_date = $2", account, day)
                found[account] = (row[0], day, row[1])
        return found
