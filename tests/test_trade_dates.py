"""Trade dates that look wrong, end to end: a simulator adding ticks to every
trade date, a daemon that stores T4's dates, counts each suspect fill in
``fillcapture_fills_trade_date_suspect_total`` and warns once per account and date."""

from __future__ import annotations

import json
import signal
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from fillcapture.config import T4Settings
from fillcapture.feeds.t4.session import T4Feed
from fillcapture.feeds.t4.tradedate import COUNTER
from fillcapture.metrics import Metrics
from fillcapture.model import Fill, FillsReceived
from fillcapture.ownership import Ownership
from fillcapture.schedule import trade_date
from fillcapture.sim import SimConfig, SimServer
from tests.conftest import (
    Proc,
    SimProc,
    daemon_config,
    free_port,
    ledger_rows,
    stored_rows,
    wait_until,
)

pytestmark = pytest.mark.timeout(90)

OWNED = {"11111", "22222", "33333", "44444"}


async def _received(config: SimConfig, count: int) -> tuple[list[Fill], Metrics]:
    metrics = Metrics()
    async with SimServer(config) as sim:
        feed = T4Feed(T4Settings(url=sim.url, api_key="sim-api-key", subscribe_all=True),
                      Ownership, metrics)
        fills: list[Fill] = []
        async for event in feed.events():
            if isinstance(event, FillsReceived):
                fills.extend(event.fills)
                if len(fills) >= count:
                    break
        await feed.close()
    return fills, metrics


async def test_offset_trade_dates_are_counted_and_the_fills_keep_t4s_date() -> None:
    day = trade_date(datetime.now(UTC))
    fills, metrics = await _received(
        SimConfig(fills_per_second=2000, seed=11, trade_date=day, trade_date_offset_ticks=12345),
        300)
    assert metrics[COUNTER] == len(fills)
    assert {f.trade_date for f in fills} == {day}


async def test_midnights_of_the_cme_date_are_not_suspect() -> None:
    fills, metrics = await _received(SimConfig(fills_per_second=2000, seed=11), 300)
    # The simulator dates by the same CME rule (a fill made on the roll instant
    # may still carry the old date: that one would be rightly suspect).
    disagreeing = sum(trade_date(f.exchange_time) != f.trade_date for f in fills)
    assert metrics[COUNTER] == disagreeing


def _metric(port: int, name: str) -> float:
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


def test_the_daemon_exports_the_counter_and_warns_once_per_account_and_date(
    tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
) -> None:
    sim = start_sim("--rate", "400", "--max-fills", "800", "--seed", "7",
                    "--trade-date-offset-ticks", "600000000")  # one minute past midnight
    port = free_port()
    daemon = start_daemon(daemon_config(tmp_path, sim, metrics={"listen": f"127.0.0.1:{port}"}))
    db = tmp_path / "fills.db"
    wait_until(lambda: len(sim.ledger()) == 800, 30, "the simulator to finish")
    expected = ledger_rows(sim.ledger(), OWNED)
    wait_until(lambda: len(stored_rows(db)) == len(expected), 30, "every owned fill stored")

    def received() -> float:
        return sum(_metric(port, f"fillcapture_fills_{name}_total")
                   for name in ("captured", "duplicate", "dropped_unowned"))

    # Every fill received is suspect: captured, absorbed or dropped as unowned.
    wait_until(lambda: _metric(port, "fillcapture_fills_trade_date_suspect_total")
               == received() >= len(sim.ledger()), 30, "the counters to settle")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0

    warnings = [json.loads(line) for line in daemon.stderr.splitlines() if line.startswith("{")
                and json.loads(line)["event"] == "fill.trade_date_suspect"]
    ledger_dates = {(f.account, f.trade_date.isoformat()) for f in sim.ledger()}
    assert sorted((w["account"], w["trade_date"]) for w in warnings) == sorted(ledger_dates)
    assert {w["reason"] for w in warnings} == {
        "not a midnight in .NET ticks (600000000 ticks past it)"}
    with sqlite3.connect(db) as conn:
        stored = {row[0] for row in conn.execute("SELECT DISTINCT trade_date FROM fills")}
    assert stored == {d for _, d in ledger_dates}
