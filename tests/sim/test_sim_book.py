"""The simulator's calendar, price and ledger rules, without a socket."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest

from fillcapture.sim import LedgerFill, SimConfig
from fillcapture.sim.book import MARKETS, cme_trade_date, dotnet_ticks

CHICAGO = ZoneInfo("America/Chicago")


def chicago(year: int, month: int, day: int, hour: int, minute: int) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, minute, tzinfo=CHICAGO)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (chicago(2026, 11, 17, 16, 59), datetime.date(2026, 11, 17)),  # Tuesday before the roll
        (chicago(2026, 11, 17, 17, 0), datetime.date(2026, 11, 18)),  # Tuesday at the roll
        (chicago(2026, 11, 20, 15, 0), datetime.date(2026, 11, 20)),  # Friday session
        (chicago(2026, 11, 20, 17, 30), datetime.date(2026, 11, 23)),  # Friday evening: Monday
        (chicago(2026, 11, 21, 12, 0), datetime.date(2026, 11, 23)),  # Saturday: Monday
        (chicago(2026, 11, 22, 18, 0), datetime.date(2026, 11, 23)),  # Sunday open: Monday
        (chicago(2026, 3, 9, 17, 5), datetime.date(2026, 3, 10)),  # the day after DST starts
    ],
)
def test_cme_trade_date(moment: datetime.datetime, expected: datetime.date) -> None:
    assert cme_trade_date(moment) == expected
    assert cme_trade_date(moment.astimezone(datetime.UTC)) == expected


def test_dotnet_ticks() -> None:
    assert dotnet_ticks(datetime.date(1, 1, 2)) == 864_000_000_000
    # .NET's DateTime(1970, 1, 1).Ticks, the well-known Unix epoch offset
    assert dotnet_ticks(datetime.date(1970, 1, 1)) == 621_355_968_000_000_000


def test_price_text_uses_the_ticks_decimals() -> None:
    by_symbol = {market.market_id.split()[1]: market for market in MARKETS}
    assert by_symbol["ES"].price_text(24049) == "6012.25"
    assert by_symbol["CL"].price_text(7041) == "70.41"
    assert by_symbol["6E"].price_text(21703) == "1.08515"
    assert by_symbol["GC"].price_text(26003) == "2600.3"


def test_ledger_json_round_trip() -> None:
    fill = LedgerFill(
        firm="SIMFIRM",
        account_id="a-id",
        account="11111",
        order_id="o-id",
        exchange_trade_id="1-7",
        sequence_order=2,
        leg_index=None,
        market_id="XCME_Eq ES (Z26)",
        side="SELL",
        volume=3,
        price="6012.25",
        exchange_time=datetime.datetime(2026, 11, 19, 23, 5, 1, 120, tzinfo=datetime.UTC),
        trade_date=datetime.date(2026, 11, 20),
    )
    data = fill.to_json()
    assert data["exchange_time"] == "2026-11-19T23:05:01.000120Z"
    assert data["trade_date"] == "2026-11-20"
    assert LedgerFill.from_json(data) == fill


@pytest.mark.parametrize(
    "bad",
    [
        {"accounts": ()},
        {"accounts": ("1", "1")},
        {"visible": ("99999",)},
        {"fills_per_second": -1.0},
        {"snapshot_chunk": 0},
        {"heartbeat_interval": 0.0},
    ],
)
def test_config_rejects_nonsense(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        SimConfig(**bad)  # type: ignore[arg-type]
