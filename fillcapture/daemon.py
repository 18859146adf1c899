"""The capture pipeline: feed -> ownership filter -> capture writer -> store.

:class:`Daemon` runs one feed session after another over an open store until
stopped. Its running parts are entered in order (operations, writer, the
quarantine releaser, the feed pump) and left in reverse; the entry point that
opens the store and the rest around it is :mod:`fillcapture.service`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager

import structlog

from fillcapture.config import Settings
from fillcapture.daemonstate import DaemonState, instance_of
from fillcapture.feeds.base import FeedAdapter
from fillcapture.feedstatus import FeedStatus, StatusBoard, StatusListener
from fillcapture.metrics import Metrics
from fillcapture.model import (
    AccountConflict,
    AccountsSeen,
    BustsReceived,
    Connected,
    Disconnected,
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
from fillcapture.operations import Operations
from fillcapture.outage import StoreOutage
from fillcapture.owned import conflict_note, owned_busts, owned_fills, quarantinable
from fillcapture.ownership import Entry, Ownership
from fillcapture.quarantine import QuarantineWarnings, Releaser
from fillcapture.store import Owner, Store
from fillcapture.writer import CaptureWriter

log = structlog.get_logger(__name__)

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
        self.state = DaemonState(instance_of(settings))
        # The registry as stored, and the accounts seen this run by firm and
        # id: ``state.ownership`` is the registry resolved through them.
        self._registry = Ownership()
        self._seen: dict[str, dict[str, VisibleAccount]] = {}
        self._stopping = asyncio.Event()
        self._visibility_check: asyncio.TimerHandle | None = None
        self.visibility_grace = VISIBILITY_GRACE_SECONDS
        self.writer: CaptureWriter | None = None
        # Called after every commit of the writer (see CaptureWriter).
        self.commit_listeners: list[Callable[[], None]] = []
        self._quarantine_warnings = QuarantineWarnings()
        self._releaser: Releaser | None = None
        # Whether the store takes writes; while it does not, no feed session.
        self.outage = StoreOutage(settings.store.outage_log_seconds,
                                  on_failure=functools.partial(metrics.inc, "store.errors"))
        self.operations = Operations(
            store, self.state, metrics, self.outage, schedule=settings.schedule,
            maintenance=settings.maintenance, snapshots=settings.feed.adapter != "mqtt")
        self.listeners.append(self.operations.on_status)
        self._visibility_checked = False  # since the login: owned_invisible is meaningful
        metrics.clock = lambda: self.operations.clock()
        metrics.holidays = self.operations.holidays
        metrics.gauges["store.outage"] = lambda: float(self.outage.down.is_set())

    @property
    def status(self) -> FeedStatus:
        return self.board.status

    @property
    def listeners(self) -> list[StatusListener]:
        return self.board.listeners

    @property
    def ownership(self) -> Ownership:
        """The ownership filter: the registry resolved through the accounts seen."""
        return self.state.ownership

    @property
    def feed(self) -> FeedAdapter | None:
        return self.state.feed

    async def load_registry(self) -> bool:
        """Re-read the registry; True if it changed."""
        fresh = ownership_of(await self.store.registry())
        if fresh == self._registry:
            return False
        self._registry = fresh
        self.state.ownership = fresh.resolved(self._seen)
        await self._count_owned()
        return True

    async def _count_owned(self) -> None:
        """The owned accounts' metrics: how many, one series each, and the
        last fill of each not known before, from the store."""
        metrics = self.metrics
        owned = tuple(sorted(self.ownership.accounts_of(self.state.firm)))
        unknown = [account for account in owned if account not in metrics.account_last_fill]
        if unknown:
            last = metrics.account_last_fill
            for account, (newest, _, _) in (await self.store.last_fills(unknown)).items():
                last[account] = max(last.get(account, 0.0), newest.timestamp())
        metrics.owned = owned
        metrics.gauges["accounts.owned"] = float(len(owned))

    def stop(self) -> None:
        self._stopping.set()

    async def run(self, feed: FeedAdapter) -> None:
        """Capture until :meth:`stop` or the feed ends; then drain the queue,
        commit and return. A feed or store failure propagates, unwrapped."""
        self.state.feed = feed
        writer = self._writer()
        releaser = Releaser(self.store, writer, self.metrics, lambda: self.ownership)
        try:
            async with self.operations, self._ending(), asyncio.TaskGroup() as tasks, \
                    self._helpers(tasks), self._writing(writer, tasks), \
                    releaser as self._releaser, self._session(feed, writer, tasks):
                await self._stopping.wait()
        except BaseExceptionGroup as group:
            raise first_error(group) from None
        log.info("daemon.stopped", captured=self.metrics["fills.captured"],
                 dropped_unowned=self.metrics["fills.dropped_unowned"],
                 duplicates=self.metrics["fills.duplicate"],
                 busts=self.metrics["busts.recorded"],
                 malformed=self.metrics["frames.malformed"],
                 reconnects=self.metrics["feed.disconnects"])

    def _writer(self) -> CaptureWriter:
        """The capture writer of this run, told the sealed date and the commit
        listeners."""
        store_settings = self.settings.store
        writer = CaptureWriter(
            self.store, self.metrics, batch_size=store_settings.batch_size,
            linger_ms=store_settings.batch_ms, queue_fills=store_settings.queue_fills,
            outage=self.outage,
        )
        self.metrics.gauges["writer.queued"] = lambda: writer.queued
        self.metrics.gauges["writer.capacity"] = float(writer.queue_fills)
        self.writer = writer
        self.state.attach(writer)
        writer.commit_listeners = self.commit_listeners
        return writer

    async def _stop_after(self, work: Awaitable[None]) -> None:
        """``work``, then stop: the feed or the writer ending ends the run."""
        await work
        self.stop()

    @asynccontextmanager
    async def _helpers(self, tasks: asyncio.TaskGroup) -> AsyncIterator[None]:
        """Poll the registry and log progress while in the block."""
        helpers = [tasks.create_task(self._poll_registry(), name="registry"),
                   tasks.create_task(self._progress(), name="progress")]
        try:
            yield
        finally:
            for helper in helpers:
                helper.cancel()

    @asynccontextmanager
    async def _writing(self, writer: CaptureWriter,
                       tasks: asyncio.TaskGroup) -> AsyncIterator[None]:
        """Run the writer while in the block; when the block ends without an
        error, have it commit what it holds (see :meth:`_drain`)."""
        writing = tasks.create_task(self._stop_after(writer.run()), name="writer")
        yield
        await writer.stop()
        await self._drain(writer, writing)

    @asynccontextmanager
    async def _session(self, feed: FeedAdapter, writer: CaptureWriter,
                       tasks: asyncio.TaskGroup) -> AsyncIterator[None]:
        """Pump the feed into the writer in the block; when the block ends
        without an error, say the daemon is stopping and close the feed."""
        pump = tasks.create_task(self._stop_after(self._capture(feed, writer)), name="feed")
        try:
            yield
        except BaseException:
            pump.cancel()
            raise
        log.info("daemon.stopping")
        self.board.set("stopping")
        await feed.close()
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump

    @asynccontextmanager
    async def _ending(self) -> AsyncIterator[None]:
        """However the run ends: no visibility check pending, the status
        "stopped", and an outage still on given up (the last writes may fail)."""
        try:
            yield
        finally:
            if self._visibility_check is not None:
                self._visibility_check.cancel()
            self.board.set("stopped")
            if self.outage.down.is_set():
                self.outage.abandon()

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
        try:
            await asyncio.wait({task, down}, return_when=asyncio.FIRST_COMPLETED)
        finally:
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
                owned = owned_fills(event.fills, self.ownership)
                dropped = len(event.fills) - len(owned)
                if dropped:
                    metrics.inc("fills.dropped_unowned", dropped)
                    log.debug("fill.dropped_unowned", count=dropped)
                if owned:
                    await writer.put(
                        event if not dropped else FillsReceived(owned, event.received_ns)
                    )
            elif isinstance(event, BustsReceived):
                busts = owned_busts(event.busts, self.ownership)
                if busts:
                    await writer.put(BustsReceived(busts))
            elif isinstance(event, (OrderSide, MarketsSeen, OrderRecount, SpreadsSeen)):
                await writer.put(event)
            elif isinstance(event, AccountConflict):
                self.board.set(conflicts=self.status.conflicts | {conflict_note(event)})
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
                self.state.sealed_through = await self.store.sealed_through(event.firm)
                self.state.login_firm = event.firm
                self.state.visible = {account.account for account in event.accounts}
                await self._count_owned()
                log.info("feed.connected", firm=event.firm, username=event.username,
                         visible=len(event.accounts), risk_manager=event.risk_manager)
                self.board.set("connected", firm=event.firm, username=event.username,
                               visible=frozenset(self.state.visible), reason=None,
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
                if not seen <= self.state.visible:
                    self.state.visible |= seen
                    self.board.set(visible=frozenset(self.state.visible))
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
        self.metrics.gauges["accounts.visible"] = float(len(seen))
        resolved = self._registry.resolved(self._seen)
        if resolved != self.ownership:
            self.state.ownership = resolved
            log.info("registry.resolved", entries=len(resolved))
            await self._count_owned()
            if self.feed is not None:
                await self.feed.registry_changed()
        if self._visibility_checked:
            self.metrics.gauges["accounts.owned_invisible"] = float(len(self._invisible()))
        if self._releaser is not None:
            self._releaser.learn(firm, accounts)

    def _quarantinable(self, event: RecordsQuarantined) -> RecordsQuarantined | None:
        """``event`` with the records :func:`quarantinable` keeps, None if none."""
        kept = quarantinable(event.records, self.ownership)
        if len(kept) < len(event.records):
            self.metrics.inc("quarantine.dropped_unowned", len(event.records) - len(kept))
        if not kept:
            return None
        return event if len(kept) == len(event.records) else RecordsQuarantined(kept)

    def _schedule_visibility_check(self, risk_manager: bool) -> None:
        """Check at login which owned accounts the fill user cannot see. A Risk
        Manager's firm accounts arrive as snapshots after the subscription, so
        in that mode the check waits ``visibility_grace`` seconds for them."""
        if self._visibility_check is not None:
            self._visibility_check.cancel()
        self._visibility_checked = False
        if not risk_manager:
            self._warn_invisible()
            return
        self._visibility_check = asyncio.get_running_loop().call_later(
            self.visibility_grace, self._warn_invisible)

    def _invisible(self) -> list[tuple[str, str]]:
        """(account, user) of the owned accounts the fill user cannot see."""
        firm = self.state.login_firm
        if firm is None or not self.status.lists_accounts:
            return []
        aliases = {name for account in self._seen.get(firm, {}).values()
                   for name in (account.account_id, account.code) if account.account}
        owned = sorted(self.ownership.accounts_of(firm).items())
        return [(account, user) for account, user in owned
                if account not in self.state.visible and account not in aliases]

    def _warn_invisible(self) -> None:
        """Owned accounts the fill user cannot see lose their fills: say so loudly."""
        invisible = self._invisible()
        self._visibility_checked = self.state.login_firm is not None
        self.metrics.gauges["accounts.owned_invisible"] = float(len(invisible))
        for account, user in invisible:
            self.metrics.inc("accounts.owned_invisible")
            log.warning("ownership.account_invisible", user=user, account=account,
                        firm=self.state.login_firm,
                        fill_user=self.settings.t4.username or None)

    async def _poll_registry(self) -> None:
        while True:
            await asyncio.sleep(REGISTRY_POLL_SECONDS)
            if await self.load_registry():
                log.info("registry.changed", entries=len(self.ownership))
                self._warn_invisible()
                if self._releaser is not None:
                    self._releaser.wake()
                if self.feed is not None:
                    await self.feed.registry_changed()

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


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first failure of the run's tasks: the one that ended it, raised as
    itself so callers catch a feed's or the store's error by its type."""
    first = group.exceptions[0]
    return first_error(first) if isinstance(first, BaseExceptionGroup) else first
