"""MQTT publishing benchmark: a local Mosquitto, QoS 1, a subscriber in its own process.

Prints (a) fills/s the publisher gets acknowledged while draining a store of
``--fills`` fills (the daemon's publisher, its read-only connection, one
broker connection), with the subscriber's receive rate beside it, and (b) the
latency from the simulator's send to the subscriber's receipt at 1,000
fills/s: simulator process → daemon process (capture, commit, publish) →
Mosquitto → subscriber. The simulator stamps each fill's exchange time from
its wall clock as it sends it, and every process here shares that clock.

Mosquitto runs with ``set_tcp_nodelay true``, as docs/mqtt.md advises; with
``--broker-default`` it keeps its default (Nagle's algorithm on), to show what
that costs.

    .venv/bin/python bench/mqtt.py [--fills 100000] [--latency-seconds 15] [--broker-default]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import aiomqtt

from fillcapture import logs
from fillcapture.config import MqttSettings
from fillcapture.metrics import Metrics
from fillcapture.model import Fill, Side
from fillcapture.publish.mqtt import Publisher
from fillcapture.store import Owner, Store, open_store

ACCOUNTS = ["11111", "22222", "33333", "44444"]
MOSQUITTO = "/usr/sbin/mosquitto"
WARM_UP_SECONDS = 2.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def mosquitto(work: Path, *, nodelay: bool) -> Iterator[int]:
    port = free_port()
    config = work / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                      "max_queued_messages 0\n" + ("set_tcp_nodelay true\n" if nodelay else ""))
    proc = subprocess.Popen([MOSQUITTO, "-c", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("mosquitto did not start")
            time.sleep(0.02)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def subscriber(port: int, *, expect: int = 0, seconds: float = 0.0
               ) -> Iterator[subprocess.Popen[str]]:
    """This script in ``--subscribe`` mode; its summary is its last stdout line."""
    args = [sys.executable, __file__, "--subscribe", str(port), "--expect", str(expect),
            "--seconds", str(seconds)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "subscribed":
        raise RuntimeError("the subscriber did not subscribe")
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(10)


def summary(proc: subprocess.Popen[str], timeout: float) -> dict[str, float]:
    out, _ = proc.communicate(timeout=timeout)
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


async def subscribe(port: int, expect: int, seconds: float) -> None:
    """Count fill messages until ``expect`` unique ones or for ``seconds`` after
    the first; record send-to-receipt latency from the fill's exchange time,
    leaving out the first ``WARM_UP_SECONDS`` (start-up) of a timed run."""
    latencies: list[float] = []
    captures: list[float] = []  # of which the simulator's send → the daemon's insert
    seen: set[str] = set()
    first = last = 0.0
    warm_from = 0  # the first WARM_UP_SECONDS of a timed run are left out
    async with aiomqtt.Client("127.0.0.1", port, max_queued_incoming_messages=0) as client:
        await client.subscribe("fillcapture/fills/#", qos=1)
        print("subscribed", flush=True)
        async for message in client.messages:
            now_ns = time.time_ns()
            last = time.perf_counter()
            first = first or last
            if seconds and last - first < WARM_UP_SECONDS:
                warm_from = len(latencies) + 1
            payload = message.payload
            assert isinstance(payload, bytes)
            fill = json.loads(payload)
            seen.add(fill["fill_id"])
            sent = datetime.fromisoformat(fill["exchange_time"]).timestamp() * 1e3
            latencies.append(now_ns / 1e6 - sent)
            captures.append(datetime.fromisoformat(fill["captured_at"]).timestamp() * 1e3 - sent)
            if (expect and len(seen) >= expect) or (seconds and last - first >= seconds):
                break
    ordered = sorted(latencies[warm_from:])
    print(json.dumps({
        "received": len(latencies), "unique": len(seen),
        "rate": (len(latencies) - 1) / (last - first) if last > first else 0.0,
        "p50_ms": statistics.median(ordered), "p99_ms": ordered[int(0.99 * (len(ordered) - 1))],
        "max_ms": ordered[-1], "samples": len(ordered),
        "capture_p50_ms": statistics.median(captures[warm_from:]),
    }), flush=True)


def make_fills(count: int) -> list[Fill]:
    now = datetime.now(UTC)
    return [
        Fill(firm="SIMFIRM", account_id=f"acc-{i % 4}", account=ACCOUNTS[i % 4],
             order_id=str(uuid.uuid4()), exchange_trade_id=f"T{i}", sequence_order=1,
             leg_index=None, market_id="XCME_Eq ES (Z26)", side=Side.BUY, volume=1,
             price=Decimal("6012.25"), price_text="6012.25",
             exchange_time=now + timedelta(microseconds=i), trade_date=date.today())
        for i in range(count)
    ]


async def throughput(work: Path, port: int, count: int) -> tuple[float, dict[str, float]]:
    """(acknowledged fills/s, the subscriber's summary) for a backlog of ``count``."""
    db = work / "throughput.db"
    async with _store_at(db) as store:
        await store.seed_registry([Owner("U", None, account) for account in ACCOUNTS])
        fills = make_fills(count)
        for start in range(0, count, 40_000):
            await store.insert_fills(fills[start:start + 40_000])
        del fills
        settings = MqttSettings(enabled=True, host="127.0.0.1", port=port)
        metrics = Metrics()
        with subscriber(port, expect=count) as sub:
            async with _store_at(db, readonly=True) as reader:
                publisher = Publisher(settings, store, reader, metrics, name="bench")
                started = time.perf_counter()
                task = asyncio.create_task(publisher.run())
                while metrics["mqtt.published"] < count:
                    await asyncio.sleep(0.002)
                    if task.done():
                        task.result()
                        raise RuntimeError("the publisher stopped early")
                elapsed = time.perf_counter() - started
                publisher.stop()
                await task
            received = summary(sub, 120)
    return count / elapsed, received


def latency(work: Path, port: int, seconds: float) -> dict[str, float]:
    sim = subprocess.Popen(
        [sys.executable, "-m", "fillcapture", "sim", "--port", "0", "--rate", "1000",
         "--accounts", ",".join(ACCOUNTS)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    daemon = None
    try:
        assert sim.stdout is not None
        match = re.search(r"ws://\S+", sim.stdout.readline())
        if not match:
            raise RuntimeError("the simulator did not start")
        config = work / "daemon.toml"
        config.write_text(
            f'[feed]\nadapter = "t4"\n[t4]\nurl = "{match.group(0)}"\nfirm = "SIMFIRM"\n'
            'username = "WhenTechFillUser"\npassword = "sim-password"\napp_license = "bench"\n'
            f'subscribe_all = true\n[store]\nurl = "sqlite:///{work / "latency.db"}"\n'
            '[metrics]\nenabled = false\n[schedule]\nenabled = false\n[log]\nformat = "json"\n'
            f'level = "warning"\n[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n'
            '[[users]]\nname = "U"\naccounts = ' + json.dumps(ACCOUNTS) + "\n")
        with subscriber(port, seconds=seconds + WARM_UP_SECONDS) as sub:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "fillcapture", "--config", str(config), "run"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)
            return summary(sub, seconds + WARM_UP_SECONDS + 60)
    finally:
        for proc in (daemon, sim):
            if proc is not None:
                proc.terminate()
                proc.wait(10)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=100_000)
    parser.add_argument("--latency-seconds", type=float, default=15.0)
    parser.add_argument("--broker-default", action="store_true",
                        help="leave Mosquitto's set_tcp_nodelay at its default (false)")
    parser.add_argument("--subscribe", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.subscribe:
        await subscribe(args.subscribe, args.expect, args.seconds)
        return
    logs.configure("warning", "console")
    nodelay = not args.broker_default
    with tempfile.TemporaryDirectory(prefix="fillcapture-bench-") as tmp:
        work = Path(tmp)
        with mosquitto(work, nodelay=nodelay) as port:
            rate, received = await throughput(work, port, args.fills)
            print(f"(a) published, QoS 1           {rate:>10,.0f} fills/s acknowledged "
                  f"({args.fills:,} fills; subscriber received {received['unique']:,.0f} at "
                  f"{received['rate']:,.0f}/s; target >= 10,000)")
            found = await asyncio.to_thread(latency, work, port, args.latency_seconds)
            print(f"(b) send → receipt at 1,000/s  p50 {found['p50_ms']:.2f} ms, "
                  f"p99 {found['p99_ms']:.2f} ms, max {found['max_ms']:.2f} ms "
                  f"({found['samples']:,.0f} fills; target p99 <= 20 ms); of the p50, "
                  f"send → stored {found['capture_p50_ms']:.2f} ms")
        print(f"broker: set_tcp_nodelay {'true' if nodelay else 'false (default)'}")


if __name__ == "__main__":
    asyncio.run(main())


def _store_at(path: Path, *, readonly: bool = False) -> Store:
    return open_store(f"sqlite:///{path}", readonly=readonly)
