"""The PostgreSQL engine's fees role: the fee schedules, a row per schedule key.

The rules and the row's shape are the SQLite engine's
(:mod:`fillcapture.store._sqlite.fees`, :mod:`fillcapture.store.feerows`);
text sorts ``COLLATE "C"``, as SQLite sorts it, so both list in key order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from fillcapture.fees import FeeSchedule
from fillcapture.store._postgres.plumbing import Plumbing
from fillcapture.store._postgres.shared import count
from fillcapture.store.feerows import COLUMNS, KEY, decode, encode

_ORDER = ", ".join(f'{column} COLLATE "C"' if column != "effective_from" else column
                   for column in KEY)
_INSERT = (f"INSERT INTO fee_schedules ({', '.join(COLUMNS)}, updated_at) "  # noqa: S608
           f"VALUES ({', '.join(f'${n}' for n in range(1, len(COLUMNS) + 1))}, now())")


class FeesRole(Plumbing):
    """Fee schedules kept, replaced, removed and seeded."""

    async def fee_schedules(self) -> list[FeeSchedule]:
        """Every schedule, by key."""
        rows = await self._all(
            f"SELECT {', '.join(COLUMNS)} FROM fee_schedules ORDER BY {_ORDER}")  # noqa: S608
        return [decode(tuple(row)) for row in rows]

    async def set_fee_schedule(self, schedule: FeeSchedule) -> bool:
        """Insert ``schedule``, or give the schedule of its key its amount and
        currency; ``True`` if that changed anything."""
        sql = (f"{_INSERT} ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET "
               "amount = excluded.amount, currency = excluded.currency, updated_at = now() "
               "WHERE fee_schedules.amount <> excluded.amount "
               "OR fee_schedules.currency <> excluded.currency")
        async with self.transaction() as conn:
            return count(await conn.execute(sql, *encode(schedule))) > 0

    async def remove_fee_schedule(
            self, schedule_key: tuple[str, str, str, str, str, str, date]) -> bool:
        """Remove the schedule of ``schedule_key``; ``True`` if there was one."""
        match = " AND ".join(f"{column} = ${i}" for i, column in enumerate(KEY, 1))
        async with self.transaction() as conn:
            status = await conn.execute(
                f"DELETE FROM fee_schedules WHERE {match}", *schedule_key)  # noqa: S608
            return count(status) > 0

    async def seed_fee_schedules(self, schedules: Sequence[FeeSchedule]) -> int:
        """Insert the schedules whose key is absent, overwriting none; how many."""
        added = 0
        async with self.transaction() as conn:
            for schedule in schedules:
                added += count(await conn.execute(f"{_INSERT} ON CONFLICT DO NOTHING",
                                                  *encode(schedule)))
        return added
