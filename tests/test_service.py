"""The daemon pipeline in-process against the simulator: visibility warnings, status;
and the daemon process's one instance name with the embedded simulator."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from fillcapture.config import Settings, StoreSettings, T4Settings
from fillcapture.daemon import Daemon
from fillcapture.feeds.t4.session import T4Feed
from fillcapture.feedstatus import FeedStatus
from fillcapture.metrics import Metrics
from fillcapture.sim import SimConfig, SimServer
from fillcapture.store import Owner, open_store
from tests.conftest import Proc, wait_until, write_config


async def _run_briefly(tmp_path: Path, sim_config: SimConfig, owners: list[Owner],
                       seconds: float) -> list[dict[str, Any]]:
    async with SimServer(sim_config) as sim, \
            open_store(f"sqlite:///{tmp_path / 'fills.db'}") as store:
        settings = Settings(
            t4=T4Settings(url=sim.url, firm="SIMFIRM", username="WhenTechFillUser",
                          password="sim-password", app_license="x", subscribe_all=True),
            store=StoreSettings(url=f"sqlite:///{tmp_path / 'fills.db'}"),
        )
        await store.seed_registry(owners)
        metrics = Metrics()
        daemon = Daemon(settings, store, metrics)
        daemon.visibility_grace = 0.5
        await daemon.load_registry()
        with capture_logs() as logs:
            runner = asyncio.create_task(
                daemon.run(T4Feed(settings.t4, lambda: daemon.ownership, metrics)))
            await asyncio.sleep(seconds)
            daemon.stop()
            await runner
    return logs


async def test_risk_manager_warns_only_for_accounts_the_firm_does_not_have(
    tmp_path: Path,
) -> None:
    # The login lists only 11111; the firm's other accounts arrive as snapshots.
    config = SimConfig(accounts=("11111", "33333", "55555"), visible=("11111",),
                       fills_per_second=0)
    owners = [Owner("A", None, "11111"), Owner("B", None, "33333"),
              Owner("C", None, "66666")]
    logs = await _run_briefly(tmp_path, config, owners, 1.5)
    warned = [(e["user"], e["account"]) for e in logs
              if e["event"] == "ownership.account_invisible"]
    assert warned == [("C", "66666")]


async def test_status_listeners_follow_the_session(tmp_path: Path) -> None:
    seen: list[FeedStatus] = []
    async with SimServer(SimConfig(fills_per_second=50)) as sim, \
            open_store(f"sqlite:///{tmp_path / 'fills.db'}") as store:
        settings = Settings(
            t4=T4Settings(url=sim.url, firm="SIMFIRM", username="WhenTechFillUser",
                          password="sim-password", app_license="x", subscribe_all=True,
                          reconnect_base=0.05, reconnect_cap=0.1),
            store=StoreSettings(url=f"sqlite:///{tmp_path / 'fills.db'}"),
        )
        daemon = Daemon(settings, store, Metrics())
        daemon.listeners.append(seen.append)
        runner = asyncio.create_task(
            daemon.run(T4Feed(settings.t4, lambda: daemon.ownership, daemon.metrics)))
        for subscribed in (1, 2):
            async with asyncio.timeout(10):
                while [s.state for s in seen].count("subscribed") < subscribed:
                    await asyncio.sleep(0.01)
            if subscribed == 1:
                await sim.drop_connections()
        daemon.stop()
        await runner

    states = [status.state for status in seen]
    transitions = [s for i, s in enumerate(states) if i == 0 or s != states[i - 1]]
    assert transitions == ["connected", "subscribed", "disconnected", "connected", "subscribed",
                           "stopping", "stopped"]
    disconnected = seen[states.index("disconnected")]
    assert disconnected.reason
    assert disconnected.username == "WhenTechFillUser"
    assert seen[-1].visible == {"11111", "22222", "33333", "44444", "55555"}
    assert all(a.since <= b.since for a, b in itertools.pairwise(seen))


def test_the_embedded_simulator_s_daemon_leases_the_firm_it_records_its_state_under(
        tmp_path: Path, start_daemon: Callable[..., Proc]) -> None:
    # No [t4] firm: the simulator's firm is the instance, for the lease as for the state.
    db = tmp_path / "fills.db"
    config = write_config(tmp_path / "fillcapture.toml", {
        "feed": {"adapter": "sim"}, "sim": {"fills_per_second": 20},
        "store": {"url": f"sqlite:///{db}"},
        "users": [{"name": "A", "accounts": ["11111"]}],
        "metrics": {"enabled": False}, "schedule": {"enabled": False},
        "log": {"format": "json", "level": "info"},
    })
    first = start_daemon(config, name="first")
    wait_until(lambda: bool(first.events("feed.subscribed")), 30, "the first daemon to capture")
    with sqlite3.connect(db) as conn:
        instances = {row[0] for row in conn.execute("SELECT DISTINCT instance FROM daemon_state")}
    assert instances == {"SIMFIRM"}
    assert sorted(path.name for path in tmp_path.glob("*.lease")) == ["fills.db.SIMFIRM.lease"]

    second = start_daemon(config, name="second")
    assert second.wait(30) == 2
    assert len(second.stderr.strip().splitlines()) == 1, second.stderr
    assert "firm instance 'SIMFIRM' is already captured" in second.stderr
    assert f"pid {first.popen.pid} on host " in second.stderr
    assert first.popen.poll() is None
