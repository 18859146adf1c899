"""The pre-roll reconcile that proves itself, and what the seal makes of it.

Before the roll the daemon has the feed bring a fresh snapshot of every
subscribed owned account (escalating from subscribing again to a new
session, see :meth:`fillcapture.feeds.base.FeedAdapter.reconcile`), within
``[schedule] reconcile_timeout`` a step. The seal then records the day as
verified, with the step that worked, or unverified, an error counted in
``reconcile.unverified``; and per account a certificate of what T4's last
snapshot held against what the store holds.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import structlog

from fillcapture.clock import iso
from fillcapture.feeds.base import Reconciliation
from fillcapture.model import SnapshotReceived
from fillcapture.schedule import CHICAGO, is_trading_day, trade_date
from fillcapture.store import Verification

if TYPE_CHECKING:
    from collections.abc import Callable

    from fillcapture.config import ScheduleSettings
    from fillcapture.daemonstate import DaemonState
    from fillcapture.metrics import Metrics
    from fillcapture.store import Store

log = structlog.get_logger(__name__)

NO_RECONCILE = "no reconcile ran for this trade date before the roll (the daemon was not running)"


@dataclass(frozen=True, slots=True)
class DayReconcile:
    """The reconcile of ``trade_date``: run at ``at`` (the daemon's clock),
    asked at ``asked`` (the real clock, which stamps stored fills), and how it ended."""

    trade_date: date
    at: datetime
    asked: datetime
    outcome: Reconciliation


def dated(event: SnapshotReceived, today: date) -> SnapshotReceived:
    """``event`` saying also that it holds no fills of ``today`` where it holds
    none: an empty book counts 0 for the day T4 is on."""
    if any(day == today for day, _ in event.trade_dates):
        return event
    return dataclasses.replace(event, trade_dates=tuple(sorted((*event.trade_dates, (today, 0)))))


async def reconcile_job(state: DaemonState, store: Store, schedule: ScheduleSettings,
                        now: datetime, recorded: Callable[[DayReconcile], None],
                        settle: float | None = None) -> dict[str, int]:
    """Before the roll: have the feed send the whole day again, see every
    account's fresh snapshot arrive, and count per account the fills it had
    that the store lacked (now stored). ``now`` is the daemon's clock;
    ``recorded`` is told how the reconcile ended as soon as it has."""
    holidays = frozenset(schedule.holidays)
    day = trade_date(now, holidays)
    if not is_trading_day(now.astimezone(CHICAGO).date(), holidays):
        return {}
    feed = state.feed
    # The store stamps captured_at with the real clock, whatever the daemon's says.
    asked = datetime.now(UTC)
    outcome = (Reconciliation(False, reason="no feed") if feed is None
               else await feed.reconcile(schedule.reconcile_timeout))
    recorded(DayReconcile(day, now, asked, outcome))
    if not outcome.supported:
        log.warning("reconcile.skipped", reason=outcome.reason, trade_date=str(day))
        return {}
    if outcome.verified:
        log.info("reconcile.verified", step=outcome.step, accounts=outcome.accounts,
                 trade_date=str(day))
    else:
        log.error("reconcile.unverified", trade_date=str(day), reason=outcome.reason,
                  missing=list(outcome.missing))
    await asyncio.sleep(schedule.reconcile_settle if settle is None else settle)
    firm = state.firm
    accounts = sorted(state.ownership.accounts_of(firm))
    recovered = await store.recovered_since(firm, accounts, day, asked)
    for account, count in sorted(recovered.items()):
        log.warning("reconcile.recovered", account=account, fills=count, trade_date=str(day))
    log.info("reconcile.done", trade_date=str(day), recovered=sum(recovered.values()),
             accounts=len(accounts), verified=outcome.verified)
    await store.set_state(state.instance, {
        "reconcile.last": iso(now), "reconcile.trade_date": str(day),
        "reconcile.recovered": str(sum(recovered.values())),
        "reconcile.verified": (outcome.step or "") if outcome.verified else "no",
        "reconcile.reason": outcome.reason or "",
    })
    return recovered


def verification(record: DayReconcile | None) -> Verification:
    """What the seal records of the day's reconcile, ``record`` (None: none ran)."""
    if record is None:
        return Verification(False, reason=NO_RECONCILE)
    outcome = record.outcome
    if outcome.verified:
        return Verification(True, step=outcome.step)
    return Verification(False, reason=outcome.reason or "not verified")


async def certify(record: DayReconcile | None, day: date, state: DaemonState, store: Store,
                  metrics: Metrics, snapshots: bool,
                  ) -> tuple[Verification, datetime | None, dict[str, int]]:
    """For the seal of ``day``: how its reconcile ended, its time if verified,
    and the fills it recovered per account. ``record`` is the latest reconcile;
    ``snapshots`` whether the feed has any. An unverified day of a feed with
    snapshots is an error event, counted in ``reconcile.unverified``."""
    record = record if record and record.trade_date == day else None
    found = verification(record)
    recovered: dict[str, int] = {}
    if record is not None:
        accounts = sorted(state.ownership.accounts_of(state.firm))
        recovered = await store.recovered_since(state.firm, accounts, day, record.asked)
    snapshots = snapshots and (record is None or record.outcome.supported)
    if not found.verified and snapshots:
        metrics.inc("reconcile.unverified")
        log.error("seal.unverified", trade_date=str(day), reason=found.reason,
                  hint="the store may lack fills T4 had of this day; compare the "
                       "certificates ('fillcapture seals') with the broker's statement")
    return found, record.at if record is not None and found.verified else None, recovered
