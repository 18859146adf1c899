"""``fillcapture run``: the daemon process from start to exit code.

:func:`run` enters the process's running parts in order — systemd notifier,
store, store lease (then the registry is seeded from the configuration), final
settings (the embedded simulator, if any), metrics endpoint, the
:class:`~fillcapture.daemon.Daemon`, signal handlers, MQTT publisher — and
leaves them in reverse. With ``[standby] enabled`` the metrics endpoint comes
before the lease instead, so that a waiting standby answers scrapes.
SIGTERM/SIGINT drain, commit and exit 0. The pipeline itself lives in :mod:`fillcapture.daemon`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import secrets
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import structlog
from pydantic import SecretStr

from fillcapture.config import Settings
from fillcapture.daemon import Daemon
from fillcapture.daemonstate import instance_of
from fillcapture.feeds.base import LoginRefused, load_adapter
from fillcapture.metrics import Metrics
from fillcapture.prometheus import serve_metrics, track_connection
from fillcapture.publish.mqtt import Publisher, publishing
from fillcapture.standby import holding
from fillcapture.store import LeaseHeld, Owner, Store, StoreError
from fillcapture.systemd import Notifier
from fillcapture.urls import masked

log = structlog.get_logger(__name__)

EXIT_OK = 0
EXIT_LEASE_LOST = 1
"""The lease was lost and no standby waits here: systemd starts the daemon again."""
EXIT_LOGIN_REFUSED = 3
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def owners_from(settings: Settings) -> list[Owner]:
    return [Owner(user.name, user.firm, account)
            for user in settings.users for account in user.accounts]


@asynccontextmanager
async def embedded_sim(settings: Settings) -> AsyncIterator[Settings]:
    """Start the simulated T4 backend on loopback; yield settings pointing at it."""
    from fillcapture.sim import SimConfig, SimServer

    sim = settings.sim
    password = secrets.token_urlsafe(16)
    config = SimConfig.from_settings(sim, password=password, api_key=secrets.token_urlsafe(16))
    async with SimServer(config) as server:
        log.info("sim.started", url=server.url, accounts=len(sim.accounts),
                 fills_per_second=sim.fills_per_second)
        t4 = settings.t4.model_copy(update={
            "url": server.url, "firm": sim.firm, "username": sim.username,
            "password": SecretStr(password), "api_key": None, "app_license": "simulator",
        })
        yield settings.model_copy(update={"t4": t4})


@asynccontextmanager
async def final_settings(settings: Settings) -> AsyncIterator[Settings]:
    """The settings the daemon runs on, final before anything is built from
    them: with ``adapter = "sim"``, those of the embedded simulator (running
    while in the block); else ``settings`` as they are."""
    if settings.feed.adapter != "sim":
        yield settings
        return
    async with embedded_sim(settings) as effective:
        yield effective


@asynccontextmanager
async def stop_on_signals(stop: Callable[[], None]) -> AsyncIterator[None]:
    """SIGTERM and SIGINT call ``stop`` while in the block."""
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop)
    try:
        yield
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)


def tune_gc() -> None:
    """The capture path allocates a few objects per fill, almost none of them in
    cycles; collecting every 700 allocations cost ~5% of snapshot throughput.
    Freezing what start-up built keeps the long-lived objects out of every scan."""
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def process_metrics(settings: Settings) -> Metrics:
    """The process's metrics, kept over every lease it holds: the calendar
    and thresholds of ``settings``, and no lease held yet."""
    metrics = Metrics()
    metrics.holidays = frozenset(settings.schedule.holidays)
    metrics.gauges["alerts.silence_threshold"] = settings.alerts.silent_account_minutes * 60.0
    metrics.gauges["writer.capacity"] = float(settings.store.queue_fills)
    metrics.gauges["lease.held"] = 0.0
    metrics.gauges["reconcile.supported"] = 1.0  # until a reconcile finds no snapshots
    return metrics


def _metrics_endpoint(settings: Settings, metrics: Metrics, *, waiting: bool
                      ) -> AbstractAsyncContextManager[None]:
    """The endpoint for the part of the run it covers: with ``[standby]
    enabled`` from before the lease (``waiting``), so a standby answers too;
    without, once the lease is held, so a daemon refused the lease says only
    that."""
    if not settings.metrics.enabled or waiting != settings.standby.enabled:
        return contextlib.nullcontext()
    return serve_metrics(settings.metrics, metrics)


def _publisher(settings: Settings, daemon: Daemon
               ) -> AbstractAsyncContextManager[Publisher | None]:
    """The MQTT publisher, in the background: capture never waits for it."""
    if not settings.mqtt.enabled:
        return contextlib.nullcontext()
    return publishing(settings, daemon.store, daemon.metrics)


async def run(configured: Settings) -> int:
    """Run the daemon until SIGTERM/SIGINT. Returns the process exit code."""
    tune_gc()
    notifier = Notifier()
    stop = StopRequest()
    instance = instance_of(configured)
    metrics = process_metrics(configured)
    # The watchdog while running, STOPPING=1 at the end. The lease comes before
    # anything is written or T4 hears of us (one daemon per firm and store; a
    # standby waits for it), and a registry the configuration would rewrite is
    # refused before the embedded simulator starts (the simulator's firm is
    # known before it starts).
    async with notifier.running(), stop_on_signals(stop), \
            configured.store.open() as store, \
            _metrics_endpoint(configured, metrics, waiting=True):
        while True:
            async with holding(store, instance, configured.standby, notifier,
                               stop.requested) as held:
                if held is None:  # stopped while the standby
                    return EXIT_OK
                metrics.gauges["lease.held"] = 1.0
                try:
                    await store.seed_registry(owners_from(configured))
                    await seed_fees(store, configured)
                    async with final_settings(configured) as settings, \
                            _metrics_endpoint(configured, metrics, waiting=False):
                        code = await _capture(settings, store, notifier, held, stop, metrics)
                finally:
                    metrics.gauges["lease.held"] = 0.0
            if not held.lost.is_set():
                return code
            log.error("lease.lost", instance=instance,
                      hint="another daemon of this firm may now capture it; T4 was logged out")
            if not configured.standby.enabled:
                return EXIT_LEASE_LOST
            # A standby elsewhere takes the lease now: let it, rather than
            # racing it for the lease this daemon just lost.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.requested.wait(), configured.standby.takeover_seconds)


async def seed_fees(store: Store, settings: Settings) -> int:
    """Store the ``[[fees]]`` schedules not stored yet (each once: one changed
    since with ``fillcapture fees`` stays as changed); how many were added."""
    added = await store.seed_fee_schedules([fee.schedule() for fee in settings.fees])
    log.info("fees.seeded", added=added, configured=len(settings.fees))
    return added


class StopRequest:
    """SIGTERM/SIGINT: ``requested`` is set and the running daemon is told."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.daemon: Daemon | None = None

    def __call__(self) -> None:
        self.requested.set()
        if self.daemon is not None:
            self.daemon.stop()


async def _capture(settings: Settings, store: Store, notifier: Notifier, held: LeaseHeld,
                   stop: StopRequest, metrics: Metrics) -> int:
    """The daemon on its final ``settings`` until stopped or the lease is
    lost (then its T4 session is ended at once); the exit code."""
    daemon = Daemon(settings, store, metrics)
    daemon.listeners.append(notifier.on_status)  # READY=1 and the STATUS= line
    daemon.listeners.append(track_connection(metrics))
    await daemon.load_registry()
    log.info("daemon.starting", adapter=settings.feed.adapter,
             store=masked(settings.store.url),
             owned_accounts=len(daemon.ownership))
    # The simulator replaces T4, never the adapter.
    adapter = "t4" if settings.feed.adapter == "sim" else settings.feed.adapter
    feed = load_adapter(adapter)(settings, lambda: daemon.ownership, daemon.metrics)
    async with _publisher(settings, daemon) as publisher:
        if publisher is not None:
            daemon.commit_listeners.append(publisher.wake)
        stop.daemon = daemon
        if stop.requested.is_set():
            daemon.stop()
        try:
            await _unless_lost(daemon.run(feed), held)
        except LoginRefused as exc:
            log.error("feed.login_refused", result=exc.result, error=str(exc))
            return EXIT_LOGIN_REFUSED
        finally:
            stop.daemon = None
    return EXIT_OK


async def _unless_lost(running: Coroutine[Any, Any, None], held: LeaseHeld) -> None:
    """``running`` to its end, unless the lease is lost first: then it is
    cancelled, which closes the T4 session (the store commits no more for us)."""
    work = asyncio.ensure_future(running)
    lost = asyncio.ensure_future(held.lost.wait())
    try:
        await asyncio.wait({work, lost}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        lost.cancel()
    if not work.done():
        work.cancel()
    try:
        await work
    except (asyncio.CancelledError, StoreError):
        if not held.lost.is_set():
            raise
