"""The capture writer: group commit, bounded queue, back-pressure, drain on stop."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from fillcapture.metrics import Metrics
from fillcapture.model import Fill, FillsReceived, OrderSide, Side
from fillcapture.store import FillQuery, SqliteStore
from fillcapture.writer import CaptureWriter

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

    async def insert_fills(self, fills: list[Fill]) -> int:  # type: ignore[override]
        await asyncio.sleep(0.02)
        return await super().insert_fills(fills)


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
    async with SqliteStore(tmp_path / "fills.db") as store:
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
