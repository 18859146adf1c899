"""The engine-neutral test helpers: ``stored_rows`` reads a store of either
engine by its URL, in the shape it reads a SQLite file in, and ``stored_count``
counts them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from fillcapture.model import Bust, Fill, Side
from fillcapture.store import open_store
from tests.conftest import stored_count, stored_rows

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
DAY = date(2026, 11, 23)


def _fill(order: str, trade: str, leg: int | None, side: Side | None, price: str) -> Fill:
    return Fill("SIMFIRM", f"id-{order}", "11111", order, trade, 1, leg, "XCME_Eq ES (Z26)",
                side, 2, Decimal(price), price, T0, DAY)


FILLS = (_fill("o1", "T1", None, Side.BUY, "6000.25"),
         _fill("o2", "T2", 0, Side.SELL, "-0.50"),
         _fill("o3", "T3", None, None, "6001"))


def _engine(url: str) -> str:
    return url.split(":", 1)[0]


async def test_stored_rows_reads_a_store_of_each_engine_by_url(
        engine_store_url: str, tmp_path: Path) -> None:
    # Before the daemon's first open: a store with no schema has no rows.
    assert stored_rows(engine_store_url) == []
    assert stored_count(engine_store_url) == 0
    async with open_store(engine_store_url) as store:
        await store.insert_fills(FILLS)
        await store.insert_busts([Bust(FILLS[1], T0)])
    # Called from this test's running event loop: it reads on a loop of its own.
    rows = stored_rows(engine_store_url, busted=True)
    assert stored_count(engine_store_url) == len(rows) == 3
    assert sorted(rows, key=str) == [
        ("SIMFIRM", "11111", "o1", "T1", None, "BUY", 2, "6000.25", False),
        ("SIMFIRM", "11111", "o2", "T2", 0, None, 2, "-0.50", True),  # a pending leg
        ("SIMFIRM", "11111", "o3", "T3", None, None, 2, "6001", False),
    ]
    assert sorted(stored_rows(engine_store_url), key=str) == [row[:8] for row in
                                                               sorted(rows, key=str)]
    if _engine(engine_store_url) == "sqlite":  # the same rows as the file read directly
        assert sorted(stored_rows(tmp_path / "fills.db", busted=True), key=str) == \
            sorted(rows, key=str)
