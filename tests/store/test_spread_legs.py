"""Spread legs in a real store: legs from before (migration 13, SQLite), what
placing a leg or marking a spread trade does to recorded days, and a batch of
late legs marking their orders' spread trades (both engines)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fillcapture.model import LEG, Fill, Side, SpreadDefinition, SpreadLeg
from fillcapture.positions import record_positions
from fillcapture.reports import DailySummary, summarize
from fillcapture.store import FillQuery, Owner, Store
from fillcapture.store._sqlite import SqliteStore, migrations
from tests.store.factories import make_fill

SPREAD = "XCME_Eq ES (Z26-H27)"
FRONT, BACK = "XCME_Eq ES (Z26)", "XCME_Eq ES (H27)"
CALENDAR = SpreadDefinition(SPREAD, 1, (SpreadLeg(FRONT, 1, 1), SpreadLeg(BACK, 1, -1)))
DAY1, DAY2 = date(2026, 11, 19), date(2026, 11, 20)


def _at(day: date, second: int) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=14, seconds=second)


def _rows(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(
            "SELECT order_id, leg_index, kind, market_id, side, spread_market_id, leg_sign, "
            "order_side FROM fills ORDER BY id").fetchall()


async def test_legs_stored_before_are_pending_and_their_spread_trades_marked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "fills.db"
    with monkeypatch.context() as older:
        older.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:11])
        older.setattr(migrations, "LATEST", 11)
        async with SqliteStore(db):
            pass
    # As the version before stored them: legs on the spread's market with the
    # spread order's side, beside the order's spread-level trade.
    with sqlite3.connect(db) as conn:
        for n, (order, leg, side, price) in enumerate([
                ("s1", -1, "SELL", "-28.25"), ("s1", 0, "SELL", "6012.25"),
                ("s1", 1, "SELL", "6040.50"), ("o2", -1, "BUY", "6013.00")]):
            conn.execute(
                "INSERT INTO fills (firm, account_id, account, order_id, trade_key, leg_index, "
                "exchange_trade_id, sequence_order, market_id, side, volume, price, "
                "exchange_time, trade_date, captured_at) VALUES ('SIMFIRM', 'acc-1', '11111', "
                "?, 'X1', ?, 'X1', 1, ?, ?, 1, ?, ?, '2026-11-19', 0)",
                (order, leg, FRONT if order == "o2" else SPREAD, side, price, n))
        conn.execute("INSERT INTO summary_coverage (firm, through) VALUES ('SIMFIRM', "
                     "'2026-11-19')")
    async with SqliteStore(db) as store:
        assert _rows(db) == [
            ("s1", -1, 2, SPREAD, "SELL", None, None, None),
            ("s1", 0, LEG, SPREAD, None, SPREAD, None, "SELL"),
            ("s1", 1, LEG, SPREAD, None, SPREAD, None, "SELL"),
            ("o2", -1, 0, FRONT, "BUY", None, None, None),
        ]
        # Recorded rows counted the legs out and the spread trade in: gone.
        assert await store.summary_coverage("SIMFIRM") is None
        assert await store.sideless_orders() == set()  # the order's side is known
        assert await store.save_spreads([CALENDAR]) == (1, 2)
        assert _rows(db)[1:3] == [
            ("s1", 0, LEG, FRONT, "SELL", SPREAD, 1, "SELL"),
            ("s1", 1, LEG, BACK, "BUY", SPREAD, -1, "SELL"),
        ]


async def _recorded(db: Path, fills: list[Any]) -> SqliteStore:
    store = SqliteStore(db)
    await store.__aenter__()
    await store.seed_registry([Owner("A", None, "11111")])
    await store.insert_fills(fills)
    for day in (DAY1, DAY2):
        assert await record_positions(store, "SIMFIRM", day) is not None
    assert await store.summary_coverage("SIMFIRM") == DAY2
    return store


async def _from_scratch(store: SqliteStore) -> list[Any]:
    summary = DailySummary()
    async for fill in store.fills(FillQuery(user="A", include_busted=False)):
        summary.add(fill)
    return summary.rows()


async def test_placing_legs_of_a_recorded_day_records_it_again(tmp_path: Path) -> None:
    pending = [make_fill(n, order_id="s1", exchange_trade_id="X1", leg_index=n, kind=LEG,
                         market_id=SPREAD, side=None, order_side=Side.BUY, price_text=price,
                         exchange_time=_at(DAY1, 1), trade_date=DAY1)
               for n, price in ((0, "6012.25"), (1, "6040.50"))]
    later = [make_fill(9, market_id=FRONT, side=Side.SELL, price_text="6013.25",
                       exchange_time=_at(DAY2, 1), trade_date=DAY2)]
    store = await _recorded(tmp_path / "fills.db", pending + later)
    try:
        before = await summarize(store, FillQuery(user="A"))
        assert [(r.trade_date, r.market_id, r.spread_legs, r.net_position) for r in before] == [
            (DAY1, SPREAD, 2, 0), (DAY2, FRONT, 0, -1)]
        assert await store.save_spreads([CALENDAR]) == (1, 2)
        # The recorded days from DAY1 on no longer hold: recorded again later,
        # computed from the fills meanwhile.
        assert await store.summary_coverage("SIMFIRM") == DAY1 - timedelta(days=1)
        assert await store.position_day("SIMFIRM", DAY2 + timedelta(days=1)) is None
        after = await summarize(store, FillQuery(user="A"))
        assert after == await _from_scratch(store)
        assert [(r.trade_date, r.market_id, r.buys, r.sells, r.net_position, r.pnl_points,
                 r.spread_legs) for r in after] == [
            (DAY1, BACK, 0, 1, -1, 0, 0), (DAY1, FRONT, 1, 0, 1, 0, 0),
            (DAY2, FRONT, 0, 1, 0, 1, 0)]
        assert await record_positions(store, "SIMFIRM", DAY2) is not None
        assert await summarize(store, FillQuery(user="A")) == after
    finally:
        await store.close()


async def test_a_spread_trade_of_a_recorded_day_marked_by_its_late_legs_records_it_again(
    tmp_path: Path,
) -> None:
    trade = make_fill(1, order_id="s1", exchange_trade_id="X1", market_id=SPREAD,
                      side=Side.BUY, price_text="-28.25", exchange_time=_at(DAY1, 1),
                      trade_date=DAY1)
    store = await _recorded(tmp_path / "fills.db", [trade])
    try:
        assert [(r.market_id, r.buys) for r in await summarize(store, FillQuery(user="A"))] == [
            (SPREAD, 1)]
        await store.save_spreads([CALENDAR])
        legs = [make_fill(n, order_id="s1", exchange_trade_id="X1", leg_index=n, kind=LEG,
                          market_id=leg.market_id, side=side, leg_sign=leg.direction,
                          order_side=Side.BUY, spread_market_id=SPREAD,
                          exchange_time=_at(DAY1, 1), trade_date=DAY1)
                for n, (leg, side) in enumerate(zip(CALENDAR.legs, (Side.BUY, Side.SELL),
                                                    strict=True))]
        # (Stored as plain fills: the invalidation below is the marking's.)
        assert await store.insert_fills(legs) == 2
        assert [row[2] for row in _rows(tmp_path / "fills.db")] == [2, LEG, LEG]
        assert await store.summary_coverage("SIMFIRM") == DAY1 - timedelta(days=1)
        after = await summarize(store, FillQuery(user="A"))
        assert after == await _from_scratch(store)
        assert [(r.market_id, r.buys, r.sells) for r in after] == [(BACK, 0, 1), (FRONT, 1, 0)]
    finally:
        await store.close()


def _legs(order: str, n: int) -> list[Fill]:
    return [make_fill(n + i, order_id=order, exchange_trade_id=f"X{n}", leg_index=i, kind=LEG,
                      market_id=leg.market_id, side=side, leg_sign=leg.direction,
                      order_side=Side.BUY, spread_market_id=SPREAD,
                      exchange_time=_at(DAY1, n), trade_date=DAY1)
            for i, (leg, side) in enumerate(zip(CALENDAR.legs, (Side.BUY, Side.SELL),
                                                strict=True))]


async def test_late_legs_mark_their_orders_spread_trades_in_one_batch(store: Store) -> None:
    await store.seed_registry([Owner("A", None, "11111")])
    # Three spread orders' spread-level trades stored as outright fills, and a
    # plain order of the same day that no leg names.
    trades = [make_fill(n, order_id=f"s{n}", exchange_trade_id=f"X{n}", market_id=SPREAD,
                        side=Side.BUY, price_text="-28.25", exchange_time=_at(DAY1, n),
                        trade_date=DAY1) for n in (1, 2, 3)]
    plain = make_fill(9, order_id="o9", market_id=FRONT, exchange_time=_at(DAY1, 9),
                      trade_date=DAY1)
    assert await store.insert_fills([*trades, plain]) == 4
    for day in (DAY1, DAY2):
        assert await record_positions(store, "SIMFIRM", day) is not None
    assert await store.summary_coverage("SIMFIRM") == DAY2
    await store.save_spreads([CALENDAR])

    # The legs of two of them arrive in one batch.
    assert await store.insert_fills([*_legs("s1", 1), *_legs("s2", 2)]) == 4

    kinds = {(fill.order_id, fill.leg_index): fill.kind
             async for fill in store.fills(FillQuery(include_busted=True))}
    assert kinds == {("s1", None): "spread", ("s1", 0): "leg", ("s1", 1): "leg",
                     ("s2", None): "spread", ("s2", 0): "leg", ("s2", 1): "leg",
                     ("s3", None): "outright", ("o9", None): "outright"}
    # DAY1's recorded rows counted the spread trades in: recorded again from before it.
    assert await store.summary_coverage("SIMFIRM") == DAY1 - timedelta(days=1)
