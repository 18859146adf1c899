"""The capture writer: group commit, bounded queue, back-pressure, drain on stop."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from fillcapture.metrics import Metrics
from fillcapture.model import (
    Fill,
    FillsReceived,
    Market,
    MarketsSeen,
    OrderSide,
    Quarantined,
    RecordsQuarantined,
    Side,
    SnapshotReceived,
)
from fillcapture.store import CaptureBatch, CaptureResult, FillQuery, StoreError
from fillcapture.store._sqlite import SqliteStore
from fillcapture.writer import CaptureWriter
from tests.conftest import store_at

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def _fills(start: int, count: int, side: Side | None = Side.BUY) -> tuple[Fill, ...]:
    return tuple(
        Fill("F", "acc", "11111", f"o{i // 2}", f"T{i}", i % 2 + 1, None, "XCME_Eq ES (Z26)",
             side, 1, Decimal("6000.25"), "6000.25", T0 + timedelta(microseconds=i),
             date(2026, 11, 23))
        for i in range(start, start + count)
    )


class SlowStore(SqliteStore):
    """A real SQLite store whose commits take 20 ms longer: a stalled disk."""

    async def capture(self, batch: CaptureBatch) -> CaptureResult:
        await asyncio.sleep(0.02)
        return await super().capture(batch)


async def test_slow_store_pauses_the_feed_instead_of_growing_the_queue(tmp_path: Path) -> None:
    async with SlowStore(tmp_path / "fills.db") as store:
        writer = CaptureWriter(store, Metrics(), batch_size=300, queue_fills=500)
        runner = asyncio.create_task(writer.run())
        high_water = 0
        for frame in range(100):
            await writer.put(FillsReceived(_fills(frame * 100, 100), 0))
            high_water = max(high_water, writer.queued)
        await writer.stop()
        await runner
        assert await store.count_fills() == 10_000
    assert high_water <= 500 + 100
    assert writer.metrics["fills.captured"] == 10_000
    # Group commit: far fewer commits than frames.
    assert writer.metrics["store.commits"] < 100


async def test_duplicates_are_counted_not_stored_and_sides_resolve(tmp_path: Path) -> None:
    async with store_at(tmp_path / "fills.db") as store:
        writer = CaptureWriter(store, Metrics())
        runner = asyncio.create_task(writer.run())
        await writer.put(FillsReceived(_fills(0, 10, side=None), 0))
        await writer.put(FillsReceived(_fills(0, 10, side=None), 0))
        await writer.put(OrderSide("F", "acc", "o0", Side.SELL))
        await writer.stop()
        await runner
        rows = [fill async for fill in store.fills(FillQuery())]
    assert writer.metrics["fills.captured"] == 10
    assert writer.metrics["fills.duplicate"] == 10
    assert writer.metrics["fills.side_resolved"] == 2
    assert [r.side for r in rows if r.order_id == "o0"] == [Side.SELL, Side.SELL]
    assert all(r.side is None for r in rows if r.order_id != "o0")


class CountingStore(SqliteStore):
    """A real SQLite store that keeps the snapshot counts it was asked to save."""

    saved: list[SnapshotReceived]

    async def capture(self, batch: CaptureBatch) -> CaptureResult:
        self.saved.extend(batch.snapshots)
        return await super().capture(batch)


async def test_a_snapshots_frames_in_one_batch_save_their_counts_once(tmp_path: Path) -> None:
    monday, tuesday = date(2026, 11, 23), date(2026, 11, 24)
    frames = [
        SnapshotReceived("F", "acc", "11111", ((monday, 100),), 0, True),
        SnapshotReceived("F", "acc", "11111", ((monday, 200),), 1, False),
        SnapshotReceived("F", "acc", "11111", ((monday, 250), (tuesday, 5)), 1, False),
        # The same snapshot once its number is known otherwise: kept apart.
        SnapshotReceived("F", "acc", "11112", ((monday, 300), (tuesday, 5)), 2, False),
    ]
    async with CountingStore(tmp_path / "fills.db") as store:
        store.saved = []
        writer = CaptureWriter(store, Metrics())
        await writer.put(FillsReceived(_fills(0, 10), 0))
        for frame in frames:
            await writer.put(frame)
        runner = asyncio.create_task(writer.run())
        await writer.stop()
        await runner
    # A batch ends at a snapshot's first frame: saved with the fills before
    # it. The later frames' counts are cumulative: in one batch, the last of
    # them says all.
    assert store.saved == [frames[0], frames[2], frames[3]]
    with sqlite3.connect(tmp_path / "fills.db") as conn:
        rows = conn.execute("SELECT account, trade_date, fills, fills_mark FROM snapshot_counts "
                            "ORDER BY account, trade_date").fetchall()
    assert rows == [("11111", "2026-11-23", 250, 10), ("11111", "2026-11-24", 5, 10),
                    ("11112", "2026-11-23", 300, 10), ("11112", "2026-11-24", 5, 10)]


async def test_a_batch_that_fails_stores_none_of_its_parts(tmp_path: Path) -> None:
    # One transaction per batch: a fill the store refuses (a naive time) takes
    # the batch's market and quarantined record down with it, so the batch can
    # be retried whole instead of leaving half of it stored.
    market = Market("XCME_Eq ES (Z26)", "CME_Eq", "ES", Decimal(50))
    record = Quarantined("F", "acc", "11111", "o9", "invalid_price", "price 'x'", "trade",
                         b"raw", date(2026, 11, 23), T0)
    naive = Fill("F", "acc", "11111", "o9", "T9", 1, None, "XCME_Eq ES (Z26)", Side.BUY, 1,
                 Decimal("6000.25"), "6000.25", T0.replace(tzinfo=None), date(2026, 11, 23))
    async with store_at(tmp_path / "fills.db") as store:
        writer = CaptureWriter(store, Metrics())
        await writer.put(MarketsSeen((market,)))
        await writer.put(RecordsQuarantined((record,)))
        await writer.put(FillsReceived((*_fills(1, 5), naive), 0))
        await writer.stop()
        with pytest.raises(StoreError, match="naive datetime"):
            await writer.run()
        assert await store.markets() == {}
        assert await store.quarantined() == []
        assert await store.count_fills() == 0
