"""Failover benchmark: the active daemon SIGKILLed, the standby takes over.

Two daemons of one firm share one store with ``[standby] enabled`` and the
default ``takeover_seconds`` and ``check_seconds``; the simulated T4 makes
fills at ``--rate``. Each of ``--switches`` (20) switches SIGKILLs the active
daemon mid-stream and times, from the kill:

(a) the standby logged in to T4 (its ``feed.logged_in``);
(b) the first fill made after the kill committed to the store (its
    ``captured_at``; made by the simulator, recovered from T4's snapshot).

The killed daemon is started again as the next standby. Printed beside them,
from the same run, the floor a switch cannot beat: a daemon's cold start,
from process start to logged in, with no lease to wait for; and how many
times the simulator saw two sessions of the fill user at once (must be 0).

    .venv/bin/python bench/failover.py [--switches 20] [--store URL | --postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fillcapture.sim import read_ledger
from fillcapture.store import FillQuery, open_store

ACCOUNTS = ["11111", "22222", "33333", "44444"]
PROJECT = str(Path(__file__).resolve().parent.parent)  # for tests.pgcluster


class Daemon:
    """A ``fillcapture run`` process with its JSON log in a file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fillcapture", "--config", str(config), "run"],
            stdout=subprocess.DEVNULL, stderr=log.open("ab"))

    def events(self, name: str) -> list[dict[str, Any]]:
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                event = json.loads(line)
                if event.get("event") == name:
                    found.append(event)
        return found

    def wait_event(self, name: str, after: float = 0.0, timeout: float = 60.0) -> float:
        """The time (Unix seconds) of the first ``name`` event logged after ``after``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events(name):
                at = datetime.fromisoformat(event["timestamp"]).timestamp()
                if at >= after:
                    return at
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited {self.proc.returncode}: "
                                   f"{self.log.read_text()[-2000:]}")
            time.sleep(0.02)
        raise RuntimeError(f"{name} not logged within {timeout} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def sim_process(work: Path, rate: float
                ) -> Iterator[tuple[str, subprocess.Popen[str], Path]]:
    ledger = work / "ledger.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fillcapture", "sim", "--port", "0", "--rate", str(rate),
         "--accounts", ",".join(ACCOUNTS), "--ledger", str(ledger)],
        stdout=subprocess.PIPE, stderr=(work / "sim.log").open("ab"), text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"ws://\S+", line)
        if not match:
            raise RuntimeError(f"simulator did not start: {line!r}")
        yield match.group(0), proc, ledger
    finally:
        proc.terminate()
        proc.wait(10)


def write_config(path: Path, url: str, store: str, metrics_port: int) -> Path:
    path.write_text(f"""
[feed]
adapter = "t4"
[t4]
url = "{url}"
firm = "SIMFIRM"
username = "WhenTechFillUser"
password = "sim-password"
app_license = "00000000-0000-0000-0000-000000000000"
subscribe_all = true
[store]
url = "{store}"
[standby]
enabled = true
[schedule]
enabled = false
[metrics]
listen = "127.0.0.1:{metrics_port}"
[log]
format = "json"
level = "info"
[[users]]
name = "U"
accounts = {json.dumps(ACCOUNTS)}
""")
    return path


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def committed_after(store_url: str, ledger: Path, killed: float) -> float:
    """When the first fill the simulator made after ``killed`` was committed."""
    moment = datetime.fromtimestamp(killed, UTC)
    deadline = time.monotonic() + 60.0
    first = None
    while first is None:
        made = [f for f in read_ledger(ledger) if f.exchange_time > moment]
        if made:
            first = min(made, key=lambda f: f.exchange_time)
        elif time.monotonic() > deadline:
            raise RuntimeError("the simulator made no fill after the kill")
        else:
            await asyncio.sleep(0.05)
    async with open_store(store_url, readonly=True) as store:
        query = FillQuery(account=first.account, time_from=first.exchange_time)
        while time.monotonic() < deadline:
            async with contextlib.aclosing(store.fills(query)) as fills:
                async for fill in fills:
                    if (fill.order_id, fill.exchange_trade_id) == (first.order_id,
                                                                   first.exchange_trade_id):
                        return fill.captured_at.timestamp()
                    break
            await asyncio.sleep(0.05)
    raise RuntimeError("the first fill after the kill was never stored")


def line(name: str, values: list[float], target: str) -> str:
    return (f"{name:<44} median {statistics.median(values):6.2f} s, "
            f"max {max(values):6.2f} s ({len(values)} switches; {target})")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switches", type=int, default=20)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--store", help="store URL (default: a SQLite file in a temporary "
                                        "directory)")
    parser.add_argument("--postgres", action="store_true",
                        help="a database of a throwaway PostgreSQL cluster (tests/pgcluster.py)")
    args = parser.parse_args()
    if args.postgres:
        sys.path.insert(0, PROJECT)
        from tests.pgcluster import PostgresCluster

        with PostgresCluster() as cluster:
            await switches(args, cluster.database())
        return
    await switches(args, args.store)


async def switches(args: argparse.Namespace, store_url: str | None) -> None:
    """The benchmark on ``store_url`` (``None``: a SQLite file of its own)."""

    with tempfile.TemporaryDirectory(prefix="fillcapture-failover-") as tmp:
        work = Path(tmp)
        store = store_url or f"sqlite:///{work / 'fills.db'}"
        with sim_process(work, args.rate) as (url, _, ledger):
            configs = [write_config(work / f"{name}.toml", url, store, free_port())
                       for name in ("a", "b")]
            started = time.time()
            daemons = [Daemon(configs[0], work / "a-0.log")]
            cold = daemons[0].wait_event("feed.logged_in") - started
            daemons[0].wait_event("feed.subscribed")
            daemons.append(Daemon(configs[1], work / "b-0.log"))
            daemons[1].wait_event("standby.waiting")
            logged_in: list[float] = []
            committed: list[float] = []
            try:
                for switch in range(args.switches):
                    active, standby = daemons
                    await asyncio.sleep(1.0)  # a spell of capture before each kill
                    killed = time.time()
                    active.proc.kill()
                    active.proc.wait()
                    logged_in.append(standby.wait_event("feed.logged_in", after=killed)
                                     - killed)
                    committed.append(await committed_after(store, ledger, killed) - killed)
                    standby.wait_event("feed.subscribed", after=killed)
                    index = switch % 2
                    fresh = Daemon(configs[index], work / f"{'ab'[index]}-{switch + 1}.log")
                    fresh.wait_event("standby.waiting")
                    daemons = [standby, fresh]
                    print(f"  switch {switch + 1:>2}: logged in {logged_in[-1]:5.2f} s, "
                          f"committed {committed[-1]:5.2f} s", flush=True)
            finally:
                for daemon in daemons:
                    daemon.stop()
        overlaps = (work / "sim.log").read_text(errors="replace").count("sim.session.overlap")
        print(line("(a) killed -> standby logged in to T4", logged_in, "no target"))
        print(line("(b) killed -> first later fill committed", committed,
                   "target median <= 5 s, max <= 15 s"))
        print("machine floor (same run):")
        print(f"  a daemon's cold start to logged in         {cold:6.2f} s")
        print(f"  sessions of the fill user overlapping      {overlaps:6d} (must be 0)")


if __name__ == "__main__":
    asyncio.run(main())
