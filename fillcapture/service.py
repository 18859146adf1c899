"""The daemon: feed → ownership filter → capture writer → store, until stopped.

``fillcapture run`` calls :func:`run`; SIGTERM/SIGINT drain, commit and exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import secrets
import signal
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import date

import structlog
from pydantic import SecretStr

from fillcapture.config import Settings
from fillcapture.feeds.base import FeedAdapter, LoginRefused, load_adapter

# FeedState and FeedStatus stay importable from here for the pipeline's other users.
from fillcapture.feedstatus import FeedState as FeedState
from fillcapture.feedstatus import FeedStatus, StatusBoard, StatusListener
from fillcapture.metrics import Metrics
from fillcapture.model import (
    AccountConflict,
    AccountsSeen,
    BustsReceived,
    Connected,
    Disconnected,
    Fill,
    FillsReceived,
    MarketsSeen,
    OrderRecount,
    OrderSide,
    RecordsQuarantined,
    SnapshotReceived,
    SpreadsSeen,
    Subscribed,
    VisibleAccount,
)
from fillcapture.operations import Operations, instance_of
from fillcapture.outage import StoreOutage
from fillcapture.ownership import Entry, Ownership
from fillcapture.prometheus import serve_metrics
from fillcapture.publish.mqtt import publishing
from fillcapture.quarantine import QuarantineWarnings, Releaser
from fillcapture.store import Owner, Store, open_store
from fillcapture.systemd import Notifier
from fillcapture.writer import CaptureWriter

log = structlog.get_logger(__name__)

EXIT_OK = 0
EXIT_LOGIN_REFUSED = 3
REGISTRY_POLL_SECONDS = 2.0
PROGRESS_SECONDS = 60.0
VISIBILITY_GRACE_SECONDS = 10.0


class Daemon:
    """One capture pipeline over an open store and a feed adapter.

    ``listeners`` are those of its :class:`StatusBoard` (see there).
    """

    def __init__(self, settings: Settings, store: Store, metrics: Metrics) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.board = StatusBoard()
        self.ownership = Ownership()
        # The registry as stored, and the accounts seen this run by firm and
        # id: ``ownership`` is the registry resolved through them.
        self._registry = Ownership()
        self._seen: dict[str, dict[str, VisibleAccount]] = {}
        self._feed: FeedAdapter | None = None
        self._stopping = asyncio.Event()
        self._firm: str | None = None
        self._visible: set[str] = set()
        self._visibility_check: asyncio.TimerHandle | None = None
        self.visibility_grace = VISIBILITY_GRACE_SECONDS
        self.writer: CaptureWriter | None = None
        # Called after every commit of the writer (see CaptureWriter).
        self.commit_listeners: list[Callable[[], None]] = []
        self._sealed_through: date | None = None
        self._quarantine_warnings = QuarantineWarnings()
        self._releaser: Releaser | None = None
        # Whether the store takes writes; while it does not, no feed session.
        self.outage = StoreOutage(settings.store.outage_log_seconds)
        self.operations = Operations(self)
        self.listeners.append(self.operations.on_status)

    @property
    def status(self) -> FeedStatus:
        return self.board.status

    @property
    def listeners(self) -> list[StatusListener]:
        return self.board.listeners

    @property
    def feed(self) -> FeedAdapter | None:
        return self._feed

    def writer_sealed_through(self, day: date | None) -> None:
        """The latest sealed trade date: what the writer stores for it or earlier
        is an amendment."""
        self._sealed_through = day
        if self.writer is not None:
            self.writer.sealed_through = day

    async def load_registry(self) -> bool:
        """Re-read the registry; True if it changed."""
        fresh = ownership_of(await self.store.registry())
        if fresh == self._registry:
            return False
        self._registry = fresh
        self.ownership = fresh.resolved(self._seen)
        return True

    def stop(self) -> None:
        self._stopping.set()

    async def run(self, feed: FeedAdapter) -> None:
        """Capture until :meth:`stop`; then drain the queue, commit and return."""
        self._feed = feed
        store_settings = self.settings.store
        writer = CaptureWriter(
            self.store, self.metrics, batch_size=store_settings.batch_size,
            linger_ms=store_settings.batch_ms, queue_fills=store_settings.queue_fills,
            outage=self.outage,
        )
        self.metrics.gauges["writer.queued"] = lambda: writer.queued
        self.writer = writer
        writer.sealed_through = self._sealed_through
        writer.commit_listeners = self.commit_listeners
        await self.operations.start()
        writer_task = asyncio.create_task(writer.run(), name="writer")
        releaser = Releaser(self.store, writer, self.metrics, lambda: self.ownership)
        self._releaser = await releaser.__aenter__()
        pump = asyncio.create_task(self._capture(feed, writer), name="feed")
        helpers = [
            asyncio.create_task(self._poll_registry(), name="registry"),
            asyncio.create_task(self._progress(), name="progress"),
        ]
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            done, _ = await asyncio.wait(
                {pump, writer_task, stopping}, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done - {stopping}:
                task.result()  # a feed or store failure propagates from here
            log.info("daemon.stopping")
            self.board.set("stopping")
            await feed.close()
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            await releaser.__aexit__(None, None, None)
            await writer.stop()
            await self._drain(writer, writer_task)
        finally:
            await releaser.__aexit__(None, None, None)
            if self._visibility_check is not None:
                self._visibility_check.cancel()
            for task in (*helpers, stopping, pump, writer_task):
                task.cancel()
            await asyncio.gather(*helpers, stopping, pump, writer_task,
                                 return_exceptions=True)
            self.board.set("stopped")
            if self.outage.down.is_set():
                self.outage.abandon()  # stopping: the last state writes may fail
            await self.operations.stop()
        log.info("daemon.stopped", captured=self.metrics["fills.captured"],
                 dropped_unowned=self.metrics["fills.dropped_unowned"],
                 duplicates=self.metrics["fills.duplicate"],
                 busts=self.metrics["busts.recorded"],
                 malformed=self.metrics["frames.malformed"],
                 reconnects=self.metrics["feed.disconnects"])

    async def _capture(self, feed: FeedAdapter, writer: CaptureWriter) -> None:
        """Pump the feed into the writer while the store takes writes. When it
        stops (full disk, read-only), end the feed session, which opens a gap,
        and start a new one once the writer's retry commits: its snapshot of
        the trade day brings what T4 sent meanwhile. Returns when the feed ends."""
        while True:
            await self.outage.up.wait()
            pump = asyncio.create_task(self._pump(feed, writer), name="pump")
            down = asyncio.create_task(self.outage.down.wait())
            try:
                await asyncio.wait({pump, down}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                down.cancel()
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump
            if not self.outage.down.is_set():
                return
            log.warning("feed.paused", reason="store unavailable", error=self.outage.cause)
            self.board.set("disconnected", reason=f"store unavailable: {self.outage.cause}")

    async def _drain(self, writer: CaptureWriter, task: asyncio.Task[None]) -> None:
        """Wait for the writer to commit what it holds, unless the store is in
        an outage: then stopping cannot wait, and what the writer held comes
        back with the next start's snapshot."""
        down = asyncio.create_task(self.outage.down.wait())
        await asyncio.wait({task, down}, return_when=asyncio.FIRST_COMPLETED)
        down.cancel()
        if task.done():
            task.result()
            return
        self.outage.abandon()
        log.error("writer.abandoned", queued=writer.queued, error=self.outage.cause,
                  hint="the next start's snapshot recovers them within the trade day")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _pump(self, feed: FeedAdapter, writer: CaptureWriter) -> None:
        metrics = self.metrics
        async for event in feed.events():
            if isinstance(event, FillsReceived):
                owned = self._owned(event.fills)
                dropped = len(event.fills) - len(owned)
                if dropped:
                    metrics.inc("fills.dropped_unowned", dropped)
                    log.debug("fill.dropped_unowned", count=dropped)
                if owned:
                    await writer.put(
                        event if not dropped else FillsReceived(owned, event.received_ns)
                    )
            elif isinstance(event, BustsReceived):
                owner = self.ownership.owner
                busts = tuple(
                    b for b in event.busts if owner(b.fill.firm, b.fill.account) is not None
                )
                if busts:
                    await writer.put(BustsReceived(busts))
            elif isinstance(event, (OrderSide, MarketsSeen, OrderRecount, SpreadsSeen)):
                await writer.put(event)
            elif isinstance(event, AccountConflict):
                self.board.set(conflicts=self.status.conflicts | {
                    f"{event.account_id}={event.number}"
                    + (f" (id had {event.known_number})" if event.known_number else "")
                    + (f" (number on {event.number_held_by})" if event.number_held_by else "")})
            elif isinstance(event, RecordsQuarantined):
                kept = self._quarantinable(event)
                if kept is not None:
                    self._quarantine_warnings.warn(kept.records)
                    await writer.put(kept)
            elif isinstance(event, SnapshotReceived):
                if self.ownership.owner(event.firm, event.account) is not None:
                    await writer.put(self.operations.dated(event))
            elif isinstance(event, Connected):
                # Before any fill of this session is handed over: the firm's
                # sealed days are known only now that the login named the firm.
                self.writer_sealed_through(await self.store.sealed_through(event.firm))
                self._firm = event.firm
                self._visible = {account.account for account in event.accounts}
                log.info("feed.connected", firm=event.firm, username=event.username,
                         visible=len(event.accounts), risk_manager=event.risk_manager)
                self.board.set("connected", firm=event.firm, username=event.username,
                                 visible=frozenset(self._visible), reason=None,
                                 lists_accounts=event.lists_accounts,
                                 price_format=event.price_format)
                self._schedule_visibility_check(event.risk_manager)
                if event.accounts:
                    await writer.put(AccountsSeen(event.firm, event.accounts))
                    await self._learned(event.firm, event.accounts)
            elif isinstance(event, Subscribed):
                self.board.set("subscribed")
            elif isinstance(event, AccountsSeen):
                # Visible by number, and by code (an entry may name either).
                seen = {name for account in event.accounts
                        for name in (account.account, account.code) if name}
                if not seen <= self._visible:
                    self._visible |= seen
                    self.board.set(visible=frozenset(self._visible))
                await writer.put(event)
                await self._learned(event.firm, event.accounts)
            elif isinstance(event, Disconnected):
                log.warning("feed.disconnected", reason=event.reason)
                self.board.set("disconnected", reason=event.reason)

    async def _learned(self, firm: str, accounts: tuple[VisibleAccount, ...]) -> None:
        """Accounts seen: registry entries naming them by code or id now stand
        for their numbers too (before the frame's fills are judged), and
        quarantined fills of accounts not known before are retried."""
        seen = self._seen.setdefault(firm, {})
        for account in accounts:
            old = seen.get(account.account_id)
            seen[account.account_id] = account if old is None else old.merged(account)
        resolved = self._registry.resolved(self._seen)
        if resolved != self.ownership:
            self.ownership = resolved
            log.info("registry.resolved", entries=len(resolved))
            if self._feed is not None:
                await self._feed.registry_changed()
        if self._releaser is not None:
            self._releaser.learn(firm, accounts)

    def _quarantinable(self, event: RecordsQuarantined) -> RecordsQuarantined | None:
        """The records to keep: all but those of an account known to be no
        user's (dropped as its fills would be)."""
        owner = self.ownership.owner
        kept = tuple(r for r in event.records
                     if not r.account or owner(r.firm, r.account) is not None)
        if len(kept) < len(event.records):
            self.metrics.inc("quarantine.dropped_unowned", len(event.records) - len(kept))
        if not kept:
            return None
        return event if len(kept) == len(event.records) else RecordsQuarantined(kept)

    def _owned(self, fills: tuple[Fill, ...]) -> tuple[Fill, ...]:
        """The fills whose account has an owner. A frame's fills usually share
        one account, so ownership is decided per distinct account, not per fill."""
        owner = self.ownership.owner
        verdict = {key: owner(*key) is not None for key in {(f.firm, f.account) for f in fills}}
        if all(verdict.values()):
            return fills
        return tuple(f for f in fills if verdict[(f.firm, f.account)])

    def _schedule_visibility_check(self, risk_manager: bool) -> None:
        """Check at login which owned accounts the fill user cannot see. A Risk
        Manager's firm accounts arrive as snapshots after the subscription, so
        in that mode the check waits ``visibility_grace`` seconds for them."""
        if self._visibility_check is not None:
            self._visibility_check.cancel()
        if not risk_manager:
            self._warn_invisible()
            return
        self._visibility_check = asyncio.get_running_loop().call_later(
            self.visibility_grace, self._warn_invisible)

    def _warn_invisible(self) -> None:
        """Owned accounts the fill user cannot see lose their fills: say so loudly."""
        if self._firm is None or not self.status.lists_accounts:
            return
        aliases = {name for account in self._seen.get(self._firm, {}).values()
                   for name in (account.account_id, account.code) if account.account}
        for account, user in sorted(self.ownership.accounts_of(self._firm).items()):
            if account not in self._visible and account not in aliases:
                self.metrics.inc("accounts.owned_invisible")
                log.warning("ownership.account_invisible", user=user, account=account,
                            firm=self._firm, fill_user=self.settings.t4.username or None)

    async def _poll_registry(self) -> None:
        while True:
            await asyncio.sleep(REGISTRY_POLL_SECONDS)
            if await self.load_registry():
                log.info("registry.changed", entries=len(self.ownership))
                self._warn_invisible()
                if self._releaser is not None:
                    self._releaser.wake()
                if self._feed is not None:
                    await self._feed.registry_changed()

    async def _progress(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_SECONDS)
            counters = self.metrics.counters
            log.info("capture.progress", captured=counters["fills.captured"],
                     duplicates=counters["fills.duplicate"],
                     dropped_unowned=counters["fills.dropped_unowned"],
                     p99_ms=round(self.metrics.latency.percentile(0.99), 3))


def ownership_of(owners: Iterable[Owner]) -> Ownership:
    """The filter's snapshot of registry rows."""
    return Ownership(Entry(owner.user, owner.firm, owner.account) for owner in owners)


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


def tune_gc() -> None:
    """The capture path allocates a few objects per fill, almost none of them in
    cycles; collecting every 700 allocations cost ~5% of snapshot throughput.
    Freezing what start-up built keeps the long-lived objects out of every scan."""
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


async def run(settings: Settings) -> int:
    """Run the daemon until SIGTERM/SIGINT. Returns the process exit code."""
    tune_gc()
    metrics = Metrics()
    loop = asyncio.get_running_loop()
    notifier = Notifier()
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(notifier.running())  # watchdog; STOPPING=1 at the end
        store = await stack.enter_async_context(open_store(settings.store.url))
        # Before anything is written or T4 hears of us: one daemon per firm and store.
        await stack.enter_async_context(store.lease(instance_of(settings)))
        await store.seed_registry(owners_from(settings))
        daemon = Daemon(settings, store, metrics)
        daemon.listeners.append(notifier.on_status)  # READY=1 and the STATUS= line
        await daemon.load_registry()
        if settings.metrics.enabled:
            await stack.enter_async_context(serve_metrics(settings.metrics, daemon))
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, daemon.stop)
        log.info("daemon.starting", adapter=settings.feed.adapter, store=settings.store.url,
                 owned_accounts=len(daemon.ownership))
        effective = settings
        if settings.feed.adapter == "sim":
            effective = await stack.enter_async_context(embedded_sim(settings))
        # The simulator replaces T4, never the adapter.
        adapter = "t4" if settings.feed.adapter == "sim" else settings.feed.adapter
        feed = load_adapter(adapter)(effective, lambda: daemon.ownership, metrics)
        daemon.settings = effective
        if effective.mqtt.enabled:  # in the background: capture never waits for it
            publisher = await stack.enter_async_context(publishing(effective, store, metrics))
            daemon.commit_listeners.append(publisher.wake)
        try:
            await daemon.run(feed)
        except LoginRefused as exc:
            log.error("feed.login_refused", result=exc.result, error=str(exc))
            return EXIT_LOGIN_REFUSED
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
    return EXIT_OK
