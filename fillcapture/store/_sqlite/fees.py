"""The SQLite engine's fees role: the fee schedules, a row per schedule key.

Dates are ISO text, amounts exact decimal text, ``updated_at`` microseconds
UTC (see :mod:`fillcapture.store.feerows` for the row's shape).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

from fillcapture.fees import FeeSchedule
from fillcapture.store._sqlite.plumbing import Plumbing
from fillcapture.store._sqlite.rows import utc_micros
from fillcapture.store.feerows import COLUMNS, KEY, decode, encode

_KEY_MATCH = " AND ".join(f"{column} = ?" for column in KEY)
_INSERT = (f"INSERT INTO fee_schedules ({', '.join(COLUMNS)}, updated_at) "  # noqa: S608
           f"VALUES ({', '.join('?' * (len(COLUMNS) + 1))})")


def _row(schedule: FeeSchedule, now: int) -> tuple[object, ...]:
    values = list(encode(schedule))
    values[6] = schedule.effective_from.isoformat()
    return (*values, now)


def _now() -> int:
    return utc_micros(datetime.now(UTC))


class FeesRole(Plumbing):
    """Fee schedules kept, replaced, removed and seeded."""

    async def fee_schedules(self) -> list[FeeSchedule]:
        """Every schedule, by key."""
        rows = await self._all(f"SELECT {', '.join(COLUMNS)} FROM fee_schedules "  # noqa: S608
                               f"ORDER BY {', '.join(KEY)}")
        return [decode(tuple(row)) for row in rows]

    async def set_fee_schedule(self, schedule: FeeSchedule) -> bool:
        """Insert ``schedule``, or give the schedule of its key its amount and
        currency; ``True`` if that changed anything."""
        sql = (f"{_INSERT} ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET "
               "amount = excluded.amount, currency = excluded.currency, "
               "updated_at = excluded.updated_at "
               "WHERE amount <> excluded.amount OR currency <> excluded.currency")
        async with self._writing() as conn:
            cursor = await conn.execute(sql, _row(schedule, _now()))
            return int(cursor.rowcount) > 0

    async def remove_fee_schedule(
            self, schedule_key: tuple[str, str, str, str, str, str, date]) -> bool:
        """Remove the schedule of ``schedule_key``; ``True`` if there was one."""
        values = [*schedule_key[:6], schedule_key[6].isoformat()]
        async with self._writing() as conn:
            cursor = await conn.execute(
                f"DELETE FROM fee_schedules WHERE {_KEY_MATCH}", values)  # noqa: S608
            return int(cursor.rowcount) > 0

    async def seed_fee_schedules(self, schedules: Sequence[FeeSchedule]) -> int:
        """Insert the schedules whose key is absent, overwriting none; how many."""
        now, added = _now(), 0
        async with self._writing() as conn:
            for schedule in schedules:
                cursor = await conn.execute(f"{_INSERT} ON CONFLICT DO NOTHING",
                                            _row(schedule, now))
                added += int(cursor.rowcount)
        return added
