"""The t4 adapter's session against the simulator over a real WebSocket: a
back-off that only a healthy session forgives, and the logins T4's own
clients send."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from structlog.testing import capture_logs
from websockets.asyncio.server import ServerConnection

from fillcapture.config import T4Settings
from fillcapture.feeds.t4.proto import auth_pb2, service_pb2
from fillcapture.feeds.t4.session import T4Feed, login_result_name
from fillcapture.metrics import Metrics
from fillcapture.model import Connected, Disconnected, FeedEvent, Subscribed
from fillcapture.sim import SimConfig, SimServer
from fillcapture.sim.faults import LoginSeen
from tests.feeds.test_t4 import OWNED, Scripted, _collect, _settings, scripted

pytestmark = pytest.mark.timeout(60)

BASE, CAP = 0.05, 0.4


def _waits(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == "feed.reconnect_wait"]


async def test_a_server_that_drops_each_session_at_once_gets_a_growing_back_off() -> None:
    # healthy_after is the default (300 s): no session here comes near it.
    async with SimServer(SimConfig(fills_per_second=0, drop_after_login=True)) as sim:
        feed = T4Feed(_settings(sim.url, reconnect_base=BASE, reconnect_cap=CAP),
                      lambda: OWNED, Metrics())
        events: list[FeedEvent] = []
        with capture_logs() as logs:
            async with asyncio.timeout(30):
                async for event in feed.events():
                    events.append(event)
                    if sum(isinstance(e, Connected) for e in events) == 8:
                        break
            await feed.close()
    waits = _waits(logs)
    assert len(waits) == 7
    # Each session logged in (so the old code reset the back-off at each) and was dropped.
    assert sim.login_attempts["LOGIN_RESULT_SUCCESS"] == 8
    assert sim.stats["dropped_after_login"] >= 7
    assert sum(isinstance(e, Disconnected) for e in events) == 7
    assert [w["attempt"] for w in waits] == [1, 2, 3, 4, 5, 6, 7]
    assert [w["ceiling"] for w in waits] == [0.05, 0.1, 0.2, 0.4, 0.4, 0.4, 0.4]
    assert all(0 <= w["seconds"] <= w["ceiling"] for w in waits)


async def test_a_healthy_session_starts_the_back_off_again_from_the_base() -> None:
    # Three refused logins make the back-off grow; then a session stays up well
    # beyond healthy_after and is dropped: the next wait is drawn from the base again.
    config = SimConfig(fills_per_second=0, refuse_login=auth_pb2.LOGIN_RESULT_UNEXPECTED_ERROR,
                       refuse_logins=3)
    async with SimServer(config) as sim:
        feed = T4Feed(_settings(sim.url, reconnect_base=BASE, reconnect_cap=CAP,
                                healthy_after=0.3), lambda: OWNED, Metrics())
        connected = 0
        with capture_logs() as logs:
            async with asyncio.timeout(30):
                async for event in feed.events():
                    if isinstance(event, Subscribed) and connected == 1:
                        await asyncio.sleep(1.0)  # up at least this long: healthy
                        await sim.drop_connections()
                    elif isinstance(event, Connected):
                        connected += 1
                        if connected == 2:
                            break
            await feed.close()
    waits = _waits(logs)
    assert [w["attempt"] for w in waits] == [1, 2, 3, 1]
    assert [w["ceiling"] for w in waits] == [0.05, 0.1, 0.2, 0.05]


# --- a login_response after login --------------------------------------------


async def test_logged_in_elsewhere_after_login_ends_the_session_and_waits_long() -> None:
    config = SimConfig(fills_per_second=50, logged_in_elsewhere_after=0.3)
    async with SimServer(config) as sim:
        metrics = Metrics()
        feed = T4Feed(_settings(sim.url, reconnect_base=BASE, reconnect_cap=CAP,
                                elsewhere_delay=1.5), lambda: OWNED, metrics)
        events: list[FeedEvent] = []
        with capture_logs() as logs:
            async with asyncio.timeout(30):
                async for event in feed.events():
                    events.append(event)
                    if sum(isinstance(e, Connected) for e in events) == 2:
                        break
            await feed.close()
    name = "LOGIN_RESULT_LOGGED_IN_ELSEWHERE"
    assert sim.stats["logged_in_elsewhere"] >= 1
    errors = [e for e in logs if e["event"] == "feed.logged_in_elsewhere"]
    assert len(errors) == 1
    assert errors[0]["log_level"] == "error"
    assert (errors[0]["result"], errors[0]["retry_in"], errors[0]["after_login"]) == (
        name, 1.5, True)
    assert metrics[f"feed.login_refused.{name}"] == 1
    assert [e.reason for e in events if isinstance(e, Disconnected)] == [name]
    assert [w["seconds"] for w in _waits(logs)] == [1.5]
    assert "sim-password" not in repr(logs)


def _late_response(result: int) -> Callable[[ServerConnection], Awaitable[None]]:
    async def send(ws: ServerConnection) -> None:
        message = service_pb2.ServerMessage()
        message.login_response.result = result  # type: ignore[assignment]
        message.login_response.error_message = "scripted late"
        await ws.send(message.SerializeToString())
    return send


@pytest.mark.parametrize("result", [
    auth_pb2.LOGIN_RESULT_LOGGED_IN_ELSEWHERE,
    auth_pb2.LOGIN_RESULT_LOGOUT,
    auth_pb2.LOGIN_RESULT_ADDITIONAL_USERS_NOT_ALLOWED,
], ids=login_result_name)
async def test_a_late_refusal_of_the_seat_waits_elsewhere_delay(result: int) -> None:
    # The scripted server keeps the socket open: the adapter itself ends the session.
    server = Scripted(after=_late_response(result))
    async with scripted(server) as url:
        metrics = Metrics()
        feed = T4Feed(_settings(url, elsewhere_delay=0.7), lambda: OWNED, metrics)
        with capture_logs() as logs:
            events = await _collect(
                feed, lambda ev: sum(isinstance(e, Connected) for e in ev) == 2, timeout=20)
    name = login_result_name(result)
    errors = [e for e in logs if e["log_level"] == "error"]
    assert [(e["event"], e["result"], e["retry_in"]) for e in errors] == [
        ("feed.logged_in_elsewhere", name, 0.7)]
    assert metrics[f"feed.login_refused.{name}"] == 1
    assert [e.reason for e in events if isinstance(e, Disconnected)] == [name]
    assert [w["seconds"] for w in _waits(logs)] == [0.7]
    assert server.sessions == 2


async def test_another_late_result_ends_the_session_with_an_ordinary_retry() -> None:
    server = Scripted(after=_late_response(auth_pb2.LOGIN_RESULT_UNEXPECTED_ERROR))
    async with scripted(server) as url:
        metrics = Metrics()
        feed = T4Feed(_settings(url, elsewhere_delay=300, reconnect_base=BASE,
                                reconnect_cap=CAP), lambda: OWNED, metrics)
        with capture_logs() as logs:
            events = await _collect(
                feed, lambda ev: sum(isinstance(e, Connected) for e in ev) == 2, timeout=20)
    errors = [e for e in logs if e["log_level"] == "error"]
    assert [(e["event"], e["result"]) for e in errors] == [
        ("feed.session_ended_by_server", "LOGIN_RESULT_UNEXPECTED_ERROR")]
    assert metrics["feed.login_refused.LOGIN_RESULT_UNEXPECTED_ERROR"] == 1
    reasons = [e.reason for e in events if isinstance(e, Disconnected)]
    assert len(reasons) == 1
    assert reasons[0].startswith("LOGIN_RESULT_UNEXPECTED_ERROR after login")
    assert [w["ceiling"] for w in _waits(logs)] == [BASE]


async def test_additional_users_not_allowed_at_login_waits_elsewhere_delay() -> None:
    result = auth_pb2.LOGIN_RESULT_ADDITIONAL_USERS_NOT_ALLOWED
    config = SimConfig(fills_per_second=0, refuse_login=result, refuse_logins=2)
    async with SimServer(config) as sim:
        metrics = Metrics()
        feed = T4Feed(_settings(sim.url, elsewhere_delay=0.5, reconnect_base=BASE,
                                reconnect_cap=CAP), lambda: OWNED, metrics)
        with capture_logs() as logs:
            await _collect(feed, lambda ev: any(isinstance(e, Connected) for e in ev),
                           timeout=20)
    name = login_result_name(result)
    errors = [e for e in logs if e["event"] == "feed.logged_in_elsewhere"]
    assert [(e["log_level"], e["result"], e["after_login"], e["count"]) for e in errors] == [
        ("error", name, False, 1), ("error", name, False, 2)]
    assert [w["seconds"] for w in _waits(logs)] == [0.5, 0.5]
    assert sim.login_attempts[name] == 2
    assert metrics[f"feed.login_refused.{name}"] == 2


# --- what the login request carries ---------------------------------------------


@pytest.mark.parametrize(("price_format", "fields", "sent"), [
    ("decimal", ("api_key",), "PRICE_FORMAT_DECIMAL"),
    ("real", ("api_key", "price_format"), "PRICE_FORMAT_REAL"),
])
async def test_api_key_login_carries_the_key_alone(
    price_format: str, fields: tuple[str, ...], sent: str,
) -> None:
    # With the default price format the request is what CTS's JavaScript client
    # sends: the key and nothing else (DECIMAL is proto3's zero, never on the wire).
    async with SimServer(SimConfig(fills_per_second=0)) as sim:
        feed = T4Feed(T4Settings(url=sim.url, api_key="sim-api-key", subscribe_all=True,
                                 price_format=price_format), lambda: OWNED, Metrics())
        events = await _collect(feed, lambda ev: any(isinstance(e, Subscribed) for e in ev))
    assert sim.logins == [LoginSeen(fields, sent)]
    connected = events[0]
    assert isinstance(connected, Connected)
    assert (connected.firm, connected.price_format) == ("SIMFIRM", price_format)


async def test_password_login_sends_the_configured_price_format() -> None:
    async with SimServer(SimConfig(fills_per_second=0)) as sim:
        feed = T4Feed(_settings(sim.url, price_format="clearing_decimal"),
                      lambda: OWNED, Metrics())
        await _collect(feed, lambda ev: any(isinstance(e, Subscribed) for e in ev))
    assert sim.logins == [LoginSeen(
        ("app_license", "app_name", "firm", "password", "price_format", "username"),
        "PRICE_FORMAT_CLEARING_DECIMAL")]
