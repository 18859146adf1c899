"""Each class of T4 login result, against a simulator refusing logins with it.

Non-retryable: the daemon exits 3 naming the result after exactly one attempt
(counted at the simulator). LOGGED_IN_ELSEWHERE: a long, configurable wait.
Everything else: retried with back-off until the login succeeds.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from fillcapture.config import T4Settings
from fillcapture.feeds.t4.proto import auth_pb2
from fillcapture.feeds.t4.session import NON_RETRYABLE, T4Feed, login_result_name
from fillcapture.metrics import Metrics
from fillcapture.model import Connected, Disconnected
from fillcapture.ownership import Ownership
from fillcapture.sim import SimConfig, SimServer
from tests.conftest import Proc, SimProc, daemon_config, stored_rows, wait_until

NON_RETRYABLE_NAMES = sorted(login_result_name(result) for result in NON_RETRYABLE)


def test_each_non_retryable_result_exits_3_after_one_attempt(
    tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
) -> None:
    # One simulator and one daemon per result, all at once: 12 pairs in seconds.
    pairs = []
    for name in NON_RETRYABLE_NAMES:
        workdir = tmp_path / name
        workdir.mkdir()
        sim = start_sim("--refuse-login", name, "--rate", "0", name=name)
        daemon = start_daemon(daemon_config(workdir, sim), name=f"daemon-{name}")
        pairs.append((name, sim, daemon))

    for name, sim, daemon in pairs:
        assert daemon.wait(60) == 3, f"{name}: {daemon.stderr[-1500:]}"
        refused = daemon.events("feed.login_refused")
        assert [event["result"] for event in refused] == [name]
        assert len(daemon.events("feed.connecting")) == 1
        attempts = [e for e in sim.events("sim.session.login_failed") if e["result"] == name]
        assert len(attempts) == 1, f"{name}: {len(attempts)} login attempts reached the simulator"
        assert "sim-password" not in daemon.stdout + daemon.stderr
    print(f"non-retryable results checked: {len(pairs)}")


def test_logged_in_elsewhere_waits_long_warns_and_counts(
    tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
) -> None:
    sim = start_sim("--refuse-login", "LOGGED_IN_ELSEWHERE", "--refuse-logins", "2",
                    "--rate", "200")
    # Back-off for ordinary failures is 0.2 s at most here; LOGGED_IN_ELSEWHERE waits 2 s.
    daemon = start_daemon(daemon_config(tmp_path, sim, elsewhere_delay=2.0))

    wait_until(lambda: len(stored_rows(tmp_path / "fills.db")) > 0, 30, "capture after login")

    warnings = daemon.events("feed.logged_in_elsewhere")
    assert [event["level"] for event in warnings] == ["error", "error"]
    assert [event["count"] for event in warnings] == [1, 2]
    connecting = [datetime.fromisoformat(str(e["timestamp"]))
                  for e in daemon.events("feed.connecting")]
    assert len(connecting) == 3
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(connecting)]
    print(f"seconds between attempts after LOGGED_IN_ELSEWHERE: {gaps}")
    assert all(gap >= 2.0 for gap in gaps)


@pytest.mark.parametrize("result", [
    auth_pb2.LOGIN_RESULT_API_MESSAGE_BACKLOG,
    auth_pb2.LOGIN_RESULT_SERVER_MESSAGE_BACKLOG,
    auth_pb2.LOGIN_RESULT_UNEXPECTED_ERROR,
    auth_pb2.LOGIN_RESULT_LOGOUT,
], ids=login_result_name)
async def test_other_results_are_retried_with_back_off(result: int) -> None:
    config = SimConfig(fills_per_second=0, refuse_login=result, refuse_logins=3)
    async with SimServer(config) as sim:
        settings = T4Settings(url=sim.url, firm=config.firm, username=config.username,
                              password=config.password, app_license="x",
                              reconnect_base=0.05, reconnect_cap=0.2)
        metrics = Metrics()
        feed = T4Feed(settings, Ownership, metrics)
        disconnects = 0
        started = time.monotonic()
        async with asyncio.timeout(20):
            async for event in feed.events():
                if isinstance(event, Disconnected):
                    disconnects += 1
                    assert login_result_name(result) in event.reason
                elif isinstance(event, Connected):
                    break
        await feed.close()
    assert disconnects == 3
    assert sim.login_attempts[login_result_name(result)] == 3
    assert sim.login_attempts["LOGIN_RESULT_SUCCESS"] == 1
    assert metrics[f"feed.login_refused.{login_result_name(result)}"] == 3
    print(f"{login_result_name(result)}: 3 refusals then logged in after "
          f"{time.monotonic() - started:.2f} s")
