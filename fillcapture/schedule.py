"""The CME trading week in America/Chicago: trade dates, session state, the roll.

Globex trades Sunday 17:00 to Friday 16:00 Chicago time, with a daily halt
16:00-17:00 Monday to Thursday. A moment at or after 17:00 belongs to the next
trading day; Friday evening and the weekend belong to Monday; an exchange
holiday is no trading day, so its session's moments belong to the next one.
Everything is computed in Chicago local time with ``zoneinfo``, so both DST
changes (which happen at 02:00 on a Sunday, while the market is closed) move
the UTC times of the roll and nothing else.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, time, timedelta
from enum import Enum
from zoneinfo import ZoneInfo

CHICAGO = ZoneInfo("America/Chicago")
OPEN_TIME = time(17, 0)  # the session for the next trading day opens
CLOSE_TIME = time(16, 0)  # the session for today's trading day closes
ROLL_TIME = OPEN_TIME

NO_HOLIDAYS: frozenset[date] = frozenset()


class Session(Enum):
    """Whether Globex trades at a moment."""

    OPEN = "open"
    HALT = "halt"  # the daily 16:00-17:00 maintenance halt, Monday to Thursday
    CLOSED = "closed"  # the weekend, or a holiday's session


def is_trading_day(day: date, holidays: Collection[date] = NO_HOLIDAYS) -> bool:
    return day.weekday() < 5 and day not in holidays


def next_trading_day(day: date, holidays: Collection[date] = NO_HOLIDAYS) -> date:
    """The first trading day after ``day``."""
    day += timedelta(days=1)
    while not is_trading_day(day, holidays):
        day += timedelta(days=1)
    return day


def _session_day(local: datetime) -> date:
    """The calendar day whose session ``local`` (Chicago time) falls in, before
    weekends and holidays are skipped: at or after 17:00 it is tomorrow's."""
    day = local.date()
    if local.time() >= ROLL_TIME:
        day += timedelta(days=1)
    return day


def _local(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        raise ValueError("the trading calendar needs timezone-aware timestamps")
    return ts.astimezone(CHICAGO)


def trade_date(ts: datetime, holidays: Collection[date] = NO_HOLIDAYS) -> date:
    """The CME trade date of an aware timestamp."""
    day = _session_day(_local(ts))
    while not is_trading_day(day, holidays):
        day += timedelta(days=1)
    return day


def session_state(ts: datetime, holidays: Collection[date] = NO_HOLIDAYS) -> Session:
    """Whether Globex is open at ``ts``: open, in the daily halt, or closed."""
    local = _local(ts)
    if CLOSE_TIME <= local.time() < OPEN_TIME:
        # Between the close and the next open: the daily halt on a weekday
        # whose evening reopens, else closed.
        day = local.date()
        if (day.weekday() < 4 and is_trading_day(day, holidays)
                and is_trading_day(day + timedelta(days=1), holidays)):
            return Session.HALT
        return Session.CLOSED
    day = _session_day(local)
    return Session.OPEN if is_trading_day(day, holidays) else Session.CLOSED


def roll_moment(day: date) -> datetime:
    """When the trade date ``day`` ends and T4 forgets it: 17:00 Chicago on the
    calendar day ``day`` (a Monday's session opened the evening before)."""
    return datetime.combine(day, ROLL_TIME, tzinfo=CHICAGO)


def close_moment(day: date) -> datetime:
    """When trading for the trade date ``day`` stops: 16:00 Chicago that day."""
    return datetime.combine(day, CLOSE_TIME, tzinfo=CHICAGO)


def loses_fills(start: datetime, end: datetime, holidays: Collection[date] = NO_HOLIDAYS
                ) -> bool:
    """Whether an outage from ``start`` to ``end`` may have lost fills for good.

    After the outage the snapshot gives back the trade date of ``end`` only;
    T4 has forgotten every earlier one. Fills are lost if the outage covered
    trading of an earlier trade date: from before that day's close, or over a
    whole trading day. An outage that began in the halt or over the weekend
    and ended in the next session spans a roll but lost nothing.
    """
    first, last = trade_date(start, holidays), trade_date(end, holidays)
    if first == last:
        return False
    return start < close_moment(first) or next_trading_day(first, holidays) < last


def unrecoverable_at(start: datetime, holidays: Collection[date] = NO_HOLIDAYS) -> datetime:
    """When an outage begun at ``start`` and lasting starts to lose fills for
    good, the moment :func:`loses_fills` turns true: the roll of its trade
    date, once T4 forgets the day; for one begun after that day's close (in
    the halt, so it lost nothing of it), the next trading day's roll."""
    first = trade_date(start, holidays)
    if start < close_moment(first):
        return roll_moment(first)
    return roll_moment(next_trading_day(first, holidays))
