"""Property tests: whatever arrives on the socket, no exception escapes the t4
adapter's frame handling and nothing invalid comes out of it or into the store."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fillcapture.config import T4Settings
from fillcapture.feeds.t4.decode import Decoder
from fillcapture.feeds.t4.proto import orderrouting_pb2, service_pb2
from fillcapture.feeds.t4.session import T4Feed
from fillcapture.metrics import Metrics
from fillcapture.model import Bust, BustsReceived, Fill, FillsReceived, SnapshotReceived
from fillcapture.ownership import Ownership
from fillcapture.store import FillQuery
from tests.conftest import store_at
from tests.feeds.test_snapshots import walk_count

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)
ODD_TEXT = st.one_of(
    st.just(""), st.text(max_size=12), st.sampled_from(["acc-1", "o1", "T1", "11111"]),
)
ODD_PRICE = st.one_of(
    st.text(max_size=10),
    st.sampled_from(["6012.25", "-0.05", "0", "1e5", "NaN", "Infinity", "1_0", " 1", "1.",
                     ".5", "+1", "\u0661", "99999999999999999999.5"]),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
)
SECONDS = st.one_of(INT64, st.integers(946_684_800, 4_102_444_799))
CHANGES = st.one_of(st.sampled_from([orderrouting_pb2.ORDER_CHANGE_TRADE,
                                     orderrouting_pb2.ORDER_CHANGE_TRADE_BUSTED]), INT32)


def _feed() -> tuple[T4Feed, Metrics]:
    metrics = Metrics()
    feed = T4Feed(T4Settings(url="ws://127.0.0.1:9/v1", api_key="x"), Ownership, metrics)
    feed._decoder = Decoder("FIRM", metrics)
    feed._decoder.learn_account("acc-1", "11111")
    return feed, metrics


def _fill_fields(draw: st.DrawFn, target: Any, *, with_ids: bool) -> None:
    if with_ids:
        target.unique_id = draw(ODD_TEXT)
        target.account_id = draw(ODD_TEXT)
        target.market_id = draw(ODD_TEXT)
        target.change = draw(CHANGES)
    target.exchange_trade_id = draw(ODD_TEXT)
    target.sequence_order = draw(INT32)
    target.volume = draw(INT32)
    target.price.value = draw(ODD_PRICE)
    target.trade_date = draw(INT64)
    target.exchange_time.seconds = draw(SECONDS)
    target.exchange_time.nanos = draw(INT32)
    target.time.seconds = draw(SECONDS)


@st.composite
def odd_messages(draw: st.DrawFn) -> bytes:
    """Well-formed ServerMessages whose fill-bearing fields hold odd values."""
    message = service_pb2.ServerMessage()
    kind = draw(st.sampled_from(["trade", "leg", "order", "snapshot", "multi"]))
    if kind == "trade":
        _fill_fields(draw, message.order_update_trade, with_ids=True)
    elif kind == "leg":
        leg = message.order_update_trade_leg
        _fill_fields(draw, leg, with_ids=True)
        leg.leg_index = draw(INT32)
    else:
        if kind == "snapshot":
            snapshot = message.account_snapshot
            details = snapshot.messages.add().account_details
            details.account_id, details.account = draw(ODD_TEXT), draw(ODD_TEXT)
            multi = snapshot.messages.add().order_update_multi
        else:
            multi = message.order_update_multi
        multi.historical = draw(st.booleans())
        for _ in range(draw(st.integers(0, 3))):
            order = multi.updates.add().order_update
            order.unique_id = draw(ODD_TEXT)
            order.account_id = draw(ODD_TEXT)
            order.account_number = draw(ODD_TEXT)
            order.buy_sell = draw(INT32)
            for _ in range(draw(st.integers(0, 3))):
                _fill_fields(draw, order.trades.add(), with_ids=False)
            for _ in range(draw(st.integers(0, 2))):
                leg = order.trade_legs.add()
                _fill_fields(draw, leg, with_ids=False)
                leg.leg_index = draw(INT32)
        if draw(st.booleans()):
            _fill_fields(draw, multi.updates.add().order_update_trade, with_ids=True)
    return message.SerializeToString()


def _assert_valid(fill: Fill, bust: bool = False) -> None:
    assert fill.firm == "FIRM"
    assert fill.account_id
    assert fill.order_id
    assert fill.trade_key
    # A bust may name its fill with no or a negative volume (T4's schema
    # allows it); a fill to capture always has one.
    assert bust or fill.volume > 0
    assert fill.leg_index is None or fill.leg_index >= 0
    assert fill.price.is_finite()
    assert fill.price == Decimal(fill.price_text)
    assert EARLIEST <= fill.exchange_time < LATEST
    assert isinstance(fill.trade_date, date)


def _outcome(feed: T4Feed, frame: bytes) -> list[Fill]:
    """Every fill and busted fill ``frame`` yields, each checked valid."""
    fills: list[Fill] = []
    for event in feed.frame_events(frame, 0):
        if isinstance(event, FillsReceived):
            for fill in event.fills:
                _assert_valid(fill)
            fills.extend(event.fills)
        elif isinstance(event, BustsReceived):
            for bust in event.busts:
                _assert_valid(bust.fill, bust=True)
            fills.extend(bust.fill for bust in event.busts)
    return fills


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_raise_and_yield_only_valid_fills(frame: bytes) -> None:
    feed, metrics = _feed()
    _outcome(feed, frame)
    assert metrics["frames.decoder_failed"] == 0


@settings(max_examples=400, deadline=None)
@given(odd_messages())
def test_odd_messages_are_refused_whole_or_yield_only_valid_fills(frame: bytes) -> None:
    feed, metrics = _feed()
    fills = _outcome(feed, frame)
    assert metrics["frames.decoder_failed"] == 0
    # A frame is refused whole or not at all: a count, never a partial frame.
    assert not (fills and metrics["frames.malformed"])


@settings(max_examples=300, deadline=None)
@given(odd_messages())
def test_a_snapshot_is_counted_as_t4_sent_it_whatever_is_quarantined(frame: bytes) -> None:
    """The decoder's tally of a snapshot (fills per trade date, busts) is
    what the protobuf holds, however its records fare: the certificate's
    count of what T4 reported."""
    feed, _ = _feed()
    message = service_pb2.ServerMessage.FromString(frame)
    counted = [event for event in feed.frame_events(frame, 0)
               if isinstance(event, SnapshotReceived)]
    if message.WhichOneof("payload") != "account_snapshot":
        assert counted == []
        return
    fills, busts = walk_count(message.account_snapshot)
    assert [(event.trade_dates, event.busts) for event in counted] == [
        (tuple(sorted(fills.items())), busts)]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(odd_messages(), min_size=1, max_size=8))
def test_what_odd_frames_store_reads_back_valid(tmp_path: Path, frames: list[bytes]) -> None:
    feed, _ = _feed()
    fills: list[Fill] = []
    busts: list[Bust] = []
    for frame in frames:
        for event in feed.frame_events(frame, 0):
            if isinstance(event, FillsReceived):
                fills.extend(event.fills)
            elif isinstance(event, BustsReceived):
                busts.extend(event.busts)

    async def store_and_read() -> list[Any]:
        path = tmp_path / f"odd-{id(frames)}.db"
        path.unlink(missing_ok=True)
        async with store_at(path) as store:
            await store.insert_fills(fills)
            await store.insert_busts(busts)
            return [fill async for fill in store.fills(FillQuery())]

    stored = asyncio.run(store_and_read())
    assert len(stored) == len({f.key for f in fills} | {b.fill.key for b in busts})
    for row in stored:
        # A bust may name its fill with no or a negative volume (T4's schema
        # allows it): such a fill is stored busted, counted nowhere.
        assert row.volume > 0 or row.busted
        assert row.order_id
        assert row.account_id
        assert Decimal(row.price).is_finite()
        assert EARLIEST <= row.exchange_time < LATEST
