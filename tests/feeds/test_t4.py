"""The t4 adapter against real WebSocket servers: the simulator, and a scripted
server for what the simulator does not do on purpose (silence, garbage, refusals)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from fillcapture.config import T4Settings
from fillcapture.feeds.base import LoginRefused
from fillcapture.feeds.t4.proto import auth_pb2, service_pb2
from fillcapture.feeds.t4.session import T4Feed
from fillcapture.metrics import Metrics
from fillcapture.model import Connected, Disconnected, FeedEvent, FillsReceived
from fillcapture.ownership import Entry, Ownership
from fillcapture.sim import SimConfig, SimServer

OWNED = Ownership([Entry("A", None, "11111"), Entry("B", None, "33333")])


def _settings(url: str, **overrides: Any) -> T4Settings:
    values: dict[str, Any] = {
        "url": url, "firm": "SIMFIRM", "username": "WhenTechFillUser",
        "password": "sim-password", "app_license": "x", "reconnect_base": 0.05,
        "reconnect_cap": 0.1,
    }
    values.update(overrides)
    return T4Settings(**values)


async def _collect(feed: T4Feed, until: Callable[[list[FeedEvent]], bool],
                   timeout: float = 10.0) -> list[FeedEvent]:
    events: list[FeedEvent] = []

    async def run() -> None:
        async for event in feed.events():
            events.append(event)
            if until(events):
                return

    try:
        await asyncio.wait_for(run(), timeout)
    finally:
        await feed.close()
    return events


def _fills(events: list[FeedEvent]) -> list[Any]:
    return [f for e in events if isinstance(e, FillsReceived) for f in e.fills]


async def test_api_key_login_receives_fills_of_every_account_in_risk_manager_mode() -> None:
    async with SimServer(SimConfig(fills_per_second=2000, seed=3)) as sim:
        feed = T4Feed(_settings(sim.url, api_key="sim-api-key", password=None,
                                subscribe_all=True), lambda: OWNED, Metrics())
        events = await _collect(feed, lambda ev: len(_fills(ev)) >= 300)
    assert isinstance(events[0], Connected)
    assert events[0].risk_manager
    assert {f.account for f in _fills(events)} == {"11111", "22222", "33333", "44444", "55555"}


async def test_assigned_mode_subscribes_only_owned_visible_accounts() -> None:
    async with SimServer(SimConfig(fills_per_second=2000, seed=4)) as sim:
        feed = T4Feed(_settings(sim.url, subscribe_all=False), lambda: OWNED, Metrics())
        events = await _collect(feed, lambda ev: len(_fills(ev)) >= 200)
    assert {f.account for f in _fills(events)} == {"11111", "33333"}


async def test_reconnect_resubscribes_and_loses_nothing() -> None:
    async with SimServer(SimConfig(fills_per_second=3000, seed=5, max_fills=3000,
                                   accounts=("11111", "33333"))) as sim:
        feed = T4Feed(_settings(sim.url, subscribe_all=True), lambda: OWNED, Metrics())
        seen: set[Any] = set()

        async def consume() -> None:
            async for event in feed.events():
                if isinstance(event, FillsReceived):
                    seen.update(f.key for f in event.fills)
                if len(seen) == 3000:
                    return

        consumer = asyncio.create_task(consume())
        for logins in range(1, 4):
            # Each drop cuts a logged-in session (the back-off grows across
            # them: none stays up for healthy_after).
            async with asyncio.timeout(20):
                while feed.metrics["feed.logins"] < logins:
                    await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)
            await sim.drop_connections()
        await asyncio.wait_for(consumer, 20)
        await feed.close()
        ledger = {(f.firm, f.account_id, f.order_id, f.exchange_trade_id) for f in sim.ledger}
    assert {(k.firm, k.account_id, k.order_id, k.trade_key) for k in seen} == ledger
    assert feed.metrics["feed.logins"] >= 4


# --- a scripted server --------------------------------------------------------


class Scripted:
    """Answers the login with ``result``, records client messages, then runs ``after``."""

    def __init__(self, result: int = auth_pb2.LOGIN_RESULT_SUCCESS,
                 after: Callable[[ServerConnection], Any] | None = None) -> None:
        self.result = result
        self.after = after
        self.received: list[service_pb2.ClientMessage] = []
        self.sessions = 0

    async def handler(self, ws: ServerConnection) -> None:
        self.sessions += 1
        try:
            async for frame in ws:
                assert isinstance(frame, bytes)
                message = service_pb2.ClientMessage.FromString(frame)
                self.received.append(message)
                if message.WhichOneof("payload") == "login_request":
                    response = service_pb2.ServerMessage()
                    login = response.login_response
                    login.result = self.result  # type: ignore[assignment]
                    login.firm = "SIMFIRM"
                    login.error_message = "scripted"
                    account = login.accounts.add()
                    account.account_id = "acc-1"
                    account.account_number = "11111"
                    await ws.send(response.SerializeToString())
                elif message.WhichOneof("payload") == "account_subscribe" and self.after:
                    await self.after(ws)
        except ConnectionClosed:
            pass

    def kinds(self) -> list[str | None]:
        return [m.WhichOneof("payload") for m in self.received]


@asynccontextmanager
async def scripted(server: Scripted) -> AsyncIterator[str]:
    async with serve(server.handler, "127.0.0.1", 0) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/v1"


def _trade_frame(trade_id: str) -> bytes:
    message = service_pb2.ServerMessage()
    trade = message.order_update_trade
    trade.unique_id = "o1"
    trade.account_id = "acc-1"
    trade.market_id = "XCME_Eq ES (Z26)"
    trade.exchange_trade_id = trade_id
    trade.volume = 1
    trade.price.value = "6000.00"
    trade.exchange_time.seconds = 1_763_900_000
    return message.SerializeToString()


async def test_heartbeats_are_sent_on_schedule() -> None:
    server = Scripted()
    async with scripted(server) as url:
        feed = T4Feed(_settings(url, heartbeat_interval=0.2), lambda: OWNED, Metrics())
        task = asyncio.create_task(_collect(feed, lambda ev: False, timeout=30))
        await asyncio.sleep(1.3)
        await feed.close()
        task.cancel()
    beats = server.kinds().count("heartbeat")
    assert 4 <= beats <= 7
    assert server.kinds()[:2] == ["login_request", "account_subscribe"]


async def test_silent_server_is_declared_dead_and_reconnected() -> None:
    server = Scripted()  # logs in, then never says anything again
    async with scripted(server) as url:
        metrics = Metrics()
        feed = T4Feed(_settings(url, silence_timeout=0.4, heartbeat_interval=5),
                      lambda: OWNED, metrics)
        events = await _collect(
            feed, lambda ev: sum(isinstance(e, Connected) for e in ev) >= 2, timeout=10)
    assert any(isinstance(e, Disconnected) for e in events)
    assert metrics["feed.silent_timeouts"] >= 1
    assert server.sessions >= 2


async def test_malformed_frames_are_counted_and_skipped() -> None:
    async def garbage_then_fill(ws: ServerConnection) -> None:
        await ws.send(b"\xff\xff\xff\x00garbage")                  # not protobuf
        await ws.send(_trade_frame("T1")[:-5])                      # truncated
        await ws.send(b"\x82\x13\x03\x0a\x01")                      # wrong shape inside
        await ws.send("a text frame")
        await ws.send(_trade_frame("T2"))

    server = Scripted(after=garbage_then_fill)
    async with scripted(server) as url:
        metrics = Metrics()
        feed = T4Feed(_settings(url), lambda: OWNED, metrics)
        events = await _collect(feed, lambda ev: bool(_fills(ev)))
    assert [f.exchange_trade_id for f in _fills(events)] == ["T2"]
    assert metrics["frames.malformed"] >= 3


@pytest.mark.parametrize("result", [auth_pb2.LOGIN_RESULT_FAILED,
                                    auth_pb2.LOGIN_RESULT_LOCKED_OUT,
                                    auth_pb2.LOGIN_RESULT_PASSWORD_EXPIRED])
async def test_non_retryable_login_result_raises_after_one_attempt(result: int) -> None:
    server = Scripted(result=result)
    async with scripted(server) as url:
        feed = T4Feed(_settings(url), lambda: OWNED, Metrics())
        with pytest.raises(LoginRefused, match=auth_pb2.LoginResult.Name(result)):  # type: ignore[arg-type]
            await _collect(feed, lambda ev: False)
    assert server.sessions == 1


async def test_retryable_login_result_retries() -> None:
    server = Scripted(result=auth_pb2.LOGIN_RESULT_UNEXPECTED_ERROR)
    async with scripted(server) as url:
        feed = T4Feed(_settings(url), lambda: OWNED, Metrics())
        events = await _collect(
            feed, lambda ev: sum(isinstance(e, Disconnected) for e in ev) >= 3)
    assert server.sessions >= 3
    assert "LOGIN_RESULT_UNEXPECTED_ERROR" in str(events[0])
