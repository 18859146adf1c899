"""Suspect trade dates: the pure check against the CME rule, and the counting
and once-per-date warning of the decoder's hook."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from fillcapture.feeds.t4.decode import Decoder
from fillcapture.feeds.t4.proto import service_pb2
from fillcapture.feeds.t4.tradedate import (
    COUNTER,
    DISAGREES,
    TICKS_PER_DAY,
    note_suspect,
    trade_date_check,
)
from fillcapture.metrics import Metrics
from fillcapture.model import Fill
from fillcapture.schedule import CHICAGO, trade_date


def ticks(day: date) -> int:
    return (day - date(1, 1, 1)).days * TICKS_PER_DAY


def chicago(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHICAGO).astimezone(UTC)


TUESDAY = date(2026, 11, 24)
MONDAY = date(2026, 11, 23)


def test_a_midnight_of_the_cme_trade_date_is_fine() -> None:
    assert trade_date_check(ticks(TUESDAY), chicago(2026, 11, 24, 10, 0)) is None
    # From 17:00 the day before: Monday evening trades for Tuesday.
    assert trade_date_check(ticks(TUESDAY), chicago(2026, 11, 23, 17, 0)) is None
    assert trade_date_check(ticks(TUESDAY), chicago(2026, 11, 24, 16, 59, 59)) is None
    # Friday evening and the weekend trade for Monday.
    assert trade_date_check(ticks(MONDAY), chicago(2026, 11, 20, 17, 30)) is None
    assert trade_date_check(ticks(MONDAY), chicago(2026, 11, 22, 17, 0)) is None


def test_a_date_that_is_no_midnight_is_suspect() -> None:
    found = trade_date_check(ticks(TUESDAY) + 1, chicago(2026, 11, 24, 10, 0))
    assert found == "not a midnight in .NET ticks (1 ticks past it)"
    assert trade_date_check(0, chicago(2026, 11, 24, 10, 0)) == "not a .NET ticks date"
    assert trade_date_check(-5, chicago(2026, 11, 24, 10, 0)) == "not a .NET ticks date"


def test_a_day_the_cme_rule_does_not_give_is_suspect() -> None:
    assert trade_date_check(ticks(TUESDAY), chicago(2026, 11, 24, 17, 0)) == DISAGREES
    assert trade_date_check(ticks(TUESDAY), chicago(2026, 11, 23, 16, 59)) == DISAGREES
    saturday = date(2026, 11, 21)  # no moment trades for a weekend day
    assert trade_date_check(ticks(saturday), chicago(2026, 11, 21, 12, 0)) == DISAGREES
    assert trade_date_check(ticks(MONDAY), chicago(2026, 11, 20, 16, 0)) == DISAGREES


@given(st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2099, 1, 1),
                    timezones=st.just(UTC)),
       st.integers(-3, 3))
def test_the_check_agrees_with_the_schedule(moment: datetime, shift: int) -> None:
    day = trade_date(moment) + timedelta(days=shift)
    expected = None if shift == 0 else DISAGREES
    assert trade_date_check(ticks(day), moment) == expected


def test_across_both_dst_changes() -> None:
    # 2026-03-08 and 2026-11-01 (Sundays): the roll moves in UTC, the rule does not.
    for sunday in (date(2026, 3, 8), date(2026, 11, 1)):
        monday = sunday + timedelta(days=1)
        evening = chicago(sunday.year, sunday.month, sunday.day, 17, 0)
        assert trade_date_check(ticks(monday), evening) is None
        assert trade_date_check(ticks(monday), evening - timedelta(seconds=1)) is None
        assert trade_date_check(ticks(monday), chicago(
            monday.year, monday.month, monday.day, 17, 0)) == DISAGREES


def _trade_frame(order_id: str, trade_id: str, raw: int, when: datetime) -> bytes:
    message = service_pb2.ServerMessage()
    trade = message.order_update_trade
    trade.unique_id = order_id
    trade.account_id = "acc-1"
    trade.market_id = "XCME_Eq ES (Z26)"
    trade.exchange_trade_id = trade_id
    trade.volume = 1
    trade.price.value = "6000.25"
    trade.exchange_time.FromDatetime(when)
    trade.trade_date = raw
    return message.SerializeToString()


def _decode(decoder: Decoder, frame: bytes) -> list[Fill]:
    fills: list[Fill] = []
    decoder.handle("order_update_trade", service_pb2.ServerMessage.FromString(frame),
                   fills, [], [])
    return fills


def test_the_decoder_counts_each_suspect_fill_and_warns_once_per_account_and_date() -> None:
    metrics = Metrics()
    decoder = Decoder("SIMFIRM", metrics)
    decoder.learn_account("acc-1", "11111")
    when = chicago(2026, 11, 24, 10, 0)
    with capture_logs() as logs:
        stored = [f for n in range(5)
                  for f in _decode(decoder, _trade_frame("o1", f"T{n}", ticks(TUESDAY) + 7, when))]
        stored += _decode(decoder, _trade_frame("o2", "W1", ticks(MONDAY), when))  # wrong day
        stored += _decode(decoder, _trade_frame("o3", "G1", ticks(TUESDAY), when))  # fine
    assert metrics[COUNTER] == 6
    assert [f.trade_date for f in stored] == [TUESDAY] * 5 + [MONDAY, TUESDAY]  # T4's dates kept
    warnings = [e for e in logs if e["event"] == "fill.trade_date_suspect"]
    assert [(w["log_level"], w["account"], w["trade_date"], w["reason"]) for w in warnings] == [
        ("warning", "11111", "2026-11-24", "not a midnight in .NET ticks (7 ticks past it)"),
        ("warning", "11111", "2026-11-23", f"{DISAGREES} (2026-11-24)"),
    ]


def test_warnings_are_per_daemon_metrics() -> None:
    when = chicago(2026, 11, 24, 10, 0)
    with capture_logs() as logs:
        for metrics in (Metrics(), Metrics()):
            for _ in range(3):
                note_suspect(metrics, "F", "acc-1", "11111", 0, when, "not a .NET ticks date")
    assert len([e for e in logs if e["event"] == "fill.trade_date_suspect"]) == 2
