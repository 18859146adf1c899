"""Ingest benchmark: simulator process → loopback WebSocket → daemon → store.

Prints (a) sustained fills/s with one fill per frame, (b) fills/s from snapshot
frames of 100 fills, (c) p50/p99 receipt-to-commit latency at 1,000 fills/s,
(d) peak RSS of the daemon, the share of the machine's CPU time the
hypervisor gave elsewhere meanwhile (steal: waits no code here caused), and
this machine's ceilings measured in the same run: protobuf decode alone,
batched SQLite insert alone and, on PostgreSQL, ``capture()`` alone and the
server's own insert into the fills table with no client (bench/pg_capture.py).

The store is a SQLite file (FULL) unless ``--store URL`` names another: a
PostgreSQL server, each run then in a fresh database made there and dropped
after (the URL's user must be allowed to create databases), or a
``sqlite:///`` file, each run then in a new file beside it. ``--postgres``
starts a throwaway PostgreSQL cluster (tests/pgcluster.py; fsync and
synchronous_commit on), runs every figure on it and on SQLite, each engine
in a process of its own (so (d) is its own), and prints them side by side.

    PYTHONPATH=. .venv/bin/python bench/ingest.py [--fills 200000] [--snapshot-fills 200000]
        [--store URL | --postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fillcapture import logs
from fillcapture.config import Settings, StoreSettings, T4Settings
from fillcapture.daemon import Daemon
from fillcapture.feeds.t4.decode import Decoder
from fillcapture.feeds.t4.proto import service_pb2
from fillcapture.feeds.t4.session import T4Feed
from fillcapture.metrics import Metrics
from fillcapture.model import Fill, Side
from fillcapture.schedule import trade_date
from fillcapture.service import tune_gc
from fillcapture.store import Owner, open_store
from fillcapture.urls import masked

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench.pg_capture, tests.pgcluster
from bench.pg_capture import capture_rates, fresh_database, server_insert_rate

STORE_ENV = "INGEST_STORE_URL"
"""Where ``--postgres`` hands its child the cluster's URL (never on a command line)."""

ACCOUNTS = ["11111", "22222", "33333", "44444"]


@contextlib.contextmanager
def sim_process(*flags: str) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fillcapture", "sim", "--port", "0",
         "--accounts", ",".join(ACCOUNTS), *flags],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"ws://\S+", line)
        if not match:
            raise RuntimeError(f"simulator did not start: {line!r}")
        yield match.group(0)
    finally:
        proc.terminate()
        proc.wait(10)


def is_postgres(url: str | None) -> bool:
    return url is not None and urlsplit(url).scheme in ("postgresql", "postgres")


@contextlib.asynccontextmanager
async def run_store(store: str | None, work: Path, label: str) -> AsyncIterator[str]:
    """An empty store for one run ``label``: a SQLite file in ``work`` by
    default, a fresh database on ``store``'s PostgreSQL server, or a new file
    beside ``store``'s SQLite file."""
    if is_postgres(store):
        assert store is not None
        async with fresh_database(store) as url:
            yield url
        return
    if store is None:
        yield f"sqlite:///{work / f'{label}.db'}"
        return
    path = Path(urlsplit(store).path)
    target = path.with_name(f"{path.stem}.{label}{path.suffix or '.db'}")
    if target.exists():
        raise SystemExit(f"{target} exists: the run needs an empty store")
    yield f"sqlite:///{target}"


async def capture(url: str, store_url: str, expect: int, *, settle: float = 0.0,
                  duration: float | None = None) -> tuple[float, Metrics]:
    """Run the daemon pipeline against ``url`` until ``expect`` fills are
    captured (or for ``duration`` seconds). Returns (seconds, metrics) where
    seconds runs from the first captured fill to the last."""
    settings = Settings(
        t4=T4Settings(url=url, firm="SIMFIRM", username="WhenTechFillUser",
                      password="sim-password", app_license="bench", subscribe_all=True),
        store=StoreSettings(url=store_url),
    )
    metrics = Metrics()
    tune_gc()  # as fillcapture.service.run does
    async with open_store(settings.store.url) as store:
        await store.seed_registry([Owner("U", None, a) for a in ACCOUNTS])
        daemon = Daemon(settings, store, metrics)
        await daemon.load_registry()
        feed = T4Feed(settings.t4, lambda: daemon.ownership, metrics)
        runner = asyncio.create_task(daemon.run(feed))
        first = None
        started = time.perf_counter()
        while True:
            await asyncio.sleep(0.002)
            captured = metrics["fills.captured"]
            if first is None and captured:
                first = time.perf_counter()
                if settle:
                    await asyncio.sleep(settle)
                    metrics.latency.clear()
            if duration is not None and time.perf_counter() - started >= duration:
                break
            if duration is None and captured >= expect:
                break
            if runner.done():
                runner.result()
                raise RuntimeError("daemon stopped early")
        elapsed = time.perf_counter() - (first or started)
        daemon.stop()
        await runner
    return elapsed, metrics


def decode_ceiling(count: int) -> float:
    message = service_pb2.ServerMessage()
    trade = message.order_update_trade
    trade.unique_id = "5f0c5a8e-3b0e-4d0b-9d53-0c9f1b1e2a77"
    trade.account_id = "8c3e7d0a-9a7b-5c8e-8f1e-2d4b6a8c0e1f"
    trade.market_id = "XCME_Eq ES (Z26)"
    trade.exchange_trade_id = "1-123456"
    trade.volume = 3
    trade.price.value = "6012.25"
    trade.exchange_time.FromDatetime(datetime.now(UTC))
    trade.time.FromDatetime(datetime.now(UTC))
    trade.trade_date = 638_999_999_999_999_999
    trade.sequence_order = 2
    frame = message.SerializeToString()
    parse = service_pb2.ServerMessage.FromString
    started = time.perf_counter()
    for _ in range(count):
        parse(frame).WhichOneof("payload")
    return count / (time.perf_counter() - started)


def normalize_ceiling(frames: int) -> float:
    """Decode and normalize alone: snapshot frames of 100 fills (34 orders)."""
    message = service_pb2.ServerMessage()
    snapshot = message.account_snapshot
    snapshot.account_id = "acc-1"
    multi = snapshot.messages.add().order_update_multi
    multi.historical = True
    rng = random.Random(2)
    now = datetime.now(UTC)
    # T4's trade date: .NET ticks of the CME trade date's midnight (a wrong one
    # would time the suspect-date path instead, see feeds/t4/tradedate.py).
    midnight = (trade_date(now) - date(1, 1, 1)).days * 864_000_000_000
    for n in range(100):
        if n % 3 == 0:
            order = multi.updates.add().order_update
            order.unique_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            order.account_id = "acc-1"
            order.market_id = "XCME_Eq ES (Z26)"
            order.buy_sell = 1  # type: ignore[assignment]
        trade = order.trades.add()
        trade.sequence_order = n % 3 + 1
        trade.exchange_trade_id = f"1-{n}"
        trade.volume = 2
        trade.price.value = "6012.25"
        trade.exchange_time.FromDatetime(now)
        trade.trade_date = midnight
    frame = message.SerializeToString()
    decoder = Decoder("SIMFIRM", Metrics())
    decoder.learn_account("acc-1", "11111")
    parse = service_pb2.ServerMessage.FromString
    started = time.perf_counter()
    for _ in range(frames):
        fills: list[Fill] = []
        decoder.handle("account_snapshot", parse(frame), fills, [], [])
    return frames * 100 / (time.perf_counter() - started)


async def insert_ceiling(db: Path, count: int, batch: int) -> float:
    """Batched inserts alone, with random order GUIDs as T4 sends them."""
    now = datetime.now(UTC)
    rng = random.Random(1)
    orders = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count // 3 + 1)]

    def batch_at(offset: int) -> list[Fill]:
        return [
            Fill(firm="SIMFIRM", account_id=f"acc-{i % 4}", account=ACCOUNTS[i % 4],
                 order_id=orders[i // 3], exchange_trade_id=f"T{i}",
                 sequence_order=i % 3 + 1, leg_index=None, market_id="XCME_Eq ES (Z26)",
                 side=Side.BUY, volume=1, price=Decimal("6012.25"), price_text="6012.25",
                 exchange_time=now + timedelta(microseconds=i), trade_date=date.today())
            for i in range(offset, offset + batch)
        ]

    batches = [batch_at(offset) for offset in range(0, count, batch)]
    async with open_store(f"sqlite:///{db}") as store:
        started = time.perf_counter()
        for fills in batches:
            await store.insert_fills(fills)
        return count / (time.perf_counter() - started)


def cpu_times() -> list[int]:
    """The machine's CPU time so far, by state, in clock ticks (``/proc/stat``)."""
    with open("/proc/stat") as stat:
        return [int(ticks) for ticks in stat.readline().split()[1:]]


def stolen_share(before: list[int], after: list[int]) -> float:
    """The share of CPU time between two :func:`cpu_times` that the hypervisor
    gave to other machines (``steal``): time this one's processes waited to run,
    which shows as latency nothing here caused."""
    spent = [b - a for a, b in zip(before, after, strict=True)]
    return spent[7] / max(1, sum(spent))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every figure for the store ``args.store`` names (a SQLite file if none)."""
    logs.configure("warning", "console")
    figures: dict[str, Any] = {"store": "SQLite" if not is_postgres(args.store) else "PostgreSQL"}
    started = cpu_times()
    with tempfile.TemporaryDirectory(prefix="fillcapture-bench-") as tmp:
        work = Path(tmp)
        with sim_process("--rate", "max", "--max-fills", str(args.fills)) as url:
            async with run_store(args.store, work, "a") as store:
                seconds, metrics = await capture(url, store, args.fills)
        figures["a"] = args.fills / seconds
        figures["a_seconds"] = seconds

        with sim_process("--rate", "0", "--preload", str(args.snapshot_fills),
                         "--snapshot-chunk", "100") as url:
            async with run_store(args.store, work, "b") as store:
                seconds, metrics = await capture(url, store, args.snapshot_fills)
        figures["b"] = args.snapshot_fills / seconds
        figures["b_seconds"] = seconds

        with sim_process("--rate", "1000") as url:
            async with run_store(args.store, work, "c") as store:
                seconds, metrics = await capture(url, store, 0, settle=1.0,
                                                 duration=args.latency_seconds)
        figures["c_p50"] = metrics.latency.percentile(0.5)
        figures["c_p99"] = metrics.latency.percentile(0.99)
        figures["c_samples"] = len(metrics.latency.samples)
        figures["c_commits"] = metrics["store.commits"]
        figures["d"] = peak_rss_mb()
        figures["steal"] = stolen_share(started, cpu_times())
        figures["decode"] = decode_ceiling(200_000)
        figures["normalize"] = normalize_ceiling(2000)
        batch = StoreSettings().batch_size
        figures["batch"] = batch
        figures["sqlite_insert"] = await insert_ceiling(work / "ceiling.db", 200_000, batch)
        if is_postgres(args.store):
            assert args.store is not None
            figures["pg_capture"] = (await capture_rates(args.store, batch, 200_000 // batch))[0]
            figures["pg_server"] = await server_insert_rate(args.store, batch, 200_000 // batch)
            figures["pg_identity"] = await server_insert_rate(
                args.store, batch, 200_000 // batch, identity_only=True)
    return figures


def report(runs: list[dict[str, Any]], fills: int, snapshot_fills: int) -> None:
    """The figures of each run (one engine each), side by side."""
    def row(label: str, cells: list[str], target: str) -> None:
        print(f"{label:32}" + "".join(f"{cell:>24}" for cell in cells) + f"   {target}")

    row("", [run["store"] for run in runs], "")
    row(f"(a) live, 1 fill/frame ({fills:,})", [f"{r['a']:,.0f} fills/s" for r in runs],
        "target >= 25,000")
    row(f"(b) snapshot, 100/frame ({snapshot_fills:,})",
        [f"{r['b']:,.0f} fills/s" for r in runs], "target >= 100,000")
    row("(c) latency at 1,000 fills/s p50",
        [f"{r['c_p50']:.2f} ms" for r in runs], "")
    row("    p99", [f"{r['c_p99']:.2f} ms ({r['c_samples']:,} fills)" for r in runs],
        "target p99 <= 10 ms")
    row("(d) peak RSS of the daemon", [f"{r['d']:,.1f} MB" for r in runs], "target <= 150")
    row("    CPU stolen by the hypervisor", [f"{r['steal']:.1%} of the machine's"
                                              for r in runs], "(0% on a machine of its own)")
    first = runs[0]
    print("machine ceilings (same run):")
    print(f"  protobuf decode only         {first['decode']:>12,.0f} frames/s (one-fill frames)")
    print(f"  decode + normalize only      {first['normalize']:>12,.0f} fills/s "
          "(100-fill snapshot frames)")
    print(f"  SQLite batched insert only   {first['sqlite_insert']:>12,.0f} fills/s "
          f"(batch {first['batch']:,} as the daemon's, random order GUIDs, FULL)")
    for run in runs:
        if "pg_capture" in run:
            print(f"  PostgreSQL capture() only    {run['pg_capture']:>12,.0f} fills/s "
                  f"(batch {run['batch']:,}, random order GUIDs, fsync and "
                  "synchronous_commit on)")
            print(f"  PostgreSQL server alone      {run['pg_server']:>12,.0f} rows/s "
                  "(the same INSERT ... ON CONFLICT, rows made up by the server, no client)")
            print(f"  ... the identity index alone {run['pg_identity']:>12,.0f} rows/s "
                  "(the same, every other index of the table dropped)")


def side_by_side(args: argparse.Namespace) -> None:
    """``--postgres``: each engine's figures from a process of its own."""
    from tests.pgcluster import PostgresCluster

    flags = ["--fills", str(args.fills), "--snapshot-fills", str(args.snapshot_fills),
             "--latency-seconds", str(args.latency_seconds), "--json"]
    runs = []
    with PostgresCluster() as cluster:
        for env in ({STORE_ENV: cluster.admin_url}, {}):
            child = {k: v for k, v in os.environ.items() if k != STORE_ENV} | env
            done = subprocess.run([sys.executable, __file__, *flags], env=child, check=True,
                                  capture_output=True, text=True)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    report(runs, args.fills, args.snapshot_fills)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=200_000)
    parser.add_argument("--snapshot-fills", type=int, default=200_000)
    parser.add_argument("--latency-seconds", type=float, default=15.0)
    parser.add_argument("--store", default=os.environ.get(STORE_ENV),
                        help="a store URL (default: a SQLite file per run)")
    parser.add_argument("--postgres", action="store_true",
                        help="a throwaway PostgreSQL cluster, side by side with SQLite")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.postgres:
        side_by_side(args)
        return
    figures = await measure(args)
    if args.json:
        print(json.dumps(figures))
        return
    if args.store:
        print(f"store: {masked(args.store)}")
    report([figures], args.fills, args.snapshot_fills)


if __name__ == "__main__":
    asyncio.run(main())
