"""The outbox: the store read in commit order from a saved place, busts never
before their fill, and the floors that deletes of the newest rows set."""

from __future__ import annotations

from datetime import timedelta

from fillcapture.model import Bust
from fillcapture.store import OutboxCursor, Owner, Store
from tests.store.factories import DAY, make_fill


def _orders(fills: list[object]) -> list[str]:
    return [fill.order_id for fill in fills]  # type: ignore[attr-defined]


async def test_batches_follow_commit_order_with_the_owner_now(store: Store) -> None:
    await store.seed_registry([Owner("A", None, "11111")])
    await store.insert_fills([make_fill(2), make_fill(1)])  # commit order, not time order
    await store.insert_fills([make_fill(3, account="55555")])

    first = await store.outbox_batch(OutboxCursor(), 2)
    assert _orders(first.fills) == ["order-2", "order-1"]
    assert first.cursor == OutboxCursor(2, 0)
    rest = await store.outbox_batch(first.cursor, 2)
    assert _orders(rest.fills) == ["order-3"]
    assert [fill.user for fill in first.fills + rest.fills] == ["A", "A", None]
    assert (await store.outbox_batch(rest.cursor, 2)).fills == []


async def test_a_bust_waits_for_its_fill(store: Store) -> None:
    await store.insert_fills([make_fill(0), make_fill(1)])
    # A bust of a fill never seen stores the fill with it, newest.
    await store.insert_busts([Bust(make_fill(2), make_fill(2).exchange_time)])

    batch = await store.outbox_batch(OutboxCursor(), 2)
    assert _orders(batch.fills) == ["order-0", "order-1"]
    assert batch.busts == []
    assert batch.cursor == OutboxCursor(2, 0)
    batch = await store.outbox_batch(batch.cursor, 2)
    assert _orders(batch.fills) == ["order-2"]
    ((fill, busted_at),) = batch.busts
    assert (fill.order_id, fill.busted, busted_at) == ("order-2", True, make_fill(2).exchange_time)
    assert batch.cursor == OutboxCursor(3, 1)


async def test_the_place_is_saved_per_publisher(store: Store) -> None:
    assert (await store.outbox("p")).cursor == OutboxCursor()
    await store.save_outbox("p", OutboxCursor(7, 2))
    await store.save_outbox("q", OutboxCursor(1, 0))
    await store.save_outbox("p", OutboxCursor(9, 3))
    assert (await store.outbox("p")).cursor == OutboxCursor(9, 3)
    assert (await store.outbox("q")).cursor == OutboxCursor(1, 0)


async def test_deleting_the_newest_rows_sets_a_floor_until_cleared(store: Store) -> None:
    old = DAY - timedelta(days=40)
    await store.insert_fills([make_fill(n) for n in range(3)])
    await store.insert_fills([make_fill(n, trade_date=old) for n in range(3, 5)])
    await store.save_outbox("p", OutboxCursor(5, 0))
    await store.prune(DAY - timedelta(days=30))  # rows 4 and 5 go

    seen = await store.outbox("p")
    assert (seen.fills_floor, seen.busts_floor, seen.newest) == (3, None, OutboxCursor(3, 0))
    assert seen.resume(OutboxCursor(5, 0)) == OutboxCursor(3, 0)
    assert seen.resume(OutboxCursor(2, 0)) == OutboxCursor(2, 0)
    await store.insert_fills([make_fill(9)])  # SQLite: row id 4 again
    batch = await store.outbox_batch(seen.resume(OutboxCursor(5, 0)), 10)
    assert _orders(batch.fills) == ["order-9"]

    await store.save_outbox("p", batch.cursor, seen=seen)
    cleared = await store.outbox("p")
    assert (cleared.cursor, cleared.fills_floor) == (batch.cursor, None)


async def test_a_floor_lowered_again_is_not_cleared_by_an_older_read(
    store: Store,
) -> None:
    await store.insert_fills([make_fill(0), make_fill(1, trade_date=DAY - timedelta(days=35)),
                              make_fill(2, trade_date=DAY - timedelta(days=45))])
    await store.save_outbox("p", OutboxCursor(3, 0))
    await store.prune(DAY - timedelta(days=40))
    seen = await store.outbox("p")
    assert seen.fills_floor == 2
    await store.prune(DAY - timedelta(days=30))  # a second delete, between read and save

    await store.save_outbox("p", OutboxCursor(2, 0), seen=seen)
    assert (await store.outbox("p")).fills_floor == 1


async def test_an_outbox_reader_of_the_store_reads_what_commits_while_it_is_open(
        store: Store) -> None:
    await store.insert_fills([make_fill(1)])
    async with store.outbox_reader() as reader:
        first = await reader.outbox_batch(OutboxCursor(), 10)
        await store.insert_fills([make_fill(2), make_fill(3)])
        outbox = await reader.outbox("p")
        rest = await reader.outbox_batch(first.cursor, 10)
    assert _orders(first.fills) == ["order-1"]
    assert _orders(rest.fills) == ["order-2", "order-3"]
    # What a publisher needs of the place without reading its numbers.
    assert (outbox.backlog(first.cursor), outbox.backlog(rest.cursor)) == (2, 0)
    assert not outbox.rewound
    assert str(rest.cursor) == "3/0"
    assert await store.count_fills() == 3, "the store stays open and usable after the reader"
