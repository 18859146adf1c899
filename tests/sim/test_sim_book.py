"""The simulator's calendar, price and ledger rules, without a socket."""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from fillcapture.sim import LedgerFill, SimConfig, read_ledger
from fillcapture.sim.book import MARKETS, cme_trade_date, dotnet_ticks
from fillcapture.sim.config import login_result
from fillcapture.sim.ledger import LedgerWriter

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


FILL = LedgerFill(
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
BUST_TIME = datetime.datetime(2026, 11, 19, 23, 6, 0, 5, tzinfo=datetime.UTC)


def test_ledger_json_round_trip() -> None:
    data = FILL.to_json()
    assert data["exchange_time"] == "2026-11-19T23:05:01.000120Z"
    assert data["trade_date"] == "2026-11-20"
    assert data["busted_at"] is None
    assert LedgerFill.from_json(data) == FILL
    busted = dataclasses.replace(FILL, busted_at=BUST_TIME)
    assert busted.to_json()["busted_at"] == "2026-11-19T23:06:00.000005Z"
    assert LedgerFill.from_json(busted.to_json()) == busted
    del data["busted_at"]  # a line written before busts existed
    assert LedgerFill.from_json(data) == FILL


def test_ledger_file_applies_bust_lines(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    leg = dataclasses.replace(FILL, exchange_trade_id="1-8", sequence_order=3, leg_index=1)
    other_leg = dataclasses.replace(leg, leg_index=0, price="6013.00")
    busted_leg = dataclasses.replace(leg, busted_at=BUST_TIME)
    writer = LedgerWriter(path)
    # A fill busted in the tick that made it is written as made, then busted.
    writer.write([FILL, other_leg, busted_leg], [busted_leg])
    writer.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line.get("kind") for line in lines] == [None, None, None, "bust"]
    assert [line["busted_at"] for line in lines[:3]] == [None, None, None]
    assert lines[3] == {
        "kind": "bust",
        "firm": "SIMFIRM",
        "account_id": "a-id",
        "order_id": "o-id",
        "exchange_trade_id": "1-8",
        "sequence_order": 3,
        "leg_index": 1,
        "busted_at": "2026-11-19T23:06:00.000005Z",
    }
    assert read_ledger(path) == [FILL, other_leg, busted_leg]

    # A bust line still being written is not read yet.
    bust = json.dumps(
        {**lines[3], "exchange_trade_id": "1-7", "sequence_order": 2, "leg_index": None}
    )
    with path.open("a") as handle:
        handle.write(bust[:30])
    assert read_ledger(path) == [FILL, other_leg, busted_leg]
    with path.open("a") as handle:
        handle.write(bust[30:] + "\n")
    busted_fill = dataclasses.replace(FILL, busted_at=BUST_TIME)
    assert read_ledger(path) == [busted_fill, other_leg, busted_leg]


def test_ledger_file_refuses_a_bust_of_an_unknown_fill(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    writer = LedgerWriter(path)
    writer.write([], [dataclasses.replace(FILL, busted_at=BUST_TIME)])
    writer.close()
    with pytest.raises(ValueError, match="not in the ledger"):
        read_ledger(path)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("LOGGED_IN_ELSEWHERE", 6),
        ("LOGIN_RESULT_LOGGED_IN_ELSEWHERE", 6),
        ("logged_in_elsewhere", 6),
        ("6", 6),
        (6, 6),
        ("UNKNOWN", -1),
        ("-1", -1),
    ],
)
def test_login_result_by_name_or_number(value: str | int, expected: int) -> None:
    assert login_result(value) == expected


@pytest.mark.parametrize("value", ["ELSEWHERE", "15", 99, ""])
def test_login_result_rejects_what_is_not_one(value: str | int) -> None:
    with pytest.raises(ValueError, match="LoginResult"):
        login_result(value)


@pytest.mark.parametrize(
    "bad",
    [
        {"accounts": ()},
        {"accounts": ("1", "1")},
        {"visible": ("99999",)},
        {"fills_per_second": -1.0},
        {"snapshot_chunk": 0},
        {"heartbeat_interval": 0.0},
        {"spread_fraction": 1.5},
        {"bust_fraction": -0.1},
        {"duplicate_fraction": math.nan},
        {"fill_before_order_fraction": 2.0},
        {"malformed_fraction": -1.0},
        {"drop_every": 0.0},
        {"drop_random": math.inf},
        {"reorder_window": -1},
        {"refuse_login": 0},
        {"refuse_login": 99},
        {"refuse_logins": 2},
        {"refuse_logins": 0, "refuse_login": 6},
        {"stall_after": -1.0},
        {"stall_seconds": 0.0},
    ],
)
def test_config_rejects_nonsense(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        SimConfig(**bad)  # type: ignore[arg-type]
