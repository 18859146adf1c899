"""Busts and spread legs on the simulator's wire, in its snapshots and in its ledger."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from fillcapture.feeds.t4.proto import orderrouting_pb2, service_pb2
from fillcapture.sim import LedgerFill, SimServer, read_ledger
from fillcapture.sim.book import SPREADS, Market
from tests.sim.frames import BUSTED, Seen, bust_of, collect, decoded, fill_of, seen_in
from tests.sim.test_sim_server import config, logged_in, snapshots, subscribe

pytestmark = pytest.mark.timeout(30)

WORKING = orderrouting_pb2.ORDER_STATUS_WORKING
FINISHED = orderrouting_pb2.ORDER_STATUS_FINISHED


def split(seen: list[Seen]) -> tuple[list[Seen], list[Seen]]:
    return [s for s in seen if s.bust_micros is None], [s for s in seen if s.bust_micros]


def once_each(seen: list[Seen]) -> set[Seen]:
    counts = Counter(seen)
    assert max(counts.values(), default=1) == 1, "something came twice"
    return set(counts)


def live_parts(
    messages: list[service_pb2.ServerMessage],
) -> list[orderrouting_pb2.OrderUpdateTrade | orderrouting_pb2.OrderUpdateTradeLeg]:
    parts: list[orderrouting_pb2.OrderUpdateTrade | orderrouting_pb2.OrderUpdateTradeLeg] = []
    for message in messages:
        kind = message.WhichOneof("payload")
        if kind == "order_update_trade":
            parts.append(message.order_update_trade)
        elif kind == "order_update_trade_leg":
            parts.append(message.order_update_trade_leg)
    return parts


async def test_busts_arrive_live_stay_in_later_snapshots_and_reach_the_ledger(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.jsonl"
    cfg = config(
        fills_per_second=3000.0,
        preload_fills=150,
        max_fills=600,
        bust_fraction=0.2,
        spread_fraction=0.3,
        ledger_path=path,
    )
    async with SimServer(cfg) as sim:
        async with logged_in(sim) as (ws, _):
            await sim.wait_generated(400)  # subscribe while fills and busts are being made
            await subscribe(ws, all_accounts=True)
            messages = decoded(await collect(ws))
        ledger = list(sim.ledger)
        busted = [fill for fill in ledger if fill.busted_at is not None]
        assert sim.busts
        assert sorted(map(fill_of, sim.busts), key=repr) == sorted(map(fill_of, busted), key=repr)
        assert any(f.leg_index is None for f in busted)
        assert any(f.leg_index is not None for f in busted)
        for fill in busted:  # a bust is of an earlier fill
            assert fill.busted_at is not None
            assert fill.busted_at >= fill.exchange_time

        # The first session saw every fill and every bust exactly once, though it
        # subscribed mid-stream: each either in its snapshot or live after it.
        fills, busts = split([s for m in messages for s in seen_in(m)])
        assert once_each(fills) == {fill_of(f) for f in ledger}
        assert once_each(busts) == {bust_of(f) for f in busted}
        in_snapshot = [m for m in messages if m.WhichOneof("payload") == "account_snapshot"]
        snapshot_busts = split([s for m in in_snapshot for s in seen_in(m)])[1]
        assert snapshot_busts, "busts made before the subscription come in its snapshot"
        assert len(snapshot_busts) < len(busts), "later busts come live"
        bust_frames = [part for part in live_parts(messages) if part.change == BUSTED]
        assert bust_frames
        for part in bust_frames:
            assert part.status in (WORKING, FINISHED)

        # A later snapshot keeps busted fills among the trades and adds each bust
        # right after its order's order_update, in the same block.
        async with logged_in(sim) as (ws, _):
            await subscribe(ws, all_accounts=True)
            later = await snapshots(ws, accounts=5)
        fills, busts = split([s for m in later for s in seen_in(m)])
        assert once_each(fills) == {fill_of(f) for f in ledger}
        assert once_each(busts) == {bust_of(f) for f in busted}
        for message in later:
            for block in message.account_snapshot.messages:
                order: orderrouting_pb2.OrderUpdate | None = None
                for update in block.order_update_multi.updates:
                    if update.WhichOneof("payload") == "order_update":
                        order = update.order_update
                        continue
                    part = getattr(update, update.WhichOneof("payload"))
                    assert part.change == BUSTED
                    assert order is not None
                    assert part.unique_id == order.unique_id
                    assert part.status == order.status
                    keys = {s.exchange_trade_id for s in seen_in_order(order)}
                    assert part.exchange_trade_id in keys

    # The file: fills as made, then bust lines; read back with the busts applied.
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    bust_lines = [line for line in lines if line.get("kind") == "bust"]
    assert len(bust_lines) == len(busted)
    assert all(line["busted_at"] is None for line in lines if "kind" not in line)
    assert read_ledger(path) == ledger


def seen_in_order(order: orderrouting_pb2.OrderUpdate) -> list[Seen]:
    message = service_pb2.ServerMessage()
    block = message.account_snapshot.messages.add().order_update_multi
    block.historical = True
    block.updates.add().order_update.CopyFrom(order)
    return seen_in(message)


def spread_of(legs: list[LedgerFill]) -> Market:
    """The spread market whose legs' contracts these leg fills are on."""
    contracts = tuple(fill.market_id for fill in legs)
    (spread,) = [spread for spread in SPREADS
                 if tuple(leg.market.market_id for leg in spread.legs) == contracts]
    return spread


def spreads_of(ledger: list[LedgerFill]) -> dict[tuple[str, str], list[LedgerFill]]:
    legs: dict[tuple[str, str], list[LedgerFill]] = defaultdict(list)
    for fill in ledger:
        if fill.leg_index is not None:
            legs[fill.order_id, fill.exchange_trade_id].append(fill)
    return legs


async def test_spread_fills_are_one_leg_fill_per_leg_live_and_in_snapshots() -> None:
    cfg = config(fills_per_second=3000.0, preload_fills=100, max_fills=400, spread_fraction=0.5)
    async with SimServer(cfg) as sim:
        async with logged_in(sim) as (ws, _):
            await subscribe(ws, all_accounts=True)
            messages = decoded(await collect(ws))
        ledger = list(sim.ledger)

        spreads = spreads_of(ledger)
        assert len(spreads) > 50
        defined = set()
        for legs in spreads.values():
            spread = spread_of(legs)
            defined.add(spread.market_id)
            assert [fill.leg_index for fill in legs] == list(range(len(spread.legs)))
            assert len({(fill.sequence_order, fill.exchange_time) for fill in legs}) == 1
            # Each leg on its own contract, at its own price, on the order's side
            # times its direction, its volume the spread's times its ratio.
            contracts = legs[0].volume // spread.legs[0].ratio
            for fill, leg in zip(legs, spread.legs, strict=True):
                assert fill.fill_kind == "leg"
                assert fill.volume == contracts * leg.ratio
                assert (fill.side == legs[0].side) == (leg.direction == spread.legs[0].direction)
                assert fill.price == leg.market.price_text(
                    int(Decimal(fill.price) / Decimal(leg.market.price_text(1))))
        assert defined == {spread.market_id for spread in SPREADS}
        outright = [fill.exchange_trade_id for fill in ledger if fill.leg_index is None]
        assert outright
        assert len(outright) == len(set(outright))

        fills, _ = split([s for m in messages for s in seen_in(m)])
        assert once_each(fills) == {fill_of(f) for f in ledger}
        legs_live = [
            part
            for part in live_parts(messages)
            if isinstance(part, orderrouting_pb2.OrderUpdateTradeLeg)
        ]
        assert {part.leg_index for part in legs_live} == {0, 1, 2}
        for part in legs_live:
            assert part.market_id in defined  # the spread's, never a leg's contract
            assert part.change in (
                orderrouting_pb2.ORDER_CHANGE_TRADE,
                orderrouting_pb2.ORDER_CHANGE_TRADE_COMPLETED,
            )
            assert (part.change == orderrouting_pb2.ORDER_CHANGE_TRADE_COMPLETED) == (
                part.residual_volume == 0
            )
            assert (part.status == FINISHED) == (part.residual_volume == 0)

        async with logged_in(sim) as (ws, _):
            await subscribe(ws, all_accounts=True)
            later = await snapshots(ws, accounts=5)
    spread_orders = {order_id for order_id, _ in spreads}
    by_order: dict[str, list[LedgerFill]] = defaultdict(list)
    for fill in ledger:
        by_order[fill.order_id].append(fill)
    checked = 0
    for message in later:
        for block in message.account_snapshot.messages:
            for update in block.order_update_multi.updates:
                order = update.order_update
                if order.unique_id in spread_orders:
                    assert not order.trades
                    assert len(order.trade_legs) == len(by_order[order.unique_id])
                else:
                    assert not order.trade_legs
                filled = sum(f.volume for f in by_order[order.unique_id] if not f.leg_index)
                assert order.total_fill_volume == filled  # a spread fill counts once
                assert order.working_volume == order.current_volume - filled
                assert (order.status == FINISHED) == (order.working_volume == 0)
                if order.trade_legs:
                    assert order.trade_legs[-1].residual_volume == order.working_volume
                    checked += 1
    assert checked == len(spread_orders)


async def test_spread_trades_come_beside_their_legs_and_definitions_after_the_first_fills(
) -> None:
    cfg = config(fills_per_second=3000.0, preload_fills=100, max_fills=300, spread_fraction=0.5,
                 spread_trades=True, late_definitions=True)
    async with SimServer(cfg) as sim:
        async with logged_in(sim) as (ws, _):
            await subscribe(ws, all_accounts=True)
            messages = decoded(await collect(ws))
        ledger = list(sim.ledger)
    by_id = {spread.market_id: spread for spread in SPREADS}
    trades = [fill for fill in ledger if fill.fill_kind == "spread"]
    assert len(trades) > 30
    legs = spreads_of(ledger)
    assert len(legs) == len(trades)
    for trade in trades:
        # The spread-level trade: the spread market, the order's side and
        # volume, the legs' prices times their ratios and directions.
        spread = by_id[trade.market_id]
        mine = legs[trade.order_id, trade.exchange_trade_id]
        assert spread_of(mine) is spread
        assert spread.legs[0].direction == 1  # the first leg trades on the order's side
        assert (trade.leg_index, trade.side, trade.sequence_order) == (
            None, mine[0].side, mine[0].sequence_order)
        assert trade.volume * spread.legs[0].ratio == mine[0].volume
        assert Decimal(trade.price) == sum(leg.direction * leg.ratio * Decimal(fill.price)
                                           for leg, fill in zip(spread.legs, mine, strict=True))
    fills, _ = split([s for m in messages for s in seen_in(m)])
    assert once_each(fills) == {fill_of(f) for f in ledger}

    # In snapshots a spread order carries its trades and its legs, and its
    # market is described after its orders; live, its trade comes before its
    # legs and the market's details after its first fill.
    snapshot_checked = 0
    first_live_fill: dict[str, int] = {}
    first_live_details: dict[str, int] = {}
    for position, message in enumerate(messages):
        kind = message.WhichOneof("payload")
        if kind == "account_snapshot":
            items = list(message.account_snapshot.messages)
            blocks = {item.order_update_multi.market_id: n for n, item in enumerate(items)
                      if item.WhichOneof("payload") == "order_update_multi"}
            for n, item in enumerate(items):
                if item.WhichOneof("payload") == "market_details" and item.market_details.legs:
                    details = item.market_details
                    assert blocks[details.market_id] < n
                    spread = by_id[details.market_id]
                    assert details.strategy_type == spread.strategy_type
                    assert [(leg.market_id, leg.volume) for leg in details.legs] == [
                        (leg.market.market_id, leg.direction * leg.ratio) for leg in spread.legs]
                    snapshot_checked += 1
            for item in items:
                for update in item.order_update_multi.updates:
                    order = update.order_update
                    if order.market_id in by_id and order.trade_legs:
                        assert len(order.trades) * len(by_id[order.market_id].legs) == len(
                            order.trade_legs)
        elif kind == "market_details" and message.market_details.legs:
            first_live_details.setdefault(message.market_details.market_id, position)
        elif kind in ("order_update_trade", "order_update_trade_leg"):
            part = getattr(message, kind)
            if part.market_id in by_id:
                first_live_fill.setdefault(part.market_id, position)
                if kind == "order_update_trade" and part.change != BUSTED:
                    following = messages[position + 1]
                    assert following.order_update_trade_leg.exchange_trade_id == (
                        part.exchange_trade_id)
    assert snapshot_checked
    assert first_live_details
    for market_id, position in first_live_details.items():
        assert first_live_fill[market_id] < position
