"""The store's capture path: idempotent inserts on the fill identity, and side resolution.

Every test writes to a real SQLite file and reads back what was committed.
"""

from __future__ import annotations

from datetime import timedelta, timezone
from decimal import Decimal

import pytest

from fillcapture.model import LEG, Bust, Fill, Market, OrderSide, Side
from fillcapture.store import (
    CaptureBatch,
    CaptureResult,
    FillQuery,
    Store,
    StoredFill,
    StoreError,
)
from tests.store.factories import DAY, T0, make_fill


async def stored(store: Store) -> list[StoredFill]:
    return [fill async for fill in store.fills(FillQuery())]


async def test_same_fills_twice_are_stored_once(store: Store) -> None:
    fills = [make_fill(n) for n in range(50)]

    assert await store.insert_fills(fills) == 50
    assert await store.insert_fills(fills) == 0
    assert await store.insert_fills([*fills[10:20], make_fill(50)]) == 1

    assert await store.count_fills() == 51


async def test_duplicates_within_one_batch_count_once(store: Store) -> None:
    assert await store.insert_fills([make_fill(1), make_fill(1), make_fill(2)]) == 2
    assert await store.count_fills() == 2


async def test_empty_batch_is_a_no_op(store: Store) -> None:
    assert await store.insert_fills([]) == 0
    assert await store.resolve_sides([]) == 0


async def test_outright_and_leg_zero_are_different_fills(store: Store) -> None:
    outright = make_fill(1, leg_index=None)
    leg0 = make_fill(1, leg_index=0)
    leg1 = make_fill(1, leg_index=1)

    assert await store.insert_fills([outright, leg0, leg1]) == 3
    assert await store.insert_fills([leg0, outright]) == 0
    assert sorted((f.leg_index is None, f.leg_index) for f in await stored(store)) == [
        (False, 0),
        (False, 1),
        (True, None),
    ]


async def test_identity_falls_back_to_sequence_order(store: Store) -> None:
    first = make_fill(1, exchange_trade_id="", sequence_order=1)
    second = make_fill(1, exchange_trade_id="", sequence_order=2)
    assert first.trade_key == "#1"

    assert await store.insert_fills([first, second]) == 2
    assert await store.insert_fills([make_fill(1, exchange_trade_id="", sequence_order=2)]) == 0
    # With an exchange trade id the sequence number is not part of the identity.
    assert await store.insert_fills([make_fill(2, sequence_order=1)]) == 1
    assert await store.insert_fills([make_fill(2, sequence_order=9)]) == 0


async def test_identity_includes_firm_and_order(store: Store) -> None:
    base = make_fill(1)
    variants = [
        make_fill(1, firm="OTHERFIRM"),
        make_fill(1, order_id="order-other"),
    ]
    assert await store.insert_fills([base, *variants]) == 3


async def test_an_order_id_names_one_account(store: Store) -> None:
    """T4 order ids are GUIDs with one account each: the account adds nothing to
    the identity, so the store leaves it out of the unique index."""
    assert await store.insert_fills([make_fill(1)]) == 1
    assert await store.insert_fills([make_fill(1, account_id="acc-22222")]) == 0


async def test_duplicate_with_side_fills_in_missing_side(store: Store) -> None:
    assert await store.insert_fills([make_fill(1, side=None), make_fill(2, side=None)]) == 2
    assert await store.sideless_orders() == {
        ("SIMFIRM", "acc-11111", "order-1"),
        ("SIMFIRM", "acc-11111", "order-2"),
    }

    assert await store.insert_fills([make_fill(1, side=Side.SELL), make_fill(3)]) == 1

    sides = {f.order_id: f.side for f in await stored(store)}
    assert sides == {"order-1": Side.SELL, "order-2": None, "order-3": Side.BUY}
    assert await store.sideless_orders() == {("SIMFIRM", "acc-11111", "order-2")}


async def test_duplicate_never_clears_or_changes_a_known_side(store: Store) -> None:
    await store.insert_fills([make_fill(1, side=Side.BUY)])
    await store.insert_fills([make_fill(1, side=None), make_fill(1, side=Side.SELL)])

    assert [f.side for f in await stored(store)] == [Side.BUY]


async def test_side_less_then_sided_copy_in_one_batch(store: Store) -> None:
    assert await store.insert_fills([make_fill(1, side=None), make_fill(1, side=Side.BUY)]) == 1
    assert [f.side for f in await stored(store)] == [Side.BUY]


async def test_resolve_sides_sets_every_side_less_fill_of_the_order(store: Store) -> None:
    await store.insert_fills(
        [
            make_fill(1, order_id="X", side=None),
            make_fill(2, order_id="X", side=None),
            make_fill(3, order_id="X", side=Side.BUY),
            make_fill(4, order_id="Y", side=None),
        ]
    )

    changed = await store.resolve_sides([OrderSide("SIMFIRM", "acc-11111", "X", Side.SELL)])

    assert changed == 2
    by_trade = {f.exchange_trade_id: f.side for f in await stored(store)}
    assert by_trade == {"T1": Side.SELL, "T2": Side.SELL, "T3": Side.BUY, "T4": None}
    assert await store.sideless_orders() == {("SIMFIRM", "acc-11111", "Y")}
    # Known sides are never overwritten; an unknown order changes nothing.
    assert await store.resolve_sides([OrderSide("SIMFIRM", "acc-11111", "X", Side.BUY)]) == 0
    assert await store.resolve_sides([OrderSide("SIMFIRM", "acc-11111", "Z", Side.BUY)]) == 0


@pytest.mark.parametrize("text", ["1.08500", "6012.25", "-0.0000001", "100", "0.1E+2"])
async def test_price_text_round_trips_exactly(store: Store, text: str) -> None:
    await store.insert_fills([make_fill(1, price_text=text)])
    (fill,) = await stored(store)
    assert fill.price == text


async def test_stored_fill_carries_every_field(store: Store) -> None:
    chicago_winter = timezone(timedelta(hours=-6))
    original = make_fill(
        7,
        leg_index=2,
        volume=5,
        market_id="XCME_C ZC (H24)",
        exchange_time=T0.astimezone(chicago_winter),
        side=Side.SELL,
        kind=LEG,
        spread_market_id="XCME_C ZC (H24-K24)",
        leg_sign=-1,
        order_side=Side.BUY,
    )
    await store.insert_fills([original])

    (fill,) = await stored(store)

    assert fill.user is None  # nobody owns 11111 yet
    assert (fill.firm, fill.account, fill.account_id) == ("SIMFIRM", "11111", "acc-11111")
    assert (fill.order_id, fill.exchange_trade_id, fill.sequence_order) == ("order-7", "T7", 1)
    assert (fill.leg_index, fill.market_id, fill.side, fill.volume) == (
        2,
        "XCME_C ZC (H24)",
        Side.SELL,
        5,
    )
    assert (fill.kind, fill.spread_market_id) == ("leg", "XCME_C ZC (H24-K24)")
    assert fill.exchange_time == T0
    assert fill.exchange_time.utcoffset() == timedelta(0)
    assert fill.trade_date == DAY
    assert fill.busted is False
    assert fill.captured_at.utcoffset() == timedelta(0)


async def test_naive_exchange_time_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="naive"):
        await store.insert_fills([make_fill(1, exchange_time=T0.replace(tzinfo=None))])
    assert await store.count_fills() == 0


async def test_a_broken_fill_fails_the_whole_batch(store: Store) -> None:
    # A constraint other than the identity must raise, not skip the row.
    broken = make_fill(2, account=None)
    with pytest.raises(StoreError, match=r"(?i)not[ -]null"):
        await store.insert_fills([make_fill(1), broken])
    assert await store.count_fills() == 0
    assert await store.insert_fills([make_fill(1)]) == 1


async def test_batches_cut_into_statements_count_new_rows_exactly(store: Store) -> None:
    """A batch is split into multi-row statements of fixed sizes; the new-row
    count must stay exact across the pieces, duplicates included."""
    first = [make_fill(n) for n in range(2743)]
    assert await store.insert_fills(first) == 2743
    overlapping = [make_fill(n) for n in range(2000, 3999)]
    assert await store.insert_fills(overlapping) == 3999 - 2743
    assert await store.count_fills() == 3999


async def test_one_capture_call_commits_a_batch_and_says_what_each_part_changed(
        store: Store) -> None:
    fills = [make_fill(n, side=None) for n in range(3)]
    result = await store.capture(CaptureBatch(
        markets=[Market("XCME_Eq ES (Z26)", "CME_Eq", "ES", Decimal(50))],
        fills=fills, recovered=[make_fill(0), make_fill(9)],
        busts=[Bust(make_fill(1), T0 + timedelta(hours=1)),
               Bust(make_fill(10), T0 + timedelta(hours=1))],
        sides=[OrderSide("SIMFIRM", "acc-11111", "order-2", Side.SELL)]))

    assert (result.markets, result.new_fills, result.recovered) == (1, 3, 1)
    assert (result.fills_from_busts, result.new_busts, result.sides_resolved) == (1, 2, 1)
    rows = {fill.order_id: fill for fill in await stored(store)}
    assert sorted(rows) == ["order-0", "order-1", "order-10", "order-2", "order-9"]
    assert rows["order-0"].side is Side.BUY  # the snapshot's duplicate knew the side
    assert rows["order-2"].side is Side.SELL
    assert rows["order-1"].busted
    assert rows["order-10"].busted
    assert await store.capture(CaptureBatch()) == CaptureResult()


async def test_a_batch_counts_its_new_fills_per_account(store: Store) -> None:
    def fill(n: int, account: str) -> Fill:
        return make_fill(n, account=account, account_id=f"acc-{account}")

    first = [fill(n, "11111") for n in range(5)] + [fill(n, "22222") for n in range(5, 8)]
    result = await store.capture(CaptureBatch(fills=first))
    assert result.by_account == {
        "11111": (5, pytest.approx((T0 + timedelta(milliseconds=4)).timestamp())),
        "22222": (3, pytest.approx((T0 + timedelta(milliseconds=7)).timestamp()))}
    # Duplicates mixed with new ones, live and from a snapshot: only the new count.
    again = await store.capture(CaptureBatch(
        fills=[*first[:4], fill(8, "22222")], recovered=[first[6], fill(9, "33333")]))
    assert again.by_account == {
        "22222": (1, pytest.approx((T0 + timedelta(milliseconds=8)).timestamp())),
        "33333": (1, pytest.approx((T0 + timedelta(milliseconds=9)).timestamp()))}
    assert (await store.capture(CaptureBatch(fills=first))).by_account == {}
