"""Busts in the store: never a delete; the fill is marked busted and the bust is its own record."""

from __future__ import annotations

from datetime import timedelta

from fillcapture.model import Bust
from fillcapture.store import FillQuery, Store
from tests.store.factories import T0, make_fill

BUST_TIME = T0 + timedelta(hours=1)


async def _busted(store: Store, include_busted: bool = True) -> dict[str, bool]:
    query = FillQuery(include_busted=include_busted)
    return {fill.order_id: fill.busted async for fill in store.fills(query)}


async def test_a_bust_of_a_fill_never_seen_stores_that_fill_busted(store: Store) -> None:
    missed = make_fill(7)

    assert await store.insert_busts([Bust(missed, BUST_TIME)]) == (1, 1)
    # The fill itself arriving later (a snapshot) is a duplicate.
    assert await store.insert_fills([missed]) == 0

    assert await _busted(store) == {"order-7": True}


async def test_busted_fills_are_hidden_unless_asked_for(store: Store) -> None:
    fills = [make_fill(n) for n in range(3)]
    await store.insert_fills(fills)
    await store.insert_busts([Bust(fills[0], BUST_TIME)])

    assert await _busted(store, include_busted=False) == {"order-1": False, "order-2": False}


async def test_a_leg_bust_busts_that_leg_only(store: Store) -> None:
    legs = [make_fill(1, leg_index=0), make_fill(1, leg_index=1)]
    assert await store.insert_fills(legs) == 2

    await store.insert_busts([Bust(legs[1], BUST_TIME)])

    found = {fill.leg_index: fill.busted async for fill in store.fills(FillQuery())}
    assert found == {0: False, 1: True}


async def test_a_batch_of_busts_counts_each_new_bust_once(store: Store) -> None:
    fills = [make_fill(n) for n in range(5)]
    await store.insert_fills(fills[:3])
    assert await store.insert_busts([Bust(fills[0], BUST_TIME)]) == (0, 1)

    # One already recorded, one given twice in the batch, two of fills never seen.
    batch = [Bust(fills[0], BUST_TIME), Bust(fills[1], BUST_TIME),
             Bust(fills[1], BUST_TIME + timedelta(minutes=1)), Bust(fills[2], BUST_TIME),
             Bust(fills[3], BUST_TIME), Bust(fills[4], BUST_TIME)]
    assert await store.insert_busts(batch) == (2, 4)
    assert await store.count_busts() == 5
    assert await _busted(store) == {f"order-{n}": True for n in range(5)}
