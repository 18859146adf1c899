"""The metric families alert rules are written against.

:func:`alert_families` is called by
:class:`~fillcapture.prometheus.DaemonCollector` at each scrape, on the HTTP
server's thread: it reads plain values of :class:`~fillcapture.metrics.Metrics`
(numbers, dates, one dict copied whole) and derives the rest — the trading
calendar, whether the open gap is still recoverable, whether today's
reconcile verified — from the daemon's clock, so nothing is pushed from the
capture path for them. Every family is there from the first scrape on, so
``absent()`` means the daemon is down.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import date, datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from fillcapture.metrics import Metrics
from fillcapture.schedule import (
    Session,
    close_moment,
    loses_fills,
    roll_moment,
    session_state,
    trade_date,
)


@dataclass(frozen=True, slots=True)
class Calendar:
    """Where ``now`` stands in the trading week: ``session_open`` while Globex
    trades; seconds to the close of the current trade date (negative once it
    passed) and to its roll."""

    session_open: bool
    to_close: float
    to_roll: float


def calendar(now: datetime, holidays: Collection[date]) -> Calendar:
    """The trading calendar at ``now`` (aware), with ``holidays``."""
    day = trade_date(now, holidays)
    return Calendar(session_state(now, holidays) is Session.OPEN,
                    (close_moment(day) - now).total_seconds(),
                    (roll_moment(day) - now).total_seconds())


def recoverable_gaps(started: datetime | None, now: datetime, holidays: Collection[date]) -> int:
    """1 if a gap open since ``started`` would lose no fills if closed at ``now``."""
    return int(started is not None and not loses_fills(started, now, holidays))


# Gauges read from Metrics.gauges: (name, gauge, help).
GAUGES = (
    ("fillcapture_accounts_visible", "accounts.visible",
     "Accounts the fill user sees in T4."),
    ("fillcapture_accounts_owned", "accounts.owned",
     "Accounts vendor customers own (the registry) for this firm."),
    ("fillcapture_accounts_owned_invisible", "accounts.owned_invisible",
     "Owned accounts the fill user cannot see (their fills are lost)."),
    ("fillcapture_quarantine_records", "quarantine.records",
     "Records in the store's quarantine not yet released."),
    ("fillcapture_account_silence_threshold_seconds", "alerts.silence_threshold",
     "[alerts] silent_account_minutes in seconds; 0: the silent-account alert is off."),
    ("fillcapture_store_outage", "store.outage",
     "1 while the store refuses writes (full disk, read-only), else 0."),
    ("fillcapture_writer_queue_capacity_fills", "writer.capacity",
     "The writer queue's bound, in fills ([store] queue_fills)."),
    ("fillcapture_mqtt_publish_lag_seconds", "mqtt.lag",
     "Age of the oldest committed fill not yet published over MQTT; 0 when none "
     "or MQTT is off."),
    ("fillcapture_reconcile_supported", "reconcile.supported",
     "1 unless the last pre-roll reconcile found a feed with no snapshots to send "
     "again (MQTT), 0 then: there is nothing to verify."),
    ("fillcapture_lease_held", "lease.held",
     "1 while this daemon holds its firm's lease and captures, 0 while the standby."),
)

COUNTERS = (
    ("fillcapture_reconcile_failures", "reconcile.failures",
     "Pre-roll reconciles that ended without verifying every owned account."),
    ("fillcapture_store_errors", "store.errors",
     "Store writes that failed for an outage and were retried."),
)


def alert_families(metrics: Metrics) -> Iterator[Metric]:
    """The alert metrics of ``metrics`` as they stand now."""
    now = metrics.clock()
    holidays = metrics.holidays
    at = calendar(now, holidays)
    yield GaugeMetricFamily("fillcapture_trading_session_open",
                            "1 while Globex trades, else 0 (halt, weekend, holiday).",
                            value=float(at.session_open))
    yield GaugeMetricFamily(
        "fillcapture_time_to_close_seconds",
        "Seconds to 16:00 Chicago of the current trade date; negative once it passed.",
        value=at.to_close)
    yield GaugeMetricFamily(
        "fillcapture_time_to_roll_seconds",
        "Seconds to the roll (17:00 Chicago) of the current trade date, when T4 forgets it.",
        value=at.to_roll)
    lost = metrics.disconnected_since
    yield GaugeMetricFamily(
        "fillcapture_disconnected_seconds",
        "Seconds since the T4 session was lost (since start if never connected); 0 "
        "while connected.", value=0.0 if lost is None else time.monotonic() - lost)
    yield GaugeMetricFamily(
        "fillcapture_gaps_recoverable",
        "Capture gaps open now that are still recoverable: unrecoverable unless closed "
        "before the roll.", value=recoverable_gaps(metrics.gap_started, now, holidays))
    yield GaugeMetricFamily(
        "fillcapture_reconcile_last_success_timestamp_seconds",
        "Unix time of the last pre-roll reconcile that verified every owned account; "
        "0 if none since start.", value=metrics.reconciled_at)
    yield GaugeMetricFamily(
        "fillcapture_reconcile_verified",
        "1 once the current trade date's pre-roll reconcile verified every owned account.",
        value=float(metrics.reconciled_day == trade_date(now, holidays)))
    counters = dict(metrics.counters)
    for name, key, documentation in COUNTERS:
        yield CounterMetricFamily(name, documentation, value=counters.get(key, 0))
    for name, key, documentation in GAUGES:
        yield GaugeMetricFamily(name, documentation, value=metrics.gauge(key))
    yield from _per_account(metrics)


def _per_account(metrics: Metrics) -> Iterator[Metric]:
    """One series per owned account: bounded by the registry."""
    owned = metrics.owned
    fills = dict(metrics.account_fills)
    last = dict(metrics.account_last_fill)
    captured = CounterMetricFamily("fillcapture_account_fills_captured",
                                   "Fills stored for the first time, per owned account.",
                                   labels=["account"])
    newest = GaugeMetricFamily(
        "fillcapture_account_last_fill_timestamp_seconds",
        "Unix time (exchange time) of the account's last stored fill; 0 if none.",
        labels=["account"])
    for account in owned:
        captured.add_metric([account], fills.get(account, 0))
        newest.add_metric([account], last.get(account, 0.0))
    yield captured
    yield newest
