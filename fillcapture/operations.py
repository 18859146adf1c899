"""What keeps a daemon safe to leave alone: gap accounting, its recorded state,
and the scheduled jobs (pre-roll reconcile, seal after the roll, weekly maintenance).

T4 keeps the current trade day only. So every time the daemon does not hear
T4 is recorded as a gap, and a gap that covered trading of a day T4 has since
forgotten is *unrecoverable*: an error until an operator acknowledges it.
Before each roll the daemon asks T4 for its whole book once more (reconcile);
after the roll it seals the day, so any later change to it is an amendment.

The jobs are plain coroutines with an injectable clock: tests call them
directly; in the daemon an APScheduler ``AsyncIOScheduler`` runs them in
America/Chicago time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Self

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from fillcapture import reconcile
from fillcapture.clock import iso as _iso
from fillcapture.clock import utc_now
from fillcapture.model import SnapshotReceived
from fillcapture.positions import record_positions
from fillcapture.schedule import (
    CHICAGO,
    is_trading_day,
    loses_fills,
    roll_moment,
    trade_date,
)
from fillcapture.store import MaintenancePlan, Seal, Store, StoreError

if TYPE_CHECKING:
    from fillcapture.config import MaintenanceSettings, ScheduleSettings
    from fillcapture.daemonstate import DaemonState
    from fillcapture.feedstatus import FeedStatus
    from fillcapture.metrics import Metrics
    from fillcapture.outage import StoreOutage

log = structlog.get_logger(__name__)

ALIVE_SECONDS = 5.0
"""How often a running daemon records that it is alive: after a crash, the gap
while it was down starts at most this long before the truth."""


CHECKPOINT_BEATS = 12
"""Every this many alive beats (a minute), the store does its housekeeping
(:meth:`~fillcapture.store.Store.housekeeping`: the engine frees journal space,
so a full disk needs little to recover)."""




class Operations:
    """Gap accounting, state recording and jobs for one daemon, while in its
    ``async with`` (entering is :meth:`start`, leaving :meth:`stop`).

    It keeps what it records under ``state.instance`` in ``store``, retrying
    through ``outage``; ``snapshots`` says whether the feed has snapshots
    (an unverified seal is then an error).
    """

    def __init__(self, store: Store, state: DaemonState, metrics: Metrics,
                 outage: StoreOutage, *, schedule: ScheduleSettings,
                 maintenance: MaintenanceSettings, snapshots: bool,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        self.state = state
        self.metrics = metrics
        self.outage = outage
        self.schedule = schedule
        self.maintenance = maintenance
        self.snapshots = snapshots
        self.clock = clock
        # Store writes in the order the status changes happened; None ends them.
        self._writes: asyncio.Queue[Callable[[], Awaitable[None]] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._alive_task: asyncio.Task[None] | None = None
        self._gap: tuple[int, datetime] | None = None  # the open gap: id, start
        # The latest reconcile; the seal of its trade date records how it ended.
        self.reconciled: reconcile.DayReconcile | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._price_format: str | None = None  # as last recorded in the store
        self._unrecorded = 0  # state writes given up at a shutdown in an outage

    @property
    def instance(self) -> str:
        """The name this daemon's state and gaps are kept under: its firm."""
        return self.state.instance

    @property
    def firm(self) -> str:
        return self.state.firm

    @property
    def holidays(self) -> frozenset[date]:
        return frozenset(self.schedule.holidays)

    def dated(self, event: SnapshotReceived) -> SnapshotReceived:
        """A snapshot as the store records it: 0 fills of today where it has none."""
        return reconcile.dated(event, trade_date(self.clock(), self.holidays))

    # --- life cycle -----------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    async def start(self) -> None:
        """Before capture: open the gap of the time the daemon was not running,
        load the seal mark, catch up a missed seal, start the jobs."""
        store = self.store
        now = self.clock()
        previous = (await store.state()).get(self.instance, {})
        self._price_format = previous.get("t4.price_format") or None
        alive = previous.get("alive_at")
        unended = [gap for gap in await store.gaps()
                   if gap.instance == self.instance and gap.ended_at is None]
        if unended:
            # T4 was already gone when the daemon stopped: that gap goes on.
            self._set_gap((unended[0].id, unended[0].started_at))
        elif alive is not None:
            reason = ("daemon stopped" if previous.get("state") == "stopped"
                      else "daemon not running (crashed or killed)")
            started = datetime.fromisoformat(alive)
            self._set_gap((await store.open_gap(self.instance, started, reason), started))
        await store.set_state(self.instance, {
            "state": "starting", "since": _iso(now), "started_at": _iso(now),
            "alive_at": _iso(now), "pid": str(os.getpid()), "host": socket.gethostname(),
            "reason": "",
        })
        await self._refresh_open_gaps()
        self.state.sealed_through = await store.sealed_through(self.firm)
        if self.schedule.enabled:
            await self.seal_job()  # a seal missed while the daemon was down
            self._start_scheduler()
        self._task = asyncio.create_task(self._run(), name="operations")
        self._alive_task = asyncio.create_task(self._alive(), name="alive")

    async def _run(self) -> None:
        """Write status changes in order, until the ``None`` that :meth:`stop` queues."""
        outage = self.outage
        while (write := await self._writes.get()) is not None:
            try:
                # Retried in order through an outage: a gap opened meanwhile is
                # recorded, with its start, once the store takes writes again.
                await outage.call("state", write)
            except StoreError as exc:
                if exc.outage:  # abandoned at shutdown: the outage is logged already
                    self._unrecorded += 1
                else:
                    log.error("operations.write_failed", error=str(exc))
            except Exception:  # a failed status write must not end the daemon
                log.exception("operations.write_failed")

    async def stop(self) -> None:
        """After capture: the last status changes, and a clean "stopped"."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._alive_task is not None:
            self._alive_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._alive_task
        if self._task is not None:
            self._writes.put_nowait(None)
            await self._task
        self._task = self._alive_task = None
        # A gap going on is the next holder's to report: this daemon captures no more.
        self.metrics.gap_started = None
        now = self.clock()
        try:
            await self.store.set_state(
                self.instance, {"state": "stopped", "since": _iso(now), "alive_at": _iso(now)})
        except StoreError as exc:
            if not exc.outage:
                raise
            # The next start opens the gap from the last alive_at recorded.
            log.error("operations.stop_unrecorded", error=str(exc),
                      state_writes_lost=self._unrecorded)

    def on_status(self, status: FeedStatus) -> None:
        """A :class:`~fillcapture.feedstatus.StatusBoard` listener: queue the store
        writes it implies."""
        now = self.clock()
        self._writes.put_nowait(lambda: self._record(status, now))

    # --- gaps and state -----------------------------------------------------------

    async def _record(self, status: FeedStatus, now: datetime) -> None:
        store = self.store
        owned = set(self.state.ownership.accounts_of(status.firm or self.instance))
        invisible = owned - status.visible if status.lists_accounts else set()
        values = {
            "state": status.state, "since": _iso(status.since), "firm": status.firm or "",
            "username": status.username or "", "reason": status.reason or "",
            "visible": ",".join(sorted(status.visible)), "owned": ",".join(sorted(owned)),
            "invisible": ",".join(sorted(invisible)), "alive_at": _iso(now),
            "account_conflicts": ";".join(sorted(status.conflicts)),
        }
        if status.price_format is not None:
            # What a stored price means, as the login asked T4 to write it.
            values["t4.price_format"] = status.price_format
            if status.price_format != self._price_format:
                values["t4.price_format.since"] = _iso(now)
                if self._price_format is not None:
                    log.warning("feed.price_format_changed", previous=self._price_format,
                                now=status.price_format,
                                hint="prices stored before and after this are written "
                                     "differently")
                self._price_format = status.price_format
        await store.set_state(self.instance, values)
        if status.state == "disconnected" and self._gap is None:
            reason = status.reason or "disconnected"
            self._set_gap((await store.open_gap(self.instance, now, reason), now))
        elif status.state == "subscribed" and self._gap is not None:
            gap_id, started = self._gap
            self._set_gap(None)
            lost = loses_fills(started, now, self.holidays)
            await store.close_gap(gap_id, now, lost)
            # The gauge first: whoever sees the counter move sees the gauge moved too.
            await self._refresh_open_gaps()
            if lost:
                self.metrics.inc("gaps.unrecoverable")
                log.error("gap.unrecoverable", gap=gap_id, started=_iso(started),
                          ended=_iso(now), first_trade_date=str(trade_date(started)),
                          hint=f"fills may be lost for good; after checking, run "
                               f"'fillcapture gaps ack {gap_id}'")
            else:
                log.info("gap.closed", gap=gap_id,
                         seconds=round((now - started).total_seconds(), 3))

    def _set_gap(self, gap: tuple[int, datetime] | None) -> None:
        """The open gap (id, start), or None; the metrics see its start."""
        self._gap = gap
        self.metrics.gap_started = None if gap is None else gap[1]

    async def _refresh_open_gaps(self) -> None:
        """The gauges read from the store: unrecoverable gaps not acknowledged,
        and records quarantined not yet released."""
        self.metrics.gauges["gaps.open"] = len(await self.store.gaps(open_only=True))
        counts = await self.store.quarantine_counts()
        self.metrics.gauges["quarantine.records"] = float(sum(counts.values()))

    async def _alive(self) -> None:
        store = self.store
        beats = 0
        while True:
            await asyncio.sleep(ALIVE_SECONDS)
            self._writes.put_nowait(functools.partial(
                store.set_state, self.instance, {"alive_at": _iso(self.clock())}))
            beats += 1
            if beats % CHECKPOINT_BEATS == 0:
                self._writes.put_nowait(store.housekeeping)
                self._writes.put_nowait(self._refresh_open_gaps)

    # --- jobs -----------------------------------------------------------------

    async def reconcile_job(self, settle: float | None = None) -> dict[str, int]:
        """Before the roll: see a fresh snapshot of every account; count, per
        account, the fills T4 had that the store lacked (see :mod:`fillcapture.reconcile`)."""
        return await reconcile.reconcile_job(
            self.state, self.store, self.schedule, self.clock(), self._reconciled, settle)

    def _reconciled(self, record: reconcile.DayReconcile) -> None:
        """How the latest reconcile ended: for the seal, and the metrics."""
        self.reconciled = record
        outcome = record.outcome
        self.metrics.gauges["reconcile.supported"] = float(outcome.supported)
        if outcome.verified:
            self.metrics.reconciled_day = record.trade_date
            self.metrics.reconciled_at = record.at.timestamp()
        elif outcome.supported:
            self.metrics.inc("reconcile.failures")

    async def seal_job(self) -> list[Seal]:
        """After the roll: seal the trade date T4 has just forgotten."""
        now = self.clock()
        current = trade_date(now, self.holidays)
        day = current - timedelta(days=1)
        while not is_trading_day(day, self.holidays):
            day -= timedelta(days=1)
        if roll_moment(day) > now:
            return []
        store = self.store
        sealed = await store.sealed_through(self.firm)
        if sealed is not None and sealed >= day:
            return []
        if sealed is None and not self._reconciled_day(day):
            first = await store.first_trade_date(self.firm)
            if first is None or first > day:
                # A new store's first start: its capture began after the day.
                log.info("seal.skipped", trade_date=str(day),
                         reason="nothing of the firm was captured by then and no reconcile "
                                "of it ran: this store's capture began after it")
                return []
        verification, reconciled, recovered = await reconcile.certify(
            self.reconciled, day, self.state, store, self.metrics, self.snapshots)
        seals = await store.seal_day(self.firm, day, reconciled, verification, recovered)
        self.state.sealed_through = day
        log.info("seal.done", trade_date=str(day), accounts=len(seals),
                 fills=sum(seal.fills for seal in seals),
                 volume=sum(seal.volume for seal in seals),
                 reconciled_at=None if reconciled is None else _iso(reconciled),
                 verified=verification.verified, step=verification.step)
        await store.set_state(self.instance, {"seal.last": str(day), "seal.at": _iso(now)})
        await self._record_positions(day)
        return seals

    def _reconciled_day(self, day: date) -> bool:
        """A reconcile of ``day`` ran in this process."""
        return self.reconciled is not None and self.reconciled.trade_date == day

    async def _record_positions(self, day: date) -> None:
        """Checkpoint the daily summary's books at the sealed day. Only a
        speed-up for summaries: a failure is logged and the next seal retries."""
        started = time.monotonic()
        try:
            positions = await record_positions(self.store, self.firm, day)
        except StoreError as exc:
            log.error("positions.failed", trade_date=str(day), error=str(exc))
            return
        if positions is None:
            log.warning("positions.superseded", trade_date=str(day))
            return
        log.info("positions.recorded", trade_date=str(day), books=len(positions.books),
                 seconds=round(time.monotonic() - started, 3))

    async def maintenance_job(self) -> None:
        """Weekly: online backup with rotation, optimize, integrity check, retention."""
        store = self.store
        settings = self.maintenance
        now = self.clock()
        cutoff = None if settings.retain_days is None else (
            trade_date(now, self.holidays) - timedelta(days=settings.retain_days))
        report = await store.maintain(MaintenancePlan(now, settings.backup_dir, settings.keep,
                                                      cutoff))
        state: dict[str, str] = {}
        if report.backup is not None:
            log.info("maintenance.backup", path=report.backup, kept=report.kept)
            state.update({"backup.last": _iso(now), "backup.path": report.backup})
        if report.sound:
            state["integrity.last"] = f"ok at {_iso(now)}"
        else:
            self.metrics.inc("store.integrity_failures")
            log.error("store.integrity_failed", findings=report.findings[:20], path=report.store)
            state["integrity.last"] = f"FAILED at {_iso(now)}: {report.findings[0]}"
        if cutoff is not None:
            log.info("maintenance.retention", before=str(cutoff), fills_deleted=report.pruned)
        await store.set_state(self.instance, state)

    def _start_scheduler(self) -> None:
        schedule = self.schedule
        maintenance = self.maintenance
        scheduler = AsyncIOScheduler(timezone=CHICAGO)
        jobs: list[tuple[str, Callable[[], Awaitable[object]], CronTrigger]] = [
            ("reconcile", self.reconcile_job, CronTrigger(
                day_of_week="mon-fri", hour=schedule.reconcile_at.hour,
                minute=schedule.reconcile_at.minute, timezone=CHICAGO)),
            ("seal", self.seal_job, CronTrigger(
                day_of_week="mon-fri", hour=schedule.seal_at.hour,
                minute=schedule.seal_at.minute, timezone=CHICAGO)),
            ("maintenance", self.maintenance_job, CronTrigger(
                day_of_week=maintenance.weekday, hour=maintenance.at.hour,
                minute=maintenance.at.minute, timezone=CHICAGO)),
        ]
        for name, job, trigger in jobs:
            scheduler.add_job(self._logged, trigger, args=[name, job], id=name,
                              coalesce=True, max_instances=1, misfire_grace_time=300)
        scheduler.start()
        self._scheduler = scheduler
        log.info("scheduler.started", jobs={
            job.id: _iso(job.next_run_time) for job in scheduler.get_jobs()})

    @staticmethod
    async def _logged(name: str, job: Callable[[], Awaitable[object]]) -> None:
        """A failing job is an error event, never the end of the daemon."""
        try:
            await job()
        except Exception:
            log.exception("job.failed", job=name)
