"""The simulator's session options that make a session end early, as
``fillcapture sim`` flags, seen by a real WebSocket client."""

from __future__ import annotations

from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from fillcapture.feeds.t4.proto import auth_pb2
from tests.conftest import Proc
from tests.sim.test_sim_server import recv, send_login, subscribe

pytestmark = pytest.mark.timeout(30)

LOGIN = {"api_key": "sim-api-key"}


def _sim(procs: list[Proc], tmp_path: Path, *flags: str) -> str:
    sim = Proc(["sim", "--port", "0", "--rate", "0", *flags], tmp_path, "sim")
    procs.append(sim)
    return sim.wait_for(r"ws://127\.0\.0\.1:\d+/v1")


async def test_drop_after_login_accepts_the_login_then_closes(
    tmp_path: Path, procs: list[Proc]
) -> None:
    url = _sim(procs, tmp_path, "--drop-after-login")
    for _ in range(2):
        async with connect(url) as ws:
            response = await send_login(ws, **LOGIN)
            assert response.result == auth_pb2.LOGIN_RESULT_SUCCESS
            with pytest.raises(ConnectionClosed):
                await recv(ws)


async def test_logged_in_elsewhere_after_ends_a_session_with_a_login_response(
    tmp_path: Path, procs: list[Proc]
) -> None:
    url = _sim(procs, tmp_path, "--logged-in-elsewhere-after", "0.3")
    async with connect(url) as ws:
        assert (await send_login(ws, **LOGIN)).result == auth_pb2.LOGIN_RESULT_SUCCESS
        assert (await subscribe(ws, all_accounts=True)).success  # the session was up
        kinds = []
        while True:
            message = await recv(ws)
            kinds.append(message.WhichOneof("payload"))
            if kinds[-1] == "login_response":
                break
        late = message.login_response
        assert late.result == auth_pb2.LOGIN_RESULT_LOGGED_IN_ELSEWHERE
        assert late.error_message == "Logged in elsewhere."
        with pytest.raises(ConnectionClosed):
            await recv(ws)
