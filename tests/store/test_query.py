"""The store's query side: filters, (exchange_time, id) order, paging and early close.

Streams read through their own connection while the capture path keeps writing.
"""

from __future__ import annotations

from contextlib import aclosing
from datetime import date, timedelta
from typing import Any

import pytest

from fillcapture.store import FillQuery, Store, StoreError
from tests.store.factories import T0, make_fill


async def trade_ids(store: Store, query: FillQuery) -> list[str]:
    return [fill.exchange_trade_id async for fill in store.fills(query)]


async def test_order_is_exchange_time_then_insertion(store: Store) -> None:
    late = make_fill(1, exchange_time=T0 + timedelta(seconds=5))
    same_a = make_fill(2, exchange_time=T0)
    early = make_fill(3, exchange_time=T0 - timedelta(microseconds=1))
    same_b = make_fill(4, exchange_time=T0)
    await store.insert_fills([late, same_a])
    await store.insert_fills([early, same_b])

    assert await trade_ids(store, FillQuery()) == ["T3", "T2", "T4", "T1"]


async def test_filters_combine(store: Store) -> None:
    days = [date(2024, 3, day) for day in (1, 4, 5, 6)]
    await store.insert_fills(
        [
            make_fill(n, trade_date=day, account=account, firm=firm)
            for n, (day, account, firm) in enumerate(
                (day, account, firm)
                for day in days
                for account in ("11111", "22222")
                for firm in ("F1", "F2")
            )
        ]
    )

    async def count(**criteria: Any) -> int:
        return len(await trade_ids(store, FillQuery(**criteria)))

    assert await count() == 16
    assert await count(account="11111") == 8
    assert await count(firm="F2") == 8
    assert await count(since=days[1]) == 12  # inclusive
    assert await count(until=days[1]) == 8  # inclusive
    assert await count(since=days[1], until=days[2]) == 8
    assert await count(account="22222", firm="F1", since=days[3]) == 1


async def test_stream_sees_one_snapshot_while_capture_goes_on(store: Store) -> None:
    await store.insert_fills([make_fill(n) for n in range(20)])
    seen: list[str] = []
    async for fill in store.fills(FillQuery()):
        seen.append(fill.exchange_trade_id)
        if len(seen) == 1:
            # The writer commits while the stream is open; it is not blocked.
            assert await store.insert_fills([make_fill(n) for n in range(20, 30)]) == 10

    assert len(seen) == 20
    assert await store.count_fills() == 30


async def test_closing_a_stream_early_frees_its_connection(store: Store) -> None:
    await store.insert_fills([make_fill(n) for n in range(10)])

    async with aclosing(store.fills(FillQuery())) as stream:
        async for _fill in stream:
            assert len(store._readers) == 1
            break
    assert store._readers == set()


async def test_close_ends_open_streams(store: Store) -> None:
    await store.insert_fills([make_fill(n) for n in range(10)])
    stream = store.fills(FillQuery())
    await anext(stream)

    await store.close()

    assert store._readers == set()
    with pytest.raises(StoreError, match="closed while reading"):
        async for _fill in stream:
            pass
