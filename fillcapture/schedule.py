"""The CME trading week in America/Chicago: which trade date a moment belongs to.

Globex trades Sunday 17:00 to Friday 16:00 Chicago time; anything at or after
17:00 belongs to the next business day, and weekends roll to Monday.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

CHICAGO = ZoneInfo("America/Chicago")
ROLL_TIME = time(17, 0)


def trade_date(ts: datetime) -> date:
    """The CME trade date of an aware timestamp."""
    if ts.tzinfo is None:
        raise ValueError("trade_date needs a timezone-aware timestamp")
    local = ts.astimezone(CHICAGO)
    day = local.date()
    if local.time() >= ROLL_TIME:
        day += timedelta(days=1)
    # Saturday and Sunday sessions (Friday evening, Sunday evening) trade for Monday.
    if day.weekday() == 5:
        day += timedelta(days=2)
    elif day.weekday() == 6:
        day += timedelta(days=1)
    return day


def roll_moment(day: date) -> datetime:
    """When the trade date ``day`` ends: 17:00 Chicago on the calendar day ``day``
    (for a Monday, that is Monday 17:00; the session opened the evening before)."""
    return datetime.combine(day, ROLL_TIME, tzinfo=CHICAGO)
