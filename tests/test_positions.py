"""Recorded positions: a summary that starts from them equals one from the first fill.

Real SQLite files; the reference is the summary of every stored fill with no
recorded positions, computed the way it was before positions existed.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from fillcapture.model import Bust, Fill, OrderSide, Side
from fillcapture.positions import record_positions
from fillcapture.reports import DailyRow, DailySummary, summarize
from fillcapture.store import AccountActivity, FillQuery, Owner, Store
from tests.conftest import store_at
from tests.store.factories import make_fill

DAYS = [date(2026, 11, 2) + timedelta(days=n) for n in range(12) if n % 7 < 5]
MARKETS = ("XCME_Eq ES (Z26)", "XNYM_En CL (F27)")
ACCOUNTS = ("11111", "22222", "33333")


def _fills(seed: int, days: list[date], start: int = 0) -> list[Fill]:
    """Random trading: partial closes, flips through zero, odd prices, a few
    fills of unknown side and spread legs; two firms share account 11111."""
    rng = random.Random(seed)
    fills = []
    for n, day in enumerate(days):
        for k in range(rng.randint(5, 40)):
            number = start + n * 1000 + k
            firm = "OTHERFIRM" if rng.random() < 0.1 else "SIMFIRM"
            account = ACCOUNTS[rng.randrange(3)] if firm == "SIMFIRM" else "11111"
            roll = rng.random()
            side = None if roll < 0.03 else Side.BUY if roll < 0.52 else Side.SELL
            price = f"{rng.randint(5990, 6010)}.{rng.choice(['00', '25', '5', '75'])}"
            when = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=14,
                                                                               seconds=k)
            fills.append(make_fill(
                number, firm=firm, account=account, account_id=f"acc-{account}",
                order_id=f"order-{number}", side=side, volume=rng.randint(1, 7),
                price_text=price, market_id=MARKETS[rng.randrange(2)], exchange_time=when,
                trade_date=day, leg_index=0 if rng.random() < 0.03 else None))
    return fills


def _noon(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=18)


async def _reference(store: Store, query: FillQuery, since: date | None
                     ) -> list[DailyRow]:
    """The summary computed from every fill, as if nothing were recorded."""
    summary = DailySummary(since=since)
    async for fill in store.fills(query):
        summary.add(fill)
    return summary.rows()


@asynccontextmanager
async def _open(path: Path, fills: list[Fill]) -> AsyncIterator[Store]:
    async with store_at(path) as store:
        await store.seed_registry([Owner("A", None, "11111"), Owner("B", None, "22222"),
                                   Owner("B", None, "33333")])
        await store.insert_fills(fills)
        yield store


@pytest.mark.parametrize("seed", range(6))
async def test_summaries_from_recorded_positions_equal_the_full_ones(
    tmp_path: Path, seed: int,
) -> None:
    async with _open(tmp_path / "fills.db", _fills(seed, DAYS)) as store:
        for day in DAYS[:-2]:  # the nightly seals
            for firm in ("SIMFIRM", "OTHERFIRM"):
                assert await record_positions(store, firm, day) is not None
        queries = [FillQuery(user="A", include_busted=False),
                   FillQuery(user="B", include_busted=False),
                   FillQuery(user="B", account="33333", include_busted=False),
                   FillQuery(user="A", market_id=MARKETS[1], include_busted=False)]
        compared = 0
        for query in queries:
            for until in (None, DAYS[-4], DAYS[-2], DAYS[-1]):
                for since in (None, *DAYS):
                    bounded = replace(query, until=until)
                    expected = await _reference(store, bounded, since)
                    assert await summarize(store, bounded, since=since) == expected
                    compared += len(expected)
        assert compared > 1000
        # Rows of recorded days are read as recorded; the last two days computed.
        assert await store.summary_coverage("SIMFIRM") == DAYS[-3]
        recorded = await store.summary_rows(FillQuery(user="A"), None, None)
        assert recorded
        assert max(row.trade_date for row in recorded) <= DAYS[-3]
        # The checkpoints are used: a summary from the last day reads one day of fills.
        day = await store.position_day("SIMFIRM", DAYS[-1])
        assert day is not None
        assert day.trade_date == DAYS[-3]
        assert day.books


async def test_a_position_records_the_open_lots_oldest_first(tmp_path: Path) -> None:
    day = DAYS[0]
    fills = [
        make_fill(1, side=Side.BUY, volume=2, price_text="6000.00", trade_date=day),
        make_fill(2, side=Side.BUY, volume=3, price_text="6001.25", trade_date=day),
        make_fill(3, side=Side.SELL, volume=1, price_text="6002.00", trade_date=day),
        make_fill(4, side=Side.SELL, volume=9, price_text="5999.00",
                  market_id=MARKETS[1], trade_date=day),
    ]
    async with _open(tmp_path / "fills.db", fills) as store:
        positions = await record_positions(store, "SIMFIRM", day)
        assert positions is not None
        assert positions.books == {
            ("11111", MARKETS[0]): ((Decimal("6000.00"), 1), (Decimal("6001.25"), 3)),
            ("11111", MARKETS[1]): ((Decimal("5999.00"), -9),),
        }
        assert await store.position_day("SIMFIRM", day + timedelta(days=1)) == positions


async def test_changes_to_recorded_days_discard_their_positions(tmp_path: Path) -> None:
    fills = _fills(11, DAYS)
    query = FillQuery(user="A", include_busted=False)
    since = DAYS[-1]
    async with _open(tmp_path / "fills.db", fills) as store:
        for day in DAYS[:-1]:
            await record_positions(store, "SIMFIRM", day)
        # A late fill of a recorded day (an amendment of a sealed day).
        late = make_fill(99_001, account="11111", account_id="acc-11111", side=Side.BUY,
                         volume=5, price_text="6100.00", trade_date=DAYS[3],
                         exchange_time=datetime.combine(DAYS[3], datetime.min.time(), UTC)
                         + timedelta(hours=20))
        await store.insert_amendments([late], [])
        found = await store.position_day("SIMFIRM", since)
        assert found is not None
        assert found.trade_date < DAYS[3]
        assert await summarize(store, query, since=since) == await _reference(
            store, query, since)

        # A bust of a recorded day, recorded again first.
        for day in DAYS[3:-1]:
            await record_positions(store, "SIMFIRM", day)
        victim = next(f for f in fills if f.account == "11111" and f.firm == "SIMFIRM"
                      and f.side is not None and f.leg_index is None and f.trade_date == DAYS[2])
        await store.insert_amendments([], [Bust(victim, victim.exchange_time)])
        found = await store.position_day("SIMFIRM", since)
        assert found is not None
        assert found.trade_date < DAYS[2]
        assert await summarize(store, query, since=since) == await _reference(
            store, query, since)

        # A side learned late for a fill of a recorded day.
        for day in DAYS[2:-1]:
            await record_positions(store, "SIMFIRM", day)
        sideless = next(f for f in fills if f.side is None and f.firm == "SIMFIRM"
                        and f.trade_date < DAYS[-1])
        assert await store.resolve_sides(
            [OrderSide("SIMFIRM", sideless.account_id, sideless.order_id, Side.SELL)]) == 1
        found = await store.position_day("SIMFIRM", since)
        assert found is None or found.trade_date < sideless.trade_date
        for user in ("A", "B"):
            user_query = FillQuery(user=user, include_busted=False)
            assert await summarize(store, user_query, since=since) == await _reference(
                store, user_query, since)


async def test_a_change_during_a_computation_keeps_its_result_out(tmp_path: Path) -> None:
    async def computed(store: Store, through: date) -> DailySummary:
        summary = DailySummary()
        async for fill in store.fills(FillQuery(firm="SIMFIRM", until=through,
                                                include_busted=False)):
            summary.add(fill)
        return summary

    async with _open(tmp_path / "fills.db", _fills(3, DAYS)) as store:
        mark = await store.invalidation_mark()
        summary = await computed(store, DAYS[4])
        late = make_fill(99_002, trade_date=DAYS[1], side=Side.SELL, volume=4,
                         exchange_time=_noon(DAYS[1]))
        await store.insert_amendments([late], [])  # lands while the result is computed
        assert not await store.save_positions(
            summary.positions("SIMFIRM", DAYS[4]), mark, summary.rows(), [], None)
        assert await store.position_day("SIMFIRM", DAYS[-1]) is None
        assert await store.summary_coverage("SIMFIRM") is None

        # A change to a later day than the one computed does not matter.
        mark = await store.invalidation_mark()
        summary = await computed(store, DAYS[0])
        await store.insert_amendments(
            [make_fill(99_003, trade_date=DAYS[2], exchange_time=_noon(DAYS[2]))], [])
        assert await store.save_positions(
            summary.positions("SIMFIRM", DAYS[0]), mark, summary.rows(), [], None)
        assert await store.summary_coverage("SIMFIRM") == DAYS[0]
        query = FillQuery(user="A", include_busted=False)
        assert await summarize(store, query) == await _reference(store, query, None)


async def test_old_positions_thin_out_to_month_ends(tmp_path: Path) -> None:
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(120)]
    async with _open(tmp_path / "fills.db", [make_fill(1, trade_date=days[0])]) as store:
        for day in days:
            assert await record_positions(store, "SIMFIRM", day) is not None
        kept = [row[0] for row in await store._all(
            "SELECT trade_date FROM position_days ORDER BY trade_date")]
        recent = [d.isoformat() for d in days if d >= days[-1] - timedelta(days=31)]
        assert kept == ["2026-01-31", "2026-02-28", *recent]
        positions = await store.position_day("SIMFIRM", date(2026, 3, 15))
        assert positions is not None
        assert positions.trade_date == date(2026, 2, 28)
        assert positions.books == {("11111", "XCME_Eq ES (Z26)"): ((make_fill(1).price, 1),)}


async def test_a_long_unrecorded_stretch_is_recorded_a_month_at_a_time(tmp_path: Path) -> None:
    days = [date(2026, 1, 5) + timedelta(days=n) for n in range(100) if n % 7 < 5]
    async with _open(tmp_path / "fills.db", _fills(21, days)) as store:
        assert await store.first_trade_date("SIMFIRM") == days[0]
        assert await record_positions(store, "SIMFIRM", days[-1]) is not None
        recorded = [row[0] for row in await store._all(
            "SELECT trade_date FROM position_days ORDER BY trade_date")]
        assert recorded == ["2026-01-31", "2026-02-28", "2026-03-31", days[-1].isoformat()]
        assert await store.summary_coverage("SIMFIRM") == days[-1]
        query = FillQuery(user="B", include_busted=False)
        for since in (None, date(2026, 2, 2), date(2026, 3, 31), days[-1]):
            assert await summarize(store, query, since=since) == await _reference(
                store, query, since)


async def test_a_late_side_of_an_unrecorded_day_discards_nothing(tmp_path: Path) -> None:
    today = make_fill(99_004, side=None, trade_date=DAYS[-1], exchange_time=_noon(DAYS[-1]))
    async with _open(tmp_path / "fills.db", [*_fills(5, DAYS[:-1]), today]) as store:
        await record_positions(store, "SIMFIRM", DAYS[-2])
        mark = await store.invalidation_mark()
        assert await store.resolve_sides(
            [OrderSide("SIMFIRM", today.account_id, today.order_id, Side.BUY)]) == 1
        assert await store.invalidation_mark() == mark
        recorded = await store.position_day("SIMFIRM", DAYS[-1])
        assert recorded is not None
        assert recorded.trade_date == DAYS[-2]
        assert await store.summary_coverage("SIMFIRM") == DAYS[-2]


async def _activity_reference(store: Store, user: str) -> list[AccountActivity]:
    """Each registry entry's activity counted from its owned fills, one by one."""
    found = []
    for owner in await store.user_accounts(user) or []:
        live, busted = [], 0
        query = FillQuery(user=user, account=owner.account, firm=owner.firm)
        async for fill in store.fills(query):
            if fill.busted:
                busted += 1
            else:
                live.append(fill)
        found.append(AccountActivity(
            owner.firm, owner.account, len(live), sum(f.volume for f in live), busted,
            min((f.exchange_time for f in live), default=None),
            max((f.exchange_time for f in live), default=None)))
    return found


async def test_account_activity_from_records_equals_the_fills(tmp_path: Path) -> None:
    fills = _fills(8, DAYS)
    async with _open(tmp_path / "fills.db", fills) as store:
        await store.add_user("C", ["11111"], firm="OTHERFIRM", force=True)  # takes it from A
        owned = [f for f in fills if f.side is not None and f.leg_index is None]
        await store.insert_busts([Bust(f, f.exchange_time) for f in owned[::37]])
        users = ("A", "B", "C")
        before = {user: await store.account_activity(user) for user in users}
        assert before["C"][0].fills > 0
        assert sum(a.busted for activity in before.values() for a in activity) > 0
        for day in DAYS[:-2]:
            for firm in ("SIMFIRM", "OTHERFIRM"):
                await record_positions(store, firm, day)
        assert {user: await store.account_activity(user) for user in users} == before
        for user in users:
            assert before[user] == await _activity_reference(store, user)

        # A late fill and a bust of recorded days: the records give way.
        late = make_fill(99_005, trade_date=DAYS[2], exchange_time=_noon(DAYS[2]), volume=3)
        await store.insert_amendments([late], [Bust(owned[5], owned[5].exchange_time)])
        for user in users:
            assert await store.account_activity(user) == await _activity_reference(store, user)
        for day in DAYS[:-1]:
            await record_positions(store, "SIMFIRM", day)
        for user in users:
            assert await store.account_activity(user) == await _activity_reference(store, user)
