"""Active and standby on one store: the standby waits logged out, says so,
takes over when the active dies or loses its lease, and the store ends equal
to the ledger; the simulator never sees two sessions of the fill user at
once. On both engines: a SQLite file shared by two processes of one host,
and a PostgreSQL database as two hosts share one."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from fillcapture.store import FillQuery, StoreError, open_store
from tests.conftest import (
    Proc,
    SimProc,
    daemon_config,
    ledger_rows,
    run_cli_here,
    wait_until,
    write_config,
)
from tests.pgcluster import PostgresCluster
from tests.scrape import metrics_port, per_account, scrape, value

OWNED = {"11111", "22222", "33333", "44444"}


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The shared store, once per engine."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fills.db'}"
    return str(request.getfixturevalue("postgres_url"))


def _config(tmp_path: Path, sim: SimProc, name: str, store_url: str | None = None) -> Path:
    path = daemon_config(tmp_path, sim).rename(tmp_path / f"{name}.toml")
    text = path.read_text() + "[standby]\nenabled = true\ntakeover_seconds = 0.5\n" \
        "check_seconds = 0.2\n"
    if store_url is not None:
        text = text.replace(f"sqlite:///{tmp_path / 'fills.db'}", store_url)
    path.write_text(text)
    return path


def _stored(store_url: str) -> list[tuple[object, ...]]:
    """What ``stored_rows`` gives, from any engine through the store protocol."""
    async def read() -> list[tuple[object, ...]]:
        async with open_store(store_url, readonly=True) as store:
            return [(f.firm, f.account, f.order_id, f.exchange_trade_id, f.leg_index,
                     None if f.side is None else f.side.value, f.volume, f.price)
                    async for f in store.fills(FillQuery(include_busted=False))]
    try:
        return asyncio.run(read())
    except StoreError:  # no daemon has made the schema yet
        return []


def _seen(proc: Proc, event: str) -> bool:
    return bool(proc.events(event))


def _overlaps(sim: SimProc) -> int:
    return (sim.stdout + sim.stderr).count("sim.session.overlap")


def test_the_standby_waits_logged_out_then_takes_over_from_a_sigkilled_active(
        tmp_path: Path, start_sim: Callable[..., SimProc],
        start_daemon: Callable[..., Proc], store_url: str) -> None:
    sim = start_sim("--rate", "2000", "--max-fills", "20000", "--seed", "5")
    active = start_daemon(_config(tmp_path, sim, "a", store_url), name="active")
    wait_until(lambda: _seen(active, "feed.subscribed"), 30, "the active to subscribe")
    standby = start_daemon(_config(tmp_path, sim, "b", store_url), name="standby")
    wait_until(lambda: _seen(standby, "standby.waiting"), 30, "the standby to wait")
    waiting = standby.events("standby.waiting")[0]
    assert f"pid {active.popen.pid} on host " in waiting["holder"]
    assert not _seen(standby, "feed.connecting")  # logged out while it waits
    # The standby's endpoint answers: it holds no lease; the active does.
    waiting_metrics = scrape(metrics_port(tmp_path / "b.toml"))
    assert value(waiting_metrics, "fillcapture_lease_held") == 0
    assert value(waiting_metrics, "fillcapture_connected") == 0
    assert value(scrape(metrics_port(tmp_path / "a.toml")), "fillcapture_lease_held") == 1

    status = json.loads(run_cli_here(tmp_path / "b.toml", "status", "--json").stdout)
    (daemon,) = status["daemons"]
    assert daemon["running"]
    assert daemon["pid"] == str(active.popen.pid)
    assert daemon["host"]
    wait_until(lambda: json.loads(run_cli_here(tmp_path / "b.toml", "status", "--json").stdout
                                  )["daemons"][0]["standby"] is not None,
               15, "status to show the standby")

    wait_until(lambda: len(_stored(store_url)) > 2000, 30, "the active to capture")
    active.popen.kill()  # SIGKILL mid-stream
    assert active.wait() == -signal.SIGKILL
    at_kill = len(_stored(store_url))
    wait_until(lambda: _seen(standby, "feed.subscribed"), 30, "the standby to take over")
    assert _seen(standby, "standby.taking_over")
    _ends_equal_to_the_ledger(sim, store_url, at_kill)
    taken = scrape(metrics_port(tmp_path / "b.toml"))
    assert value(taken, "fillcapture_lease_held") == 1
    # What the standby stored after the takeover, counted per account.
    assert sum(per_account(taken, "fillcapture_account_fills_captured_total").values()) \
        == value(taken, "fillcapture_fills_captured_total") > 0
    assert set(per_account(taken, "fillcapture_account_fills_captured_total")) == OWNED
    standby.signal(signal.SIGTERM)
    assert standby.wait(30) == 0


def _ends_equal_to_the_ledger(sim: SimProc, store_url: str, at_switch: int) -> None:
    wait_until(lambda: len(sim.ledger()) == 20000, 60, "the simulator to finish")
    expected = ledger_rows(sim.ledger(), OWNED)
    wait_until(lambda: len(_stored(store_url)) >= len(expected), 60, "all owned fills stored")
    time.sleep(0.5)
    stored = _stored(store_url)
    keys = Counter(row[:5] for row in stored)
    print(f"ledger={len(sim.ledger())} owned={len(expected)} at_switch={at_switch} "
          f"stored={len(stored)}")
    assert at_switch < len(expected)
    assert max(keys.values()) == 1
    assert sorted(stored, key=repr) == sorted(expected, key=repr)
    assert _overlaps(sim) == 0


def test_an_active_whose_database_connections_are_killed_logs_out_and_the_standby_takes_over(
        tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
        postgres_cluster: PostgresCluster, postgres_url: str) -> None:
    sim = start_sim("--rate", "2000", "--max-fills", "20000", "--seed", "6")
    first = start_daemon(_config(tmp_path, sim, "a", postgres_url), name="first")
    wait_until(lambda: _seen(first, "feed.subscribed"), 30, "the first to subscribe")
    second = start_daemon(_config(tmp_path, sim, "b", postgres_url), name="second")
    wait_until(lambda: _seen(second, "standby.waiting"), 30, "the second to wait")
    wait_until(lambda: len(_stored(postgres_url)) > 2000, 30, "the first to capture")

    # Every connection of the first daemon, its lease's among them; it lives on.
    killed = postgres_cluster.psql(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000)) "
        "FROM pg_stat_activity WHERE application_name = :'name';",
        variables={"name": f"fillcapture {first.popen.pid}"})
    assert int(killed) >= 1
    at_switch = len(_stored(postgres_url))
    wait_until(lambda: _seen(first, "lease.lost"), 15, "the first to see its lease lost")
    wait_until(lambda: _seen(second, "feed.subscribed"), 30, "the second to take over")
    assert first.popen.poll() is None  # alive, and now the standby
    wait_until(lambda: _seen(first, "standby.waiting"), 30, "the first to wait again")
    # It logged out before the second logged in.
    lost = first.events("lease.lost")[0]["timestamp"]
    logged_in = [e["timestamp"] for e in second.events("feed.logged_in")]
    assert logged_in
    assert min(logged_in) > lost
    _ends_equal_to_the_ledger(sim, postgres_url, at_switch)
    for proc in (first, second):
        proc.signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def test_a_waiting_standby_stops_at_once_on_sigterm(
        tmp_path: Path, start_sim: Callable[..., SimProc],
        start_daemon: Callable[..., Proc]) -> None:
    sim = start_sim("--rate", "50")
    active = start_daemon(_config(tmp_path, sim, "a"), name="active")
    wait_until(lambda: _seen(active, "feed.subscribed"), 30, "the active to subscribe")
    standby = start_daemon(_config(tmp_path, sim, "b"), name="standby")
    wait_until(lambda: _seen(standby, "standby.waiting"), 30, "the standby to wait")
    started = time.monotonic()
    standby.signal(signal.SIGTERM)
    assert standby.wait(10) == 0
    assert time.monotonic() - started < 5
    assert active.popen.poll() is None
    assert not _seen(standby, "feed.connecting")
    # The active shuts down cleanly; then nothing waits and the lease is free.
    active.signal(signal.SIGTERM)
    assert active.wait(30) == 0
    third = start_daemon(_config(tmp_path, sim, "c"), name="third")
    wait_until(lambda: _seen(third, "feed.subscribed"), 30, "a daemon on the free lease")
    assert not _seen(third, "standby.waiting")
    assert _overlaps(sim) == 0


def test_the_simulator_counts_two_sessions_of_the_fill_user_at_once(
        tmp_path: Path, start_sim: Callable[..., SimProc],
        start_daemon: Callable[..., Proc]) -> None:
    """What the tests above count: two daemons on two stores both log in."""
    sim = start_sim("--rate", "50")
    first = start_daemon(_config(tmp_path, sim, "a"), name="first")
    other = _config(tmp_path, sim, "b")
    other.write_text(other.read_text().replace(str(tmp_path / "fills.db"),
                                               str(tmp_path / "other.db")))
    second = start_daemon(other, name="second")
    wait_until(lambda: _seen(first, "feed.subscribed") and _seen(second, "feed.subscribed"),
               30, "both daemons to log in")
    wait_until(lambda: _overlaps(sim) >= 1, 10, "the simulator to see the overlap")


@pytest.mark.parametrize(("body", "expected"), [
    ({"takeover_seconds": -1}, "standby.takeover_seconds"),
    ({"check_seconds": 0}, "standby.check_seconds"),
    ({"takeover_seconds": 1.5, "check_seconds": 1}, "at least twice check_seconds"),
])
def test_standby_settings_are_checked(tmp_path: Path, body: dict[str, float],
                                      expected: str) -> None:
    path = write_config(tmp_path / "bad.toml", {"standby": body})
    result = run_cli_here(path, "config", "check")
    assert result.returncode == 2
    assert expected in result.stderr
