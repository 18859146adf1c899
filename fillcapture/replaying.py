"""``fillcapture replay``: a recording through the daemon's pipeline into the store.

Recording → replay feed (the real t4 adapter, :mod:`fillcapture.feeds.replay`)
→ ownership filter → writer → the configured store, with the configured
owners; then a summary of what happened. It lives beside the daemon, not
among the feeds: it wires a feed to the store, which no feed may know of.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fillcapture.config import Settings
from fillcapture.daemon import Daemon
from fillcapture.feeds.replay import ReplayFeed
from fillcapture.feeds.replay_server import Pace, ReplayServer
from fillcapture.metrics import Metrics
from fillcapture.service import owners_from


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    frames: int
    sessions: int
    fills: int  # decoded, owned or not
    captured: int
    duplicates: int
    dropped_unowned: int
    busts: int
    malformed: int
    seconds: float

    def __str__(self) -> str:
        rate = self.fills / self.seconds if self.seconds > 0 else 0.0
        return (
            f"replayed {self.frames} frames in {self.sessions} session(s): "
            f"{self.fills} fills ({self.captured} new, {self.duplicates} duplicate, "
            f"{self.dropped_unowned} unowned), {self.busts} busts recorded, "
            f"{self.malformed} malformed frames skipped; "
            f"{self.seconds:.2f} s, {rate:,.0f} fills/s"
        )


async def replay(
    settings: Settings, path: Path, pace: Pace = "max",
    on_ready: Callable[[ReplayServer], None] | None = None,
) -> ReplaySummary:
    """Push a recording through the t4 adapter and the pipeline into the configured store."""
    metrics = Metrics()
    # The feed asks who owns what only once the daemon, made below, runs it.
    feed = ReplayFeed(path, settings.t4, lambda: daemon.ownership, metrics, pace=pace)
    async with feed, settings.store.open() as store:
        await store.seed_registry(owners_from(settings))
        # A replay stores what it finds; it does not seal days or run jobs (a
        # replay into a day already sealed is an amendment, as it should be).
        schedule = settings.schedule.model_copy(update={"enabled": False})
        effective = settings.model_copy(update={"t4": feed.t4, "schedule": schedule})
        daemon = Daemon(effective, store, metrics)
        await daemon.load_registry()
        if on_ready is not None:
            on_ready(feed.server)
        started = time.perf_counter()
        await daemon.run(feed)
        seconds = time.perf_counter() - started
    counters = metrics.counters
    server = feed.server
    return ReplaySummary(
        frames=server.frames, sessions=server.sessions,
        fills=counters["fills.captured"] + counters["fills.duplicate"]
        + counters["fills.dropped_unowned"],
        captured=counters["fills.captured"], duplicates=counters["fills.duplicate"],
        dropped_unowned=counters["fills.dropped_unowned"], busts=counters["busts.recorded"],
        malformed=counters["frames.malformed"], seconds=seconds,
    )
