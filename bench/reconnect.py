"""Reconnect benchmark: how long from a dropped socket until fills flow again.

A simulator streams 1,000 fills/s (Risk Manager mode, four owned accounts) to a
daemon writing SQLite. The simulator cuts the socket without a closing
handshake, as a network failure does, N times. For each drop this measures:

- back-off: drop → the adapter's reconnect attempt (full jitter, so random);
- session: that attempt → logged in, subscribed and the snapshot committed;
- total: drop → the first fill made after the drop committed to the store.

Run with the adapter's defaults (reconnect base 1 s, cap 30 s) unless told
otherwise, and prints median / p90 / max of each over the drops. Each drop
comes 0.5 s after the last recovery, so ``healthy_after`` is 0.25 s here: every
session counts as healthy and each wait is drawn from the base, as for a lone
drop in production (with the default 300 s, 20 drops in a row would rightly
grow the back-off to its cap).

    .venv/bin/python bench/reconnect.py [--drops 20] [--reconnect-base 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fillcapture import logs
from fillcapture.config import Settings, StoreSettings, T4Settings
from fillcapture.daemon import Daemon
from fillcapture.feeds.t4.session import T4Feed
from fillcapture.metrics import Metrics
from fillcapture.sim import SimConfig, SimServer
from fillcapture.store import Owner, open_store

ACCOUNTS = ("11111", "22222", "33333", "44444")


async def measure(drops: int, base: float, rate: float) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {"back-off": [], "session": [], "total": []}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "fills.db"
        config = SimConfig(accounts=ACCOUNTS, fills_per_second=rate, seed=7)
        async with SimServer(config) as sim, open_store(f"sqlite:///{db}") as store:
            settings = Settings(
                t4=T4Settings(url=sim.url, firm=config.firm, username=config.username,
                              password=config.password, app_license="bench",
                              subscribe_all=True, reconnect_base=base,
                              healthy_after=0.25),
                store=StoreSettings(url=f"sqlite:///{db}"),
            )
            await store.seed_registry([Owner("A", None, number) for number in ACCOUNTS])
            metrics = Metrics()
            daemon = Daemon(settings, store, metrics)
            await daemon.load_registry()
            feed = T4Feed(settings.t4, lambda: daemon.ownership, metrics)
            runner = asyncio.create_task(daemon.run(feed))
            await _until(lambda: metrics["fills.captured"] > 0)
            for _ in range(drops):
                await asyncio.sleep(0.5)
                logins = metrics["feed.logins"]
                generated = len(sim.ledger)
                dropped = time.monotonic()
                await sim.drop_connections()
                await _until(lambda n=logins: metrics["feed.logins"] > n)
                # The first fill made after the drop, committed.
                await _until(lambda n=generated: _stored_after(sim, n, db))
                done = time.monotonic()
                attempt = feed.attempt_started
                figures["back-off"].append(attempt - dropped)
                figures["session"].append(done - attempt)
                figures["total"].append(done - dropped)
            daemon.stop()
            await runner
    return figures


def _stored_after(sim: SimServer, generated: int, db: Path) -> bool:
    owned = [f for f in sim.ledger[generated:] if f.account in ACCOUNTS]
    if not owned:
        return False
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT 1 FROM fills WHERE order_id = ? AND trade_key = ?",
                           (owned[0].order_id, owned[0].exchange_trade_id)).fetchone()
    return row is not None


async def _until(predicate: Callable[[], bool]) -> None:
    """Poll every 5 ms (the figures' resolution), for at most a minute."""
    async with asyncio.timeout(60):
        while not predicate():  # noqa: ASYNC110 - the condition is a store read, not an event
            await asyncio.sleep(0.005)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drops", type=int, default=20)
    parser.add_argument("--reconnect-base", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=1000.0)
    args = parser.parse_args()
    logs.configure("error", "console")
    figures = asyncio.run(measure(args.drops, args.reconnect_base, args.rate))
    print(f"reconnect after {args.drops} socket drops at {args.rate:,.0f} fills/s "
          f"(reconnect_base {args.reconnect_base} s):")
    for name, values in figures.items():
        ordered = sorted(values)
        p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
        print(f"  {name:>9}: median {statistics.median(values) * 1000:7.1f} ms   "
              f"p90 {p90 * 1000:7.1f} ms   max {ordered[-1] * 1000:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
