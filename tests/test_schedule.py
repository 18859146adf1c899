"""The CME trade-date rule in America/Chicago, across weekends and DST."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from fillcapture.schedule import CHICAGO, trade_date


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
