"""The simulator's fault injection, seen from a real WebSocket client."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections import Counter
from decimal import Decimal, InvalidOperation

import pytest
from google.protobuf.message import DecodeError
from structlog.testing import capture_logs
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from fillcapture.feeds.t4.proto import account_pb2, auth_pb2, orderrouting_pb2, service_pb2
from fillcapture.sim import LedgerFill, SimConfig, SimServer
from fillcapture.sim.faults import JUNK_KINDS, TEXT_JUNK, Faults
from tests.sim.frames import Seen, bare, collect, decoded, fill_of, seen_in, stamp_micros
from tests.sim.test_sim_server import (
    config,
    logged_in,
    read_until_closed,
    recv,
    send_login,
    subscribe,
)

pytestmark = pytest.mark.timeout(30)

ServerMessage = service_pb2.ServerMessage
ELSEWHERE = auth_pb2.LOGIN_RESULT_LOGGED_IN_ELSEWHERE
FILL_CHANGES = (orderrouting_pb2.ORDER_CHANGE_TRADE, orderrouting_pb2.ORDER_CHANGE_TRADE_COMPLETED)


def fills_of(messages: list[service_pb2.ServerMessage]) -> list[Seen]:
    return [s for m in messages for s in seen_in(m) if s.bust_micros is None]


def content(ledger: list[LedgerFill]) -> list[tuple[object, ...]]:
    """A ledger without its timestamps: what a seed alone decides."""
    return [
        (
            f.order_id,
            f.exchange_trade_id,
            f.leg_index,
            f.side,
            f.volume,
            f.price,
            f.market_id,
            f.busted_at is None,
        )
        for f in ledger
    ]


async def run_to_the_end(cfg: SimConfig) -> tuple[list[bytes | str], SimServer]:
    """All live frames a session subscribed to every account gets from an
    unpaced server with ``max_fills`` (which waits for that session)."""
    async with SimServer(cfg) as sim, logged_in(sim) as (ws, _):
        await subscribe(ws, all_accounts=True)
        frames = await collect(ws)
    return frames, sim


async def test_faults_do_not_change_the_fills_a_seed_makes() -> None:
    common = {"fills_per_second": math.inf, "max_fills": 300, "bust_fraction": 0.1}
    _, plain = await run_to_the_end(config(**common))
    faults = {
        "duplicate_fraction": 0.3,
        "reorder_window": 5,
        "malformed_fraction": 0.3,
        "fill_before_order_fraction": 0.5,
    }
    _, hostile = await run_to_the_end(config(**common, **faults))
    assert len(plain.ledger) == 300
    assert plain.busts
    assert content(hostile.ledger) == content(plain.ledger)


def _kind(frame: bytes | str) -> str | None:
    if isinstance(frame, str):
        return None
    kind: str | None = bare(service_pb2.ServerMessage.FromString(frame)).WhichOneof("payload")
    return kind


async def test_duplicates_are_sent_twice_and_counted() -> None:
    cfg = config(fills_per_second=math.inf, max_fills=200, duplicate_fraction=0.3)
    frames, sim = await run_to_the_end(cfg)
    live = frames[5:]  # after the five (empty) account snapshots
    # A market's details are the same bytes for every account that trades it:
    # what is sent beyond one per (account, market) is duplicated.
    described = {(f.account, f.market_id) for f in sim.ledger}
    details = [f for f in live if _kind(f) == "market_details"]
    copies = Counter(f for f in live if _kind(f) != "market_details")
    duplicated = sum(count - 1 for count in copies.values()) + len(details) - len(described)
    assert duplicated == sim.stats["duplicate_frames"] > 20
    assert max(copies.values()) == 2
    fills = fills_of(decoded(frames))
    assert set(fills) == {fill_of(f) for f in sim.ledger}
    assert len(fills) > len(sim.ledger)


async def test_reordered_frames_stay_within_their_window() -> None:
    window = 8
    cfg = config(fills_per_second=math.inf, max_fills=400, reorder_window=window)
    frames, sim = await run_to_the_end(cfg)
    generated = {f.exchange_trade_id: n for n, f in enumerate(sim.ledger)}
    order = [generated[s.exchange_trade_id] for s in fills_of(decoded(frames))]
    assert sorted(order) == list(range(len(sim.ledger)))
    assert order != sorted(order)
    assert max(abs(position - n) for position, n in enumerate(order)) < window


async def test_a_reorder_window_is_sent_promptly_even_if_not_full() -> None:
    cfg = config(fills_per_second=40.0, max_fills=12, reorder_window=1000)
    async with SimServer(cfg) as sim, logged_in(sim) as (ws, _):
        await subscribe(ws, all_accounts=True)
        lags: list[tuple[float, int]] = []
        while len(lags) < 10:
            message = await recv(ws, within=2.0)
            if message.WhichOneof("payload") == "order_update_trade":
                arrived = asyncio.get_running_loop().time()
                lags.append((arrived, stamp_micros(message.order_update_trade.exchange_time)))
    # Measured against the clock that stamped each fill, none waited for a full window.
    offsets = [arrived * 1e6 - stamped for arrived, stamped in lags]
    assert max(offsets) - min(offsets) < 250_000


async def test_no_live_frame_crosses_a_snapshot_when_reordering() -> None:
    cfg = config(fills_per_second=400.0, max_fills=250, reorder_window=50)
    async with SimServer(cfg) as sim, logged_in(sim) as (ws, _):
        await subscribe(ws, all_accounts=True)
        for _ in range(5):  # reconcile again and again while frames wait in the window
            await asyncio.sleep(0.05)
            await subscribe_again(ws)
        messages = decoded(await collect(ws))
        assert len(sim.ledger) > 50
    in_snapshot: set[Seen] = set()
    for message in messages:
        seen = set(fills_of([message]))
        if message.WhichOneof("payload") == "account_snapshot":
            in_snapshot |= seen
        else:
            assert not seen & in_snapshot, "a fill came live after a snapshot holding it"


async def subscribe_again(ws: ClientConnection) -> None:
    """Send a subscription without waiting for its answer (live frames may come first)."""
    request = account_pb2.AccountSubscribe(
        subscribe=account_pb2.ACCOUNT_SUBSCRIBE_TYPE_ALL_UPDATES, subscribe_all_accounts=True
    )
    await ws.send(service_pb2.ClientMessage(account_subscribe=request).SerializeToString())


async def test_fill_before_order_sends_the_announcement_after_the_first_fill() -> None:
    cfg = config(
        fills_per_second=math.inf,
        max_fills=200,
        fill_before_order_fraction=0.5,
        spread_fraction=0.3,
    )
    frames, _ = await run_to_the_end(cfg)
    announced: dict[str, int] = {}
    first_fill: dict[str, int] = {}
    messages = decoded(frames)
    for position, message in enumerate(messages):
        kind = message.WhichOneof("payload")
        if kind == "order_update":
            announced[message.order_update.unique_id] = position
        elif kind in ("order_update_trade", "order_update_trade_leg"):
            first_fill.setdefault(getattr(message, kind).unique_id, position)
    late = [order for order, position in announced.items() if position > first_fill[order]]
    assert 0.3 < len(late) / len(announced) < 0.7
    assert any(announced[order] - first_fill[order] > 1 for order in late)  # spreads among them
    for order in late:  # right behind the fill (each of its legs, for a spread)
        between = messages[first_fill[order]:announced[order]]
        parts = [getattr(m, m.WhichOneof("payload") or "") for m in between]
        assert [(part.unique_id, part.sequence_order) for part in parts] == [
            (order, 1)] * len(parts)
        assert len(parts) == 1 or [part.leg_index for part in parts] == list(range(len(parts)))


def classify(data: bytes | str) -> str:
    """Which junk kind a frame is, or ``"fill"``/``"other"`` for a valid frame."""
    if isinstance(data, str):
        assert data == TEXT_JUNK
        return "text"
    try:
        message = bare(ServerMessage.FromString(data))
    except DecodeError:
        return "undecodable"
    kind = message.WhichOneof("payload")
    if kind == "authentication_token":
        return "client_message"
    if kind not in ("order_update_trade", "order_update_trade_leg"):
        return "other"
    part = getattr(message, kind)
    if not part.unique_id and not part.account_id:
        return "empty_ids"
    if part.volume < 0:
        return "negative_volume"
    if part.price.value == "abc":
        return "bad_price"
    assert part.unique_id
    assert part.account_id
    assert part.volume > 0
    try:
        assert Decimal(part.price.value) > 0
    except InvalidOperation:
        pytest.fail(f"price {part.price.value!r} is not decimal text")
    return "fill"


async def test_junk_frames_take_turns_and_are_never_a_valid_fill() -> None:
    cfg = config(
        fills_per_second=math.inf,
        max_fills=150,
        malformed_fraction=1.0,
        spread_fraction=0.3,
        bust_fraction=0.1,
    )
    frames, sim = await run_to_the_end(cfg)
    live = frames[5:]  # after the five (empty) account snapshots
    junk, real = live[0::2], live[1::2]  # every live frame has one junk frame before it
    assert len(junk) == len(real) == sim.stats["junk_frames"]
    kinds = [classify(data) for data in junk]
    for n, (kind, data, after) in enumerate(zip(kinds, junk, real, strict=True)):
        expected = JUNK_KINDS[n % len(JUNK_KINDS)]
        if expected in ("random_bytes", "truncated"):
            assert kind == "undecodable"
            assert isinstance(data, bytes)
            assert isinstance(after, bytes)
            assert after.startswith(data) == (expected == "truncated")
        else:
            assert kind == expected
        assert classify(after) != "undecodable"

    # Every valid fill a client can find in the stream is a ledger fill, once.
    valid = [
        s
        for data in live
        if classify(data) == "fill"
        for s in seen_in(bare(ServerMessage.FromString(data)))  # type: ignore[arg-type]
        if s.bust_micros is None
    ]
    assert Counter(valid) == Counter(fill_of(f) for f in sim.ledger)
    for data in junk:
        if classify(data) in ("empty_ids", "negative_volume", "bad_price"):
            part = ServerMessage.FromString(data)  # type: ignore[arg-type]
            trade = getattr(part, part.WhichOneof("payload"))
            assert trade.change in FILL_CHANGES  # shaped like a fill, yet not a valid one


@pytest.mark.parametrize(
    ("refuse_logins", "attempts"),
    [(2, {"LOGIN_RESULT_LOGGED_IN_ELSEWHERE": 2, "LOGIN_RESULT_SUCCESS": 1}), (None, None)],
)
async def test_refused_logins_then_success(
    refuse_logins: int | None, attempts: dict[str, int] | None
) -> None:
    cfg = config(refuse_login=ELSEWHERE, refuse_logins=refuse_logins)
    results = []
    with capture_logs() as logs:
        async with SimServer(cfg) as sim:
            for _ in range(3):
                async with connect(sim.url) as ws:
                    response = await send_login(ws, api_key="sim-api-key")
                    results.append(response.result)
                    if response.result != auth_pb2.LOGIN_RESULT_SUCCESS:
                        assert response.error_message == "Logged in elsewhere."
                        with pytest.raises(ConnectionClosed):
                            await recv(ws)
            async with connect(sim.url) as ws:  # a wrong key is still FAILED, and counted
                response = await send_login(ws, api_key="wrong")
                assert response.result == auth_pb2.LOGIN_RESULT_FAILED
    if refuse_logins is None:
        assert results == [ELSEWHERE] * 3
        attempts = {"LOGIN_RESULT_LOGGED_IN_ELSEWHERE": 3}
    else:
        assert results == [ELSEWHERE, ELSEWHERE, auth_pb2.LOGIN_RESULT_SUCCESS]
    assert attempts is not None
    assert sim.login_attempts == Counter({**attempts, "LOGIN_RESULT_FAILED": 1})
    failed = [e["result"] for e in logs if e["event"] == "sim.session.login_failed"]
    assert Counter(failed) == Counter(
        {"LOGIN_RESULT_LOGGED_IN_ELSEWHERE": attempts["LOGIN_RESULT_LOGGED_IN_ELSEWHERE"]}
    ) + Counter({"LOGIN_RESULT_FAILED": 1})


async def test_a_stalled_session_goes_silent_then_catches_up() -> None:
    cfg = config(
        fills_per_second=100.0,
        max_fills=150,
        heartbeat_interval=0.05,
        stall_after=0.3,
        stall_seconds=1.0,
    )
    loop = asyncio.get_running_loop()
    async with SimServer(cfg) as sim, logged_in(sim) as (ws, _):
        await subscribe(ws, all_accounts=True)
        arrivals: list[float] = []
        messages: list[service_pb2.ServerMessage] = []
        while len(fills_of(messages)) < 150:
            messages.append(await recv(ws, within=3.0))
            arrivals.append(loop.time())
        gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
        assert 0.9 < max(gaps) < 1.5, "silent for stall_seconds, then talking again"
        assert ws.state is State.OPEN
        assert set(fills_of(messages)) == {fill_of(f) for f in sim.ledger}
        assert sim.stats["stalled_sessions"] == 1


async def test_a_session_stalled_for_good_stays_open_and_silent() -> None:
    cfg = config(heartbeat_interval=0.05, stall_after=0.2, fills_per_second=50.0)
    async with SimServer(cfg) as sim, logged_in(sim) as (ws, _):
        await subscribe(ws, all_accounts=True)
        await asyncio.sleep(0.3)
        await collect(ws, quiet=0.1)  # what was on its way when the stall began
        with pytest.raises(TimeoutError):
            await recv(ws, within=1.0)
        pong = await ws.ping()  # the socket itself is alive
        await asyncio.wait_for(pong, 1.0)
        assert ws.state is State.OPEN
        assert sim.connections == 1


async def test_drop_every_cuts_every_connection_again_and_again() -> None:
    async with SimServer(config(drop_every=0.3, heartbeat_interval=0.05)) as sim:
        loop = asyncio.get_running_loop()
        for _ in range(2):
            started = loop.time()
            async with logged_in(sim) as (ws, _):
                with pytest.raises(ConnectionClosed):
                    await read_until_closed(ws)
                assert ws.close_code == 1006  # aborted: no closing handshake
            assert loop.time() - started < 0.7
        assert sim.stats["dropped_connections"] >= 2


async def test_drop_random_draws_its_intervals_from_the_seed() -> None:
    def intervals(seed: int) -> list[float]:
        (schedule,) = Faults(config(drop_random=2.0, seed=seed)).drop_intervals()
        return [next(schedule) for _ in range(2000)]

    first = intervals(7)
    assert intervals(7) == first
    assert intervals(8) != first
    assert 1.8 < sum(first) / len(first) < 2.2
    async with SimServer(config(drop_random=0.1)) as sim, logged_in(sim) as (ws, _):
        with pytest.raises(ConnectionClosed):
            await recv(ws, within=3.0)
        assert sim.stats["dropped_connections"] == 1
