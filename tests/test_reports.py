"""The daily summary: FIFO P&L, VWAPs and positions, against hand-computed cases."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from fillcapture.model import Side
from fillcapture.reports import (
    PRICES_KEPT,
    REPORT_COLUMNS,
    DailyRow,
    DailySummary,
    decimal_text,
    report_row,
)
from fillcapture.store import FillKind, StoredFill

ES = "XCME_Eq ES (Z26)"
CL = "XNYM_En CL (F27)"
EUR = "XCME_FX 6E (Z26)"
DAY1, DAY2, DAY3 = date(2026, 11, 19), date(2026, 11, 20), date(2026, 11, 23)
BUY, SELL = Side.BUY, Side.SELL

_made = 0


def fill(side: Side | None, volume: int, price: str, market: str = ES, *,
         day: date = DAY1, account: str = "11111", firm: str = "SIMFIRM",
         busted: bool = False, leg_index: int | None = None,
         kind: FillKind = "outright") -> StoredFill:
    """The next fill in time (one second after the previous one made here)."""
    global _made
    _made += 1
    when = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=14, seconds=_made)
    return StoredFill(
        user="A", firm=firm, account=account, account_id=f"acc-{account}",
        order_id=f"o{_made}", exchange_trade_id=f"T{_made}", sequence_order=1,
        leg_index=leg_index, market_id=market, side=side, volume=volume, price=price,
        exchange_time=when, trade_date=day, busted=busted, captured_at=when, kind=kind)


def summarize(fills: Iterable[StoredFill], **options: Any) -> list[DailyRow]:
    summary = DailySummary(**options)
    for each in fills:
        summary.add(each)
    return summary.rows()


def only(rows: list[DailyRow]) -> DailyRow:
    assert len(rows) == 1, rows
    return rows[0]


def test_round_trip_realizes_the_price_difference_times_the_volume() -> None:
    row = only(summarize([fill(BUY, 2, "6012.25"), fill(SELL, 2, "6013.50")],
                         point_values={ES: Decimal(50)}))
    assert (row.trade_date, row.firm, row.account, row.market_id) == (DAY1, "SIMFIRM", "11111",
                                                                      ES)
    assert (row.buys, row.buy_volume, row.buy_vwap) == (1, 2, Decimal("6012.25"))
    assert (row.sells, row.sell_volume, row.sell_vwap) == (1, 2, Decimal("6013.50"))
    assert row.pnl_points == Decimal("2.50")  # 1.25 points x 2 contracts
    assert row.pnl_currency == Decimal("125.00")  # x $50 a point
    assert row.net_position == 0
    assert (row.unknown_side, row.spread_legs) == (0, 0)


def test_a_sell_closes_several_lots_and_partial_lots_stay_open() -> None:
    row = only(summarize([
        fill(BUY, 3, "6000.00"), fill(BUY, 2, "6001.00"), fill(BUY, 1, "6002.00"),
        fill(SELL, 4, "6003.00"),  # 3 x +3.00, 1 x +2.00: +11.00; 1 @ 6001 and 1 @ 6002 left
        fill(SELL, 1, "6000.50"),  # closes the 6001.00: -0.50
        fill(SELL, 1, "6001.75"),  # closes the 6002.00: -0.25
    ]))
    assert row.pnl_points == Decimal("10.25")
    assert (row.buys, row.buy_volume, row.sells, row.sell_volume) == (3, 6, 3, 6)
    # (3 x 6000 + 2 x 6001 + 6002) / 6 = 6000.6666..., to 2 + 4 decimals, half even.
    assert decimal_text(row.buy_vwap or Decimal(0)) == "6000.666667"
    # (4 x 6003 + 6000.50 + 6001.75) / 6 = 6002.375 exactly.
    assert decimal_text(row.sell_vwap or Decimal(0)) == "6002.375"
    assert row.net_position == 0


def test_fifo_closes_the_oldest_lot_not_the_average() -> None:
    fills = [fill(BUY, 1, "70.00", CL), fill(BUY, 1, "71.00", CL), fill(SELL, 1, "70.50", CL)]
    first = only(summarize(fills))
    # FIFO: 70.50 - 70.00. An average cost of 70.50 would realize nothing.
    assert first.pnl_points == Decimal("0.50")
    assert first.net_position == 1
    rest = only(summarize([*fills, fill(SELL, 1, "71.00", CL)]))
    assert rest.pnl_points == Decimal("0.50")  # the 71.00 lot closed flat


def test_a_short_is_covered_oldest_first() -> None:
    row = only(summarize([
        fill(SELL, 3, "1.08500", EUR),
        fill(BUY, 1, "1.08450", EUR),  # +0.00050
        fill(BUY, 2, "1.08520", EUR),  # 2 x -0.00020
    ], point_values={EUR: Decimal(125000)}))
    assert decimal_text(row.pnl_points) == "0.00010"
    assert row.pnl_currency == Decimal("12.50")
    assert row.net_position == 0
    assert row.sell_vwap == Decimal("1.085")
    # (1.08450 + 2 x 1.08520) / 3 = 1.084966666..., to 5 + 4 decimals.
    assert decimal_text(row.buy_vwap or Decimal(0)) == "1.084966667"


def test_a_fill_through_zero_closes_what_it_can_and_opens_the_rest() -> None:
    rows = summarize([
        fill(BUY, 2, "50.00", CL, day=DAY1),
        fill(SELL, 5, "51.00", CL, day=DAY1),  # closes 2 long (+2.00), opens 3 short at 51.00
        fill(BUY, 3, "49.00", CL, day=DAY2),  # covers the 3 short: 3 x +2.00
        fill(BUY, 1, "49.50", CL, day=DAY2),  # opens 1 long
    ])
    assert [(r.trade_date, r.pnl_points, r.net_position) for r in rows] == [
        (DAY1, Decimal("2.00"), -3),
        (DAY2, Decimal("6.00"), 1),
    ]


def test_positions_carry_across_days_and_since_only_hides_earlier_rows() -> None:
    fills = [
        fill(BUY, 2, "6000.00", day=DAY1),
        fill(BUY, 1, "6010.00", day=DAY2),
        fill(SELL, 2, "6005.00", day=DAY3),  # closes the DAY1 lot: 2 x +5.00
    ]
    everything = summarize(fills)
    assert [(r.trade_date, r.pnl_points, r.net_position) for r in everything] == [
        (DAY1, Decimal(0), 2), (DAY2, Decimal(0), 3), (DAY3, Decimal("10.00"), 1)]
    row = only(summarize(fills, since=DAY3))
    assert (row.trade_date, row.pnl_points, row.net_position) == (DAY3, Decimal("10.00"), 1)
    assert (row.buys, row.buy_volume, row.buy_vwap) == (0, 0, None)


def test_busted_fills_are_neither_counted_nor_matched() -> None:
    row = only(summarize([
        fill(BUY, 1, "100.00", CL, busted=True),
        fill(BUY, 1, "101.00", CL),
        fill(SELL, 1, "103.00", CL),  # against 101.00: the busted 100.00 never existed
        fill(SELL, 4, "90.00", CL, busted=True),
    ]))
    assert row.pnl_points == Decimal("2.00")
    assert (row.buys, row.buy_volume, row.sells, row.sell_volume) == (1, 1, 1, 1)
    assert row.net_position == 0


def test_fills_of_unknown_side_are_left_out_and_counted() -> None:
    rows = summarize([
        fill(BUY, 2, "100.00", CL, day=DAY1),
        fill(None, 1, "101.00", CL, day=DAY1),
        fill(SELL, 1, "102.00", CL, day=DAY1),
        fill(None, 3, "99.00", CL, day=DAY2),  # a day of nothing else still gets its row
    ])
    assert [(r.trade_date, r.buy_volume, r.sell_volume, r.pnl_points, r.net_position,
             r.unknown_side) for r in rows] == [
        (DAY1, 2, 1, Decimal("2.00"), 1, 1),
        (DAY2, 0, 0, Decimal(0), 1, 1),
    ]


def test_pending_legs_are_left_out_and_counted_a_spread_without_legs_is_a_market() -> None:
    spread = "XCME_Eq ES (Z26-H27)"
    row = only(summarize([
        # Legs whose spread's definition has not arrived: no contract, no side.
        fill(None, 1, "6012.25", spread, leg_index=0, kind="pending_leg"),
        fill(None, 1, "6040.50", spread, leg_index=1, kind="pending_leg"),
        # Trades of the spread market whose orders have no legs: the spread
        # as one instrument.
        fill(BUY, 1, "-28.25", spread),
        fill(SELL, 1, "-27.75", spread),
    ]))
    assert (row.market_id, row.spread_legs, row.unknown_side) == (spread, 2, 0)
    assert (row.buy_volume, row.sell_volume, row.pnl_points) == (1, 1, Decimal("0.50"))


def test_legs_count_on_their_own_contracts_and_spread_trades_never() -> None:
    spread, front, back = "XCME_Eq ES (Z26-H27)", "XCME_Eq ES (Z26)", "XCME_Eq ES (H27)"
    rows = summarize([
        # A calendar spread bought at -28.25: its legs buy Z26, sell H27; the
        # spread-level trade is kept but counts nowhere.
        fill(BUY, 1, "-28.25", spread, kind="spread"),
        fill(BUY, 1, "6012.25", front, leg_index=0, kind="leg"),
        fill(SELL, 1, "6040.50", back, leg_index=1, kind="leg"),
        # Then sold at -27.75: its legs close both.
        fill(SELL, 1, "-27.75", spread, kind="spread"),
        fill(SELL, 1, "6013.00", front, leg_index=0, kind="leg"),
        fill(BUY, 1, "6040.75", back, leg_index=1, kind="leg"),
    ])
    assert [(r.market_id, r.buys, r.sells, r.pnl_points, r.net_position, r.spread_legs)
            for r in rows] == [
        (back, 1, 1, Decimal("-0.25"), 0, 0),
        (front, 1, 1, Decimal("0.75"), 0, 0),
    ]
    # The legs realize what the spread did: -27.75 - -28.25.
    assert sum(r.pnl_points for r in rows) == Decimal("0.50")


def test_accounts_firms_and_markets_are_matched_apart() -> None:
    rows = summarize([
        fill(BUY, 1, "100.00", CL, account="11111"),
        fill(SELL, 1, "101.00", CL, account="22222"),  # not a close of 11111's long
        fill(SELL, 1, "99.00", CL, account="11111", firm="OTHERFIRM"),  # nor this
        fill(SELL, 1, "6000.00", ES, account="11111"),  # nor this: another market
        fill(SELL, 1, "102.00", CL, account="11111"),  # this is: +2.00
    ])
    assert [(r.firm, r.account, r.market_id, r.pnl_points, r.net_position) for r in rows] == [
        ("OTHERFIRM", "11111", CL, Decimal(0), -1),
        ("SIMFIRM", "11111", ES, Decimal(0), -1),
        ("SIMFIRM", "11111", CL, Decimal("2.00"), 0),
        ("SIMFIRM", "22222", CL, Decimal(0), -1),
    ]


def test_negative_prices_are_exact() -> None:
    row = only(summarize([
        fill(BUY, 1, "-37.63", CL), fill(SELL, 1, "10.01", CL),  # +47.64
        fill(SELL, 2, "-37.63", CL), fill(BUY, 2, "-40.32", CL),  # 2 x +2.69
    ], point_values={CL: Decimal(1000)}))
    assert row.pnl_points == Decimal("53.02")
    assert row.pnl_currency == Decimal("53020.00")
    # (-37.63 + 2 x -40.32) / 3 = -39.4233..., half even at 6 decimals.
    assert decimal_text(row.buy_vwap or Decimal(0)) == "-39.423333"


def test_arithmetic_never_rounds_even_past_28_digits() -> None:
    # Decimal's default context keeps 28 digits; these need 37.
    row = only(summarize([
        fill(BUY, 3, "123456789012345678.000000000000000001", CL),
        fill(SELL, 3, "123456789012345679.000000000000000003", CL),
    ]))
    assert decimal_text(row.pnl_points) == "3.000000000000000006"
    assert decimal_text(row.buy_vwap or Decimal(0)) == "123456789012345678.000000000000000001"


def test_vwap_rounds_half_to_even_four_decimals_past_the_prices() -> None:
    # 1/32 = 0.03125 and 3/32 = 0.09375: exactly halfway at the fifth decimal.
    down = only(summarize([fill(BUY, 31, "0"), fill(BUY, 1, "1")]))
    up = only(summarize([fill(BUY, 29, "0"), fill(BUY, 3, "1")]))
    assert (down.buy_vwap, up.buy_vwap) == (Decimal("0.0312"), Decimal("0.0938"))


def test_report_row_gives_decimals_as_plain_strings() -> None:
    row = only(summarize([fill(BUY, 1, "0.0000010"), fill(SELL, 1, "0.0000015")]))
    values = report_row(row)
    assert values["pnl_points"] == "0.0000005"  # str() would say 5E-7
    assert values["pnl_currency"] is None
    assert values["trade_date"] == "2026-11-19"
    assert (values["buy_vwap"], values["net_position"]) == ("0.0000010", 0)


def test_report_row_has_every_report_column_in_order() -> None:
    row = only(summarize([fill(BUY, 2, "10.25"), fill(SELL, 1, "10.5")]))
    values = report_row(row)
    assert tuple(values) == REPORT_COLUMNS
    assert values == {name: (f"{value:f}" if isinstance(value, Decimal) else
                             value.isoformat() if isinstance(value, date) else value)
                      for name in REPORT_COLUMNS for value in [getattr(row, name)]}


def test_a_summary_of_more_prices_than_it_keeps_parsed_is_still_exact() -> None:
    fills = [fill(BUY, 1, f"{100 + n / 100:.2f}") for n in range(PRICES_KEPT + 10)]
    fills += [fill(SELL, PRICES_KEPT + 10, "200")]
    row = only(summarize(fills))
    bought = sum(Decimal(f"{100 + n / 100:.2f}") for n in range(PRICES_KEPT + 10))
    assert row.pnl_points == Decimal(200) * (PRICES_KEPT + 10) - bought
