"""The simulator's busts, spreads and faults as ``[sim]`` settings and
``fillcapture sim`` flags: both reach the simulator, flags winning."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from fillcapture import service
from fillcapture.config import ConfigError, Settings, SimSettings, load_settings
from fillcapture.feeds.t4.proto import auth_pb2
from fillcapture.sim import SimConfig
from tests.conftest import Proc, clean_env, write_config
from tests.sim.frames import BUSTED
from tests.sim.test_sim_server import recv, send_login, subscribe

pytestmark = pytest.mark.timeout(30)

ELSEWHERE = auth_pb2.LOGIN_RESULT_LOGGED_IN_ELSEWHERE
HOSTILE = {
    "spread_fraction": 0.25,
    "bust_fraction": 0.125,
    "drop_every": 30.0,
    "drop_random": 45.0,
    "duplicate_fraction": 0.5,
    "reorder_window": 4,
    "fill_before_order_fraction": 0.75,
    "malformed_fraction": 0.0625,
    "refuse_login": "LOGGED_IN_ELSEWHERE",
    "refuse_logins": 2,
    "stall_after": 5.0,
    "stall_seconds": 10.0,
    "drop_after_login": True,
    "logged_in_elsewhere_after": 2.5,
    "trade_date_offset_ticks": 5,
    "resubscribe_no_snapshot": 2,
}


def test_the_sim_section_maps_onto_the_simulator(tmp_path: Path) -> None:
    path = write_config(tmp_path / "fillcapture.toml", {"sim": {"seed": 9, **HOSTILE}})
    config = SimConfig.from_settings(load_settings(path).sim, password="pw")
    expected = {**HOSTILE, "refuse_login": ELSEWHERE, "seed": 9, "password": "pw"}
    assert {name: getattr(config, name) for name in expected} == expected
    assert config.accounts == ("11111", "22222", "33333", "44444", "55555")
    default = SimConfig.from_settings(SimSettings())
    assert default == SimConfig()
    assert math.isinf(default.stall_seconds)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"bust_fraction": 2}, "sim.bust_fraction"),
        ({"reorder_window": -1}, "sim.reorder_window"),
        ({"drop_every": 0}, "sim.drop_every"),
        ({"refuse_login": "NOPE"}, "sim.refuse_login: 'NOPE' is not a T4 LoginResult"),
        ({"refuse_login": "SUCCESS"}, "sim.refuse_login: SUCCESS is not a refusal"),
        ({"refuse_logins": 2}, "refuse_logins needs refuse_login"),
        ({"stall_seconds": 0}, "sim.stall_seconds"),
        ({"logged_in_elsewhere_after": -1}, "sim.logged_in_elsewhere_after"),
        ({"trade_date_offset_ticks": 10**17}, "sim.trade_date_offset_ticks"),
        ({"resubscribe_no_snapshot": -1}, "sim.resubscribe_no_snapshot"),
    ],
)
def test_bad_sim_settings_name_the_key(
    tmp_path: Path, body: dict[str, object], expected: str
) -> None:
    path = write_config(tmp_path / "fillcapture.toml", {"sim": body})
    with pytest.raises(ConfigError, match=expected):
        load_settings(path)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--bust", "2"], "bust_fraction"),
        (["--refuse-login", "NOPE"], "'NOPE' is not a T4 LoginResult"),
        (["--reorder", "-3"], "reorder_window"),
        (["--refuse-logins", "2"], "refuse_logins: needs refuse_login"),
        (["--logged-in-elsewhere-after", "-1"], "logged_in_elsewhere_after: must be"),
        (["--trade-date-offset-ticks", str(10**17)], "trade_date_offset_ticks: must be"),
    ],
)
def test_bad_sim_flags_exit_2_naming_the_setting(
    tmp_path: Path, flags: list[str], expected: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fillcapture", "sim", "--port", "0", *flags],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert expected in result.stderr
    assert "listening" not in result.stdout


async def login_result(url: str, **credentials: str) -> int:
    async with connect(url) as ws:
        return (await send_login(ws, **credentials)).result


async def test_flags_win_over_the_sim_section(tmp_path: Path, procs: list[Proc]) -> None:
    path = write_config(
        tmp_path / "fillcapture.toml",
        {
            "sim": {"refuse_login": "FAILED", "refuse_logins": 1, "spread_fraction": 1.0,
                    "top_level_updates": True},
            "log": {"format": "json"},
        },
    )
    flags = ["--rate", "300", "--bust", "0.5", "--refuse-login", "LOGGED_IN_ELSEWHERE"]
    sim = Proc(["--config", str(path), "sim", "--port", "0", *flags], tmp_path, "sim")
    procs.append(sim)
    url = sim.wait_for(r"ws://127\.0\.0\.1:\d+/v1")
    assert await login_result(url, api_key="sim-api-key") == ELSEWHERE  # the flag's result
    async with connect(url) as ws:  # refused once, as the file says
        assert (await send_login(ws, api_key="sim-api-key")).result == 0
        await subscribe(ws, all_accounts=True)
        changes: set[int] = set()
        while BUSTED not in changes or len(changes) < 2:
            message = await recv(ws)
            kind = message.WhichOneof("payload")
            assert kind != "order_update_trade", "every order is a spread, as the file says"
            if kind == "order_update_trade_leg":
                changes.add(message.order_update_trade_leg.change)  # busts: the flag


async def test_the_embedded_simulator_takes_the_sim_section() -> None:
    settings = Settings(sim=SimSettings(fills_per_second=0, refuse_login=6, refuse_logins=1))
    async with service.embedded_sim(settings) as effective:
        t4 = effective.t4
        assert t4.password is not None
        credentials = {
            "firm": t4.firm,
            "username": t4.username,
            "password": t4.password.get_secret_value(),
            "app_name": t4.app_name,
            "app_license": t4.app_license,
        }
        assert await login_result(t4.url, **credentials) == ELSEWHERE
        assert await login_result(t4.url, **credentials) == auth_pb2.LOGIN_RESULT_SUCCESS
