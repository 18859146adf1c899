"""The simulated T4 server, driven by a real WebSocket client over loopback."""

from __future__ import annotations

import asyncio
import datetime
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from fillcapture.feeds.t4.proto import account_pb2, auth_pb2, orderrouting_pb2, service_pb2
from fillcapture.sim import LedgerFill, SimConfig, SimServer, read_ledger
from tests.sim.frames import bare

pytestmark = pytest.mark.timeout(30)

TRADE_DATE = datetime.date(2026, 11, 20)
TRADE_DATE_TICKS = (TRADE_DATE - datetime.date(1, 1, 1)).days * 864_000_000_000
ALL_UPDATES = account_pb2.ACCOUNT_SUBSCRIBE_TYPE_ALL_UPDATES
ServerMessage = service_pb2.ServerMessage


def config(**overrides: object) -> SimConfig:
    # Bare live messages, which these tests read; the default shape, inside an
    # OrderUpdateMulti, is captured end to end by tests/test_shapes.py and test_chaos.py.
    values: dict[str, object] = {"trade_date": TRADE_DATE, "fills_per_second": 0.0,
                                 "top_level_updates": True}
    values.update(overrides)
    return SimConfig(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class SeenFill:
    """A fill as a client decodes it, comparable with a ledger entry."""

    account_id: str
    order_id: str
    exchange_trade_id: str
    sequence_order: int
    volume: int
    price: str
    micros: int


def ledger_key(fill: LedgerFill) -> SeenFill:
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    micros = (fill.exchange_time - epoch) // datetime.timedelta(microseconds=1)
    return SeenFill(
        fill.account_id,
        fill.order_id,
        fill.exchange_trade_id,
        fill.sequence_order,
        fill.volume,
        fill.price,
        micros,
    )


def micros_of(seconds: int, nanos: int) -> int:
    assert nanos % 1000 == 0
    return seconds * 1_000_000 + nanos // 1000


def fills_in(message: service_pb2.ServerMessage) -> list[SeenFill]:
    """Every fill a frame carries, snapshot or live."""
    kind = message.WhichOneof("payload")
    if kind == "order_update_trade":
        live = message.order_update_trade
        return [
            SeenFill(
                live.account_id,
                live.unique_id,
                live.exchange_trade_id,
                live.sequence_order,
                live.volume,
                live.price.value,
                micros_of(live.exchange_time.seconds, live.exchange_time.nanos),
            )
        ]
    seen = []
    if kind == "account_snapshot":
        for block in message.account_snapshot.messages:
            if block.WhichOneof("payload") != "order_update_multi":
                continue
            assert block.order_update_multi.historical
            for update in block.order_update_multi.updates:
                order = update.order_update
                for t in order.trades:
                    seen.append(
                        SeenFill(
                            order.account_id,
                            order.unique_id,
                            t.exchange_trade_id,
                            t.sequence_order,
                            t.volume,
                            t.price.value,
                            micros_of(t.exchange_time.seconds, t.exchange_time.nanos),
                        )
                    )
    return seen


async def recv(ws: ClientConnection, within: float = 5.0) -> service_pb2.ServerMessage:
    data = await asyncio.wait_for(ws.recv(), within)
    assert isinstance(data, bytes), "the server sends binary frames only"
    return bare(ServerMessage.FromString(data))


async def send_login(ws: ClientConnection, **fields: str) -> auth_pb2.LoginResponse:
    request = auth_pb2.LoginRequest(**fields)
    await ws.send(service_pb2.ClientMessage(login_request=request).SerializeToString())
    reply = await recv(ws)
    assert reply.WhichOneof("payload") == "login_response"
    return reply.login_response


Session = tuple[ClientConnection, auth_pb2.LoginResponse]


@asynccontextmanager
async def logged_in(sim: SimServer) -> AsyncIterator[Session]:
    async with connect(sim.url, compression=None) as ws:
        response = await send_login(
            ws,
            firm=sim.config.firm,
            username=sim.config.username,
            password=sim.config.password,
            app_name="tests",
            app_license="x",
        )
        assert response.result == auth_pb2.LOGIN_RESULT_SUCCESS
        yield ws, response


async def drain_fills(ws: ClientConnection) -> None:
    """Read until the server goes quiet (raises TimeoutError) or closes; no fill may come."""
    while True:
        assert not fills_in(await recv(ws, within=0.3))


async def read_until_closed(ws: ClientConnection) -> None:
    while True:
        await recv(ws)


async def subscribe(
    ws: ClientConnection, *, all_accounts: bool = False, ids: tuple[str, ...] = ()
) -> account_pb2.AccountSubscribeResponse:
    request = account_pb2.AccountSubscribe(
        subscribe=ALL_UPDATES,
        subscribe_all_accounts=all_accounts,
        account_id=ids,
        upl_mode=account_pb2.UPL_MODE_AVERAGE,
    )
    await ws.send(service_pb2.ClientMessage(account_subscribe=request).SerializeToString())
    reply = await recv(ws)
    assert reply.WhichOneof("payload") == "account_subscribe_response"
    return reply.account_subscribe_response


async def snapshots(ws: ClientConnection, accounts: int) -> list[service_pb2.ServerMessage]:
    """All snapshot frames for ``accounts`` accounts of a book that is not changing."""
    frames: list[service_pb2.ServerMessage] = []
    details = 0
    while True:
        try:
            message = await recv(ws, within=0.3 if details == accounts else 5.0)
        except TimeoutError:
            return frames
        assert message.WhichOneof("payload") == "account_snapshot"
        frames.append(message)
        details += any(
            m.WhichOneof("payload") == "account_details" for m in message.account_snapshot.messages
        )


async def test_login_lists_visible_accounts() -> None:
    cfg = config(visible=("33333", "11111"))
    async with SimServer(cfg) as sim, logged_in(sim) as (_, response):
        assert [a.account_number for a in response.accounts] == ["11111", "33333"]
        assert len({a.account_id for a in response.accounts}) == 2
        assert response.firm == "SIMFIRM"
        assert response.username == "WhenTechFillUser"
        assert list(response.roles) == ["RiskManager"]
        assert response.session_id
        assert response.user_id
        assert response.firm_id
        assert sim.connections == 1


async def test_ids_are_stable_across_runs() -> None:
    seen = []
    for _ in range(2):
        async with SimServer(config()) as sim, logged_in(sim) as (_, response):
            seen.append([(a.account_id, a.account_number) for a in response.accounts])
    assert seen[0] == seen[1]


async def test_api_key_login_and_no_role_without_risk_manager() -> None:
    async with SimServer(config(risk_manager=False)) as sim, connect(sim.url) as ws:
        response = await send_login(ws, api_key="sim-api-key")
        assert response.result == auth_pb2.LOGIN_RESULT_SUCCESS
        assert list(response.roles) == []


@pytest.mark.parametrize(
    ("fields", "result"),
    [
        (
            {"firm": "SIMFIRM", "username": "WhenTechFillUser", "password": "wrong"},
            auth_pb2.LOGIN_RESULT_FAILED,
        ),
        (
            {"firm": "SIMFIRM", "username": "someone", "password": "sim-password"},
            auth_pb2.LOGIN_RESULT_FAILED,
        ),
        ({"api_key": "wrong-key"}, auth_pb2.LOGIN_RESULT_FAILED),
        (
            {"firm": "OTHER", "username": "WhenTechFillUser", "password": "sim-password"},
            auth_pb2.LOGIN_RESULT_FIRM_NOT_ALLOWED,
        ),
    ],
)
async def test_bad_login_is_refused_then_closed(fields: dict[str, str], result: int) -> None:
    async with SimServer(config()) as sim, connect(sim.url) as ws:
        response = await send_login(ws, **fields)
        assert response.result == result
        assert response.error_message
        with pytest.raises(ConnectionClosed):
            await recv(ws)


async def test_first_message_must_be_login() -> None:
    async with SimServer(config()) as sim, connect(sim.url) as ws:
        beat = service_pb2.ClientMessage(heartbeat=service_pb2.Heartbeat(timestamp=1))
        await ws.send(beat.SerializeToString())
        with pytest.raises(ConnectionClosed):
            await recv(ws)
        assert ws.close_code == 1008


async def test_subscribe_gives_snapshot_then_live_fills() -> None:
    cfg = config(fills_per_second=400.0, preload_fills=20, visible=("11111", "22222"))
    async with SimServer(cfg) as sim, logged_in(sim) as (ws, response):
        account = response.accounts[0]
        reply = await subscribe(ws, ids=(account.account_id,))
        assert reply.success
        assert not reply.errors
        first = await recv(ws)
        assert first.WhichOneof("payload") == "account_snapshot"
        details = first.account_snapshot.messages[0].account_details
        assert (details.account_id, details.account, details.firm) == (
            account.account_id,
            "11111",
            "SIMFIRM",
        )
        # T4 describes each market the account trades: in the snapshot, or
        # live before the first order of a market the snapshot did not name.
        described = {m.market_details.market_id for m in first.account_snapshot.messages
                     if m.WhichOneof("payload") == "market_details"}
        sides: dict[str, int] = {}
        trades: list[orderrouting_pb2.OrderUpdateTrade] = []
        while len(trades) < 15:
            message = await recv(ws)
            kind = message.WhichOneof("payload")
            if kind == "order_update":
                order = message.order_update
                assert order.account_id == account.account_id
                assert order.change == 6
                assert order.status == 1
                assert order.buy_sell in (1, -1)
                assert not order.trades
                sides[order.unique_id] = order.buy_sell
            elif kind == "order_update_trade":
                trades.append(message.order_update_trade)
            elif kind == "market_details":
                assert message.market_details.point_value.value
                described.add(message.market_details.market_id)
            else:
                assert kind in ("account_snapshot", "heartbeat")
        for trade in trades:
            assert trade.account_id == account.account_id
            assert trade.trade_date == TRADE_DATE_TICKS
            assert trade.change in (20, 21)
            assert trade.working_volume == trade.residual_volume
            assert (trade.change == 21) == (trade.working_volume == 0)
            assert trade.exchange_trade_id.startswith(f"{cfg.seed}-")
        assert {trade.unique_id for trade in trades} & sides.keys(), "orders are announced live"
        assert {trade.market_id for trade in trades} <= described


async def test_preloaded_snapshot_equals_the_ledger() -> None:
    async with SimServer(config(preload_fills=600)) as sim, logged_in(sim) as (ws, response):
        assert (await subscribe(ws, all_accounts=True)).success
        frames = await snapshots(ws, accounts=5)
        seen = [fill for frame in frames for fill in fills_in(frame)]
        assert len(seen) == len(set(seen)) == 600
        assert set(seen) == {ledger_key(fill) for fill in sim.ledger}
        for account in response.accounts:
            mine = [f for f in seen if f.account_id == account.account_id]
            assert len(mine) == sum(f.account == account.account_number for f in sim.ledger)


@pytest.mark.parametrize("chunk", [2, 7, 100])
async def test_snapshot_frames_respect_the_chunk(chunk: int) -> None:
    cfg = config(preload_fills=300, snapshot_chunk=chunk, visible=("22222",))
    async with SimServer(cfg) as sim, logged_in(sim) as (ws, response):
        await subscribe(ws, ids=(response.accounts[0].account_id,))
        frames = await snapshots(ws, accounts=1)
        counts = [len(fills_in(frame)) for frame in frames]
        assert max(counts) <= chunk
        assert frames[0].account_snapshot.messages[0].WhichOneof("payload") == "account_details"
        expected = {ledger_key(f) for f in sim.ledger if f.account == "22222"}
        seen = [fill for frame in frames for fill in fills_in(frame)]
        assert len(seen) == len(expected)
        assert set(seen) == expected


async def test_empty_book_still_gets_account_details() -> None:
    async with SimServer(config()) as sim, logged_in(sim) as (ws, response):
        await subscribe(ws, ids=(response.accounts[4].account_id,))
        frames = await snapshots(ws, accounts=1)
        assert len(frames) == 1
        messages = frames[0].account_snapshot.messages
        assert [m.WhichOneof("payload") for m in messages] == ["account_details"]


@pytest.mark.parametrize(("risk_manager", "expected"), [(True, 5), (False, 2)])
async def test_subscribe_all_follows_the_role(risk_manager: bool, expected: int) -> None:
    cfg = config(visible=("11111", "44444"), risk_manager=risk_manager, preload_fills=50)
    async with SimServer(cfg) as sim, logged_in(sim) as (ws, _):
        assert (await subscribe(ws, all_accounts=True)).success
        frames = await snapshots(ws, accounts=expected)
        accounts = {frame.account_snapshot.account_id for frame in frames}
        assert len(accounts) == expected


async def test_unknown_ids_are_errors_and_subscribes_add_up() -> None:
    async with SimServer(config(visible=("11111", "22222"))) as sim, logged_in(sim) as (ws, resp):
        first, second = (a.account_id for a in resp.accounts)
        reply = await subscribe(ws, ids=(first, "not-an-account"))
        assert reply.success
        assert len(reply.errors) == 1
        assert [f.account_snapshot.account_id for f in await snapshots(ws, 1)] == [first]
        reply = await subscribe(ws, ids=("nope",))
        assert not reply.success
        assert reply.errors
        await subscribe(ws, ids=(second,))
        assert [f.account_snapshot.account_id for f in await snapshots(ws, 1)] == [second]


async def test_no_fill_is_missed_or_doubled_when_subscribing_mid_stream() -> None:
    cfg = config(fills_per_second=5000.0, preload_fills=200, max_fills=1500)
    async with SimServer(cfg) as sim, logged_in(sim) as (ws, _):
        await sim.wait_generated(600)  # subscribe while fills are being made
        await subscribe(ws, all_accounts=True)
        await sim.wait_generated(1700)
        seen: list[SeenFill] = []
        while len(seen) < 1700:
            seen.extend(fills_in(await recv(ws)))
        assert len(seen) == len(set(seen)) == 1700
        assert set(seen) == {ledger_key(fill) for fill in sim.ledger}
        with pytest.raises(TimeoutError):
            await drain_fills(ws)


async def test_max_fills_stops_generation() -> None:
    async with SimServer(config(fills_per_second=2000.0, max_fills=40)) as sim:
        await sim.wait_generated(40)
        await asyncio.sleep(0.1)
        assert len(sim.ledger) == 40
        assert len({fill.exchange_trade_id for fill in sim.ledger}) == 40


async def test_ledger_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    cfg = config(fills_per_second=3000.0, preload_fills=10, ledger_path=path)
    async with SimServer(cfg) as sim:
        await sim.wait_generated(100)
        assert read_ledger(path) == sim.ledger[: len(read_ledger(path))]
        assert len(read_ledger(path)) >= 100
    assert read_ledger(path) == sim.ledger


async def test_prices_are_exact_ticks() -> None:
    ticks = {"ES": "0.25", "NQ": "0.25", "CL": "0.01", "GC": "0.1", "6E": "0.00005", "ZC": "0.25"}
    async with SimServer(config(preload_fills=2000)) as sim:
        markets = {fill.market_id for fill in sim.ledger}
        assert 4 <= len(markets) <= 6
        for fill in sim.ledger:
            tick = Decimal(ticks[fill.market_id.split()[1]])
            price = Decimal(fill.price)
            assert price > 0
            assert price % tick == 0
            assert price.as_tuple().exponent == tick.as_tuple().exponent, fill.price


async def test_same_seed_same_content() -> None:
    def content(ledger: list[LedgerFill]) -> list[tuple[object, ...]]:
        return [
            (
                f.account,
                f.order_id,
                f.exchange_trade_id,
                f.side,
                f.volume,
                f.price,
                f.market_id,
                f.sequence_order,
            )
            for f in ledger
        ]

    async with SimServer(config(preload_fills=300, seed=5)) as one:
        first = content(one.ledger)
    async with SimServer(config(preload_fills=300, seed=5)) as two:
        assert content(two.ledger) == first
    async with SimServer(config(preload_fills=300, seed=6)) as three:
        assert content(three.ledger) != first


async def test_a_client_leaving_mid_stream_does_not_hurt_another() -> None:
    cfg = config(fills_per_second=math.inf, max_fills=3000)
    async with SimServer(cfg) as sim:
        async with logged_in(sim) as (ws, _):
            await subscribe(ws, all_accounts=True)
            for _ in range(50):
                await recv(ws)
            ws.transport.abort()  # vanish without a closing handshake
        async with logged_in(sim) as (ws, _):
            await subscribe(ws, all_accounts=True)
            seen: set[SeenFill] = set()
            while len(seen) < 3000:
                seen.update(fills_in(await recv(ws)))
            assert seen == {ledger_key(fill) for fill in sim.ledger}
        for _ in range(50):
            if sim.connections == 0:
                break
            await asyncio.sleep(0.02)
        assert sim.connections == 0


async def test_drop_connections_then_reconnect() -> None:
    async with SimServer(config(fills_per_second=200.0)) as sim:
        async with logged_in(sim) as (ws, _):
            await subscribe(ws, all_accounts=True)
            await sim.drop_connections()
            assert sim.connections == 0
            with pytest.raises(ConnectionClosed):
                await read_until_closed(ws)
        async with logged_in(sim) as (ws, _):
            assert (await subscribe(ws, all_accounts=True)).success
            assert sim.connections == 1


async def test_a_stalled_client_holds_the_generator_back() -> None:
    async with SimServer(config(fills_per_second=math.inf)) as sim, logged_in(sim) as (ws, _):
        await subscribe(ws, all_accounts=True)  # and never read again
        stalled_at = -1
        async with asyncio.timeout(10):
            while len(sim.ledger) != stalled_at:  # until generation stops
                stalled_at = len(sim.ledger)
                await asyncio.sleep(0.3)
        assert 10_000 < stalled_at < 200_000
        received = 0
        async with asyncio.timeout(10):
            while received < stalled_at // 2:
                received += len(fills_in(await recv(ws)))
        await sim.wait_generated(stalled_at + 1)  # reading again releases it
        # A client this far behind cannot take part in a closing handshake.
        ws.transport.abort()


async def test_shutdown_does_not_wait_for_a_stalled_client() -> None:
    loop = asyncio.get_running_loop()
    sim = SimServer(config(fills_per_second=math.inf))
    await sim.__aenter__()
    ws = await connect(sim.url, compression=None)
    try:
        await send_login(ws, api_key="sim-api-key")
        await subscribe(ws, all_accounts=True)  # and never read again
        await sim.wait_generated(10_000)
        started = loop.time()
        await sim.__aexit__(None, None, None)
        assert loop.time() - started < 3
        assert sim.connections == 0
    finally:
        ws.transport.abort()


async def test_heartbeats_are_sent() -> None:
    async with SimServer(config(heartbeat_interval=0.05)) as sim, logged_in(sim) as (ws, _):
        message = await recv(ws, within=2)
        assert message.WhichOneof("payload") == "heartbeat"
        now_ms = datetime.datetime.now(datetime.UTC).timestamp() * 1000
        assert abs(message.heartbeat.timestamp - now_ms) < 5000
