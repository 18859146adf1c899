"""The t4 adapter against the simulator's faults: a stalled server, junk frames,
fills before their orders. Real WebSocket, in-process simulator and adapter."""

from __future__ import annotations

import asyncio
import math
import time

from fillcapture.config import T4Settings
from fillcapture.feeds.t4.session import T4Feed
from fillcapture.metrics import Metrics
from fillcapture.model import (
    Connected,
    Disconnected,
    Fill,
    FillsReceived,
    OrderSide,
    Quarantined,
    RecordsQuarantined,
)
from fillcapture.ownership import Ownership
from fillcapture.sim import SimConfig, SimServer


def _settings(sim: SimServer, **extra: object) -> T4Settings:
    config = sim.config
    values: dict[str, object] = {
        "url": sim.url, "firm": config.firm, "username": config.username,
        "password": config.password, "app_license": "x", "subscribe_all": True,
        "reconnect_base": 0.05, "reconnect_cap": 0.1,
    }
    return T4Settings.model_validate(values | extra)


async def test_a_stalled_server_is_replaced_within_the_silence_limit() -> None:
    silence = 1.0
    config = SimConfig(fills_per_second=200, stall_after=0.6, stall_seconds=math.inf)
    async with SimServer(config) as sim:
        metrics = Metrics()
        feed = T4Feed(_settings(sim, silence_timeout=silence, heartbeat_interval=0.25),
                      Ownership, metrics)
        last_frame = 0.0
        silent_for = replaced_after = -1.0
        async with asyncio.timeout(10):
            async for event in feed.events():
                now = time.monotonic()
                if isinstance(event, FillsReceived):
                    last_frame = now
                elif isinstance(event, Disconnected):
                    silent_for = now - last_frame
                elif isinstance(event, Connected) and silent_for >= 0:
                    replaced_after = now - last_frame
                    break
        await feed.close()
    print(f"stalled: declared dead {silent_for:.2f} s after its last frame "
          f"(limit {silence} s), replaced after {replaced_after:.2f} s")
    assert metrics["feed.silent_timeouts"] == 1
    # Heartbeats from the server stop too, so the last fill is the last frame.
    assert silence <= silent_for <= silence + 0.5
    assert replaced_after <= silence + 1.0
    assert sim.login_attempts["LOGIN_RESULT_SUCCESS"] == 2


async def test_junk_frames_are_counted_and_skipped_and_real_fills_all_arrive() -> None:
    config = SimConfig(fills_per_second=math.inf, max_fills=3000, malformed_fraction=0.2,
                       seed=5)
    async with SimServer(config) as sim:
        metrics = Metrics()
        feed = T4Feed(_settings(sim), Ownership, metrics)
        keys: set[object] = set()
        quarantined: list[Quarantined] = []
        async with asyncio.timeout(30):
            async for event in feed.events():
                if isinstance(event, RecordsQuarantined):
                    quarantined.extend(event.records)
                if isinstance(event, FillsReceived):
                    keys.update(fill.key for fill in event.fills)
                    if len(keys) == 3000:
                        break
        await feed.close()
        junk = sim.stats["junk_frames"]
    expected = {(f.order_id, f.exchange_trade_id) for f in sim.ledger}
    print(f"junk frames sent={junk} counted malformed={metrics['frames.malformed']} "
          f"fills={len(keys)}")
    assert {(k.order_id, k.trade_key) for k in keys} == expected  # type: ignore[attr-defined]
    assert junk > 300
    # Every junk frame but the ClientMessage kind (it decodes as a message
    # carrying nothing for the pipeline) is counted and quarantined, whole
    # (undecodable) or as its one defective record; none became a fill.
    whole = [q for q in quarantined if q.kind == "frame"]
    records = [q for q in quarantined if q.kind != "frame"]
    assert len(whole) == metrics["frames.malformed"]
    assert {q.reason for q in records} <= {"missing_id", "invalid_volume", "invalid_price"}
    assert len(whole) + len(records) >= junk * 6 // 7 - 5


async def test_fills_before_their_orders_get_their_sides() -> None:
    config = SimConfig(fills_per_second=math.inf, max_fills=2000,
                       fill_before_order_fraction=0.5, seed=9)
    async with SimServer(config) as sim:
        feed = T4Feed(_settings(sim), Ownership, Metrics())
        sides: dict[tuple[str, str], str | None] = {}
        resolved: set[str] = set()
        async with asyncio.timeout(30):
            async for event in feed.events():
                if isinstance(event, FillsReceived):
                    fills: tuple[Fill, ...] = event.fills
                    for fill in fills:
                        sides[(fill.order_id, fill.trade_key)] = (
                            fill.side.value if fill.side else None)
                elif isinstance(event, OrderSide):
                    resolved.add(event.order_id)
                if len(sides) == 2000:
                    break
        await feed.close()
    sideless = {order for (order, _), side in sides.items() if side is None}
    truth = {(f.order_id, f.exchange_trade_id): f.side for f in sim.ledger}
    print(f"fills={len(sides)} orders first seen without a side={len(sideless)} "
          f"resolved={len(sideless & resolved)}")
    assert sideless
    # Every side-less fill's order was resolved later, to the ledger's side.
    assert sideless <= resolved
    assert all(side is None or side == truth[key] for key, side in sides.items())
