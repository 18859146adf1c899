"""The CME trading week in America/Chicago: trade dates, sessions, holidays, DST, outages."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from fillcapture.schedule import (
    CHICAGO,
    Session,
    is_trading_day,
    loses_fills,
    next_trading_day,
    roll_moment,
    session_state,
    trade_date,
)


@pytest.mark.parametrize(("local", "expected"), [
    (datetime(2026, 11, 23, 9, 0), date(2026, 11, 23)),     # Monday day session
    (datetime(2026, 11, 23, 16, 59, 59), date(2026, 11, 23)),
    (datetime(2026, 11, 23, 17, 0), date(2026, 11, 24)),     # at the roll
    (datetime(2026, 11, 20, 17, 30), date(2026, 11, 23)),    # Friday evening → Monday
    (datetime(2026, 11, 22, 18, 0), date(2026, 11, 23)),     # Sunday open → Monday
    (datetime(2026, 3, 8, 17, 30), date(2026, 3, 9)),        # DST starts that Sunday
    (datetime(2026, 11, 1, 17, 30), date(2026, 11, 2)),      # DST ends that Sunday
])
def test_trade_date(local: datetime, expected: date) -> None:
    assert trade_date(local.replace(tzinfo=CHICAGO)) == expected
    assert trade_date(local.replace(tzinfo=CHICAGO).astimezone(UTC)) == expected


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        trade_date(datetime(2026, 11, 23, 9, 0))


# The trading week by hand, keyed by Chicago weekday (Monday 0) and hour:
# (session, calendar days from the local date to the trade date).
def _expected(weekday: int, hour: int) -> tuple[Session, int]:
    if weekday <= 3:  # Monday to Thursday
        if hour < 16:
            return Session.OPEN, 0
        return (Session.HALT, 0) if hour == 16 else (Session.OPEN, 1)
    if weekday == 4:  # Friday: closes at 16:00 for the weekend
        return (Session.OPEN, 0) if hour < 16 else (Session.CLOSED, 0 if hour == 16 else 3)
    if weekday == 5:  # Saturday
        return Session.CLOSED, 2
    return (Session.CLOSED, 1) if hour < 17 else (Session.OPEN, 1)  # Sunday


def test_every_hour_of_2026_against_the_hand_made_week() -> None:
    # 2026 has both DST changes (8 March, 1 November); step through it in UTC,
    # so the 23- and 25-hour Chicago days are walked exactly as they happen.
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    checked = 0
    while moment.year == 2026:
        local = moment.astimezone(CHICAGO)
        state, days = _expected(local.weekday(), local.hour)
        assert session_state(moment) is state, local
        assert trade_date(moment) == local.date() + timedelta(days=days), local
        moment += timedelta(hours=1)
        checked += 1
    assert checked == 8760


def test_the_roll_is_17_00_chicago_in_both_offsets() -> None:
    # Winter (CST, UTC-6) and summer (CDT, UTC-5).
    assert roll_moment(date(2026, 1, 5)).astimezone(UTC).hour == 23
    assert roll_moment(date(2026, 7, 6)).astimezone(UTC).hour == 22
    # The first session after each change opens on Sunday 17:00 local time.
    for sunday, utc_hour in ((date(2026, 3, 8), 22), (date(2026, 11, 1), 23)):
        before = datetime.combine(sunday, time(16, 59), tzinfo=CHICAGO)
        after = datetime.combine(sunday, time(17, 0), tzinfo=CHICAGO)
        assert session_state(before) is Session.CLOSED
        assert session_state(after) is Session.OPEN
        assert after.astimezone(UTC).hour == utc_hour


THANKSGIVING = date(2026, 11, 26)
HOLIDAYS = frozenset({THANKSGIVING, date(2026, 12, 25)})


@pytest.mark.parametrize(("local", "state", "expected"), [
    # Wednesday before Thanksgiving: no halt-then-reopen, the evening is closed.
    (datetime(2026, 11, 25, 16, 30), Session.CLOSED, date(2026, 11, 25)),
    (datetime(2026, 11, 25, 18, 0), Session.CLOSED, date(2026, 11, 27)),
    (datetime(2026, 11, 26, 10, 0), Session.CLOSED, date(2026, 11, 27)),
    (datetime(2026, 11, 26, 17, 0), Session.OPEN, date(2026, 11, 27)),
    # Christmas on a Friday: Thursday evening is closed, the next trade date is Monday.
    (datetime(2026, 12, 24, 18, 0), Session.CLOSED, date(2026, 12, 28)),
    (datetime(2026, 12, 27, 17, 0), Session.OPEN, date(2026, 12, 28)),
])
def test_holidays_are_no_trading_days(local: datetime, state: Session, expected: date) -> None:
    moment = local.replace(tzinfo=CHICAGO)
    assert session_state(moment, HOLIDAYS) is state
    assert trade_date(moment, HOLIDAYS) == expected
    assert is_trading_day(expected, HOLIDAYS)
    assert next_trading_day(date(2026, 11, 25), HOLIDAYS) == date(2026, 11, 27)


@pytest.mark.parametrize(("start", "end", "lost"), [
    # Within one trade date: the snapshot gives everything back.
    (datetime(2026, 11, 23, 9, 0), datetime(2026, 11, 23, 15, 0), False),
    # Across the roll from before the close: that day's last fills are gone.
    (datetime(2026, 11, 23, 15, 58), datetime(2026, 11, 23, 17, 5), True),
    # From the halt to the next session: nothing traded, nothing lost.
    (datetime(2026, 11, 23, 16, 30), datetime(2026, 11, 23, 17, 30), False),
    # Friday after the close to Sunday's open: the weekend lost nothing.
    (datetime(2026, 11, 20, 16, 10), datetime(2026, 11, 22, 18, 0), False),
    # From the halt over a whole trading day: that day is gone.
    (datetime(2026, 11, 23, 16, 30), datetime(2026, 11, 25, 9, 0), True),
])
def test_which_outages_lose_fills(start: datetime, end: datetime, lost: bool) -> None:
    assert loses_fills(start.replace(tzinfo=CHICAGO), end.replace(tzinfo=CHICAGO)) is lost
