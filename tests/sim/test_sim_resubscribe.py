"""The simulator's unsubscribe and its resubscribe_no_snapshot fault, over a
real WebSocket: what the reconcile's escalation steps meet."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect

from fillcapture.feeds.t4.proto import account_pb2, service_pb2
from fillcapture.sim import SimServer
from tests.conftest import Proc, clean_env
from tests.sim.test_sim_server import (
    config,
    fills_in,
    logged_in,
    recv,
    send_login,
    snapshots,
    subscribe,
)

pytestmark = pytest.mark.timeout(30)


async def unsubscribe_all(ws: ClientConnection) -> account_pb2.AccountSubscribeResponse:
    request = account_pb2.AccountSubscribe(
        subscribe=account_pb2.ACCOUNT_SUBSCRIBE_TYPE_NONE, subscribe_all_accounts=True)
    await ws.send(service_pb2.ClientMessage(account_subscribe=request).SerializeToString())
    while True:  # live frames queued before the answer still come
        reply = await recv(ws)
        if reply.WhichOneof("payload") == "account_subscribe_response":
            return reply.account_subscribe_response


async def quiet(ws: ClientConnection) -> list[str]:
    """The kinds of the frames that come before the server goes quiet (heartbeats
    come every 20 s only)."""
    kinds: list[str] = []
    try:
        while True:
            kinds.append(str((await recv(ws, within=0.5)).WhichOneof("payload")))
    except TimeoutError:
        return kinds


async def test_an_unsubscribe_stops_the_live_fills() -> None:
    async with SimServer(config(fills_per_second=400, max_fills=200)) as sim, \
            logged_in(sim) as (ws, _):
        await subscribe(ws, all_accounts=True)
        await sim.wait_generated(50)
        assert (await unsubscribe_all(ws)).success
        made = len(sim.ledger)
        await sim.wait_generated(200)  # made, and sent to nobody
        assert made < 200
        assert await quiet(ws) == []
        # Subscribed again, the snapshot has everything made meanwhile.
        await subscribe(ws, all_accounts=True)
        seen = [fill for frame in await snapshots(ws, accounts=5) for fill in fills_in(frame)]
        assert len(seen) == 200


async def test_re_subscriptions_get_no_snapshot_as_told() -> None:
    async with SimServer(config(preload_fills=200, resubscribe_no_snapshot=2)) as sim, \
            logged_in(sim) as (ws, _):
        assert (await subscribe(ws, all_accounts=True)).success  # a session's first: served
        assert len(await snapshots(ws, accounts=5)) >= 5
        assert (await subscribe(ws, all_accounts=True)).success  # ignored, with success
        assert await quiet(ws) == []
        assert (await unsubscribe_all(ws)).success
        assert (await subscribe(ws, all_accounts=True)).success  # the second: ignored
        assert await quiet(ws) == []
        assert (await subscribe(ws, all_accounts=True)).success  # the third: served
        seen = [fill for frame in await snapshots(ws, accounts=5) for fill in fills_in(frame)]
        assert len(seen) == 200
        assert sim.stats["resubscriptions_ignored"] == 2
    # A new session counts again from its own first subscription.
    async with SimServer(config(preload_fills=20, resubscribe_no_snapshot=1)) as sim:
        for _ in range(2):
            async with logged_in(sim) as (ws, _):
                await subscribe(ws, all_accounts=True)
                assert len(await snapshots(ws, accounts=5)) >= 5


async def test_the_flag_reaches_the_simulator(tmp_path: Path, procs: list[Proc]) -> None:
    sim = Proc(["sim", "--port", "0", "--preload", "10", "--rate", "0",
                "--resubscribe-no-snapshot", "1"], tmp_path, "sim")
    procs.append(sim)
    url = sim.wait_for(r"ws://127\.0\.0\.1:\d+/v1")
    async with connect(url) as ws:
        assert (await send_login(ws, api_key="sim-api-key")).result == 0
        await subscribe(ws, all_accounts=True)
        assert len(await snapshots(ws, accounts=5)) >= 5
        await subscribe(ws, all_accounts=True)
        assert await quiet(ws) == []


def test_a_negative_flag_exits_2_naming_the_setting(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fillcapture", "sim", "--port", "0",
         "--resubscribe-no-snapshot", "-1"],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert "resubscribe_no_snapshot" in result.stderr
