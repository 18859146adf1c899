"""The Prometheus endpoint: ``GET /metrics`` in the daemon's own process.

:class:`DaemonCollector` turns the daemon's :class:`~fillcapture.metrics.Metrics`
into Prometheus metric families when a scrape asks, so the capture path keeps
counting in plain integers and there is no second set of counters to keep in
step with the first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import structlog
from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)

from fillcapture import __version__
from fillcapture.alertmetrics import alert_families
from fillcapture.config import ConfigError, MetricsSettings
from fillcapture.metrics import Metrics

if TYPE_CHECKING:
    from fillcapture.feedstatus import FeedStatus

log = structlog.get_logger(__name__)

# Counter families read straight from Metrics.counters: (name, counter, help).
COUNTERS = (
    ("fillcapture_fills_captured", "fills.captured",
     "Fills stored for the first time (committed)."),
    ("fillcapture_fills_dropped_unowned", "fills.dropped_unowned",
     "Fills dropped because no user owns their account."),
    ("fillcapture_fills_recovered", "fills.recovered",
     "Of the captured, fills found only in a T4 snapshot (at a (re)connect or the "
     "pre-roll reconcile): made while the daemon was away, or missed."),
    ("fillcapture_fills_duplicate", "fills.duplicate",
     "Fills received again and absorbed (already stored)."),
    ("fillcapture_frames_malformed", "frames.malformed",
     "Frames from T4 skipped whole because they did not decode or made no sense."),
    ("fillcapture_busts_recorded", "busts.recorded", "Trade busts stored."),
    ("fillcapture_account_conflicts", "accounts.conflicts",
     "Account numbers T4 contradicted itself on (an id whose number changed, a number on "
     "two ids); nothing is re-attributed, fillcapture status names them."),
    ("fillcapture_quarantine_released", "quarantine.released",
     "Quarantined records stored once they could be (their account became known, ...)."),
    ("fillcapture_markets_invalid", "markets.invalid",
     "T4 market details skipped for an unusable point value (their frame's fills stand)."),
    ("fillcapture_legs_pending", "legs.pending",
     "Spread leg fills decoded before their spread's definition: stored pending, "
     "placed on their contracts when it arrives."),
    ("fillcapture_spreads_invalid", "spreads.invalid",
     "Spread market details whose legs cannot be used (a leg without a market or volume)."),
    ("fillcapture_reconnects", "feed.disconnects",
     "T4 sessions lost or not opened, each followed by another attempt."),
    ("fillcapture_reconcile_unverified", "reconcile.unverified",
     "Trade dates sealed without a verified pre-roll reconcile (no fresh T4 snapshot of "
     "every owned account came before the roll): fills T4 had may be missing."),
    ("fillcapture_mqtt_published", "mqtt.published",
     "Fill and bust messages the MQTT broker acknowledged, re-sends included."),
    ("fillcapture_mqtt_reconnects", "mqtt.reconnects",
     "MQTT broker connections lost or not made, each followed by another attempt."),
    ("fillcapture_mqtt_unpublishable", "mqtt.unpublishable",
     "Stored fills or busts the message schema refuses, skipped by the publisher."),
    ("fillcapture_fills_trade_date_suspect", "fills.trade_date_suspect",
     "Fills received whose T4 trade date is no midnight in .NET ticks or not the CME "
     "trade date of their exchange time (they keep T4's date)."),
)

LOGIN_SUCCESS = "LOGIN_RESULT_SUCCESS"
REFUSED_PREFIX = "feed.login_refused."
QUARANTINED_PREFIX = "quarantined."
CONNECTED_STATES = frozenset({"connected", "subscribed"})


class DaemonCollector:
    """Reads a daemon's :class:`Metrics` at each scrape.

    Scrapes run on the HTTP server's thread while the event loop goes on
    counting. Each read below is of one int, one float or one list copied in
    a single step under the interpreter lock, so a scrape sees each number
    whole; numbers from different families may be a commit apart.
    """

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        metrics = self.metrics
        counters = dict(metrics.counters)
        yield InfoMetricFamily("fillcapture", "The running fillcapture.",
                               value={"version": __version__})
        for name, key, documentation in COUNTERS:
            yield CounterMetricFamily(name, documentation, value=counters.get(key, 0))
        logins = CounterMetricFamily("fillcapture_logins", "T4 login responses, by result.",
                                     labels=["result"])
        logins.add_metric([LOGIN_SUCCESS], counters.get("feed.logins", 0))
        for key, count in sorted(counters.items()):
            if key.startswith(REFUSED_PREFIX):
                logins.add_metric([key.removeprefix(REFUSED_PREFIX)], count)
        yield logins
        quarantined = CounterMetricFamily(
            "fillcapture_quarantined",
            "Records from T4 that could not be stored as they came, kept in the quarantine "
            "(fillcapture quarantine list), by reason.", labels=["reason"])
        for key, count in sorted(counters.items()):
            if key.startswith(QUARANTINED_PREFIX):
                quarantined.add_metric([key.removeprefix(QUARANTINED_PREFIX)], count)
        yield quarantined
        yield GaugeMetricFamily("fillcapture_connected",
                                "1 while logged in to T4 (connected or subscribed), else 0.",
                                value=metrics.gauge("feed.connected"))
        yield GaugeMetricFamily(
            "fillcapture_last_fill_age_seconds",
            "Seconds since a commit last stored a new fill; NaN until the first.",
            value=metrics.last_capture_age())
        yield GaugeMetricFamily("fillcapture_gaps_open",
                                "Unrecoverable capture gaps not yet acknowledged.",
                                value=metrics.gauge("gaps.open"))
        yield GaugeMetricFamily("fillcapture_writer_queue_fills",
                                "Fills handed to the writer and not yet committed.",
                                value=metrics.gauge("writer.queued"))
        yield GaugeMetricFamily("fillcapture_mqtt_connected",
                                "1 while the MQTT publisher is connected to its broker, else 0.",
                                value=metrics.gauge("mqtt.connected"))
        yield GaugeMetricFamily("fillcapture_mqtt_backlog_fills",
                                "Fills committed and not yet published over MQTT.",
                                value=metrics.gauge("mqtt.backlog"))
        yield _latency_histogram(metrics)
        yield from alert_families(metrics)


def _latency_histogram(metrics: Metrics) -> HistogramMetricFamily:
    latency = metrics.latency
    counts = list(latency.bucket_counts)
    sum_seconds = latency.sum_ns / 1e9
    buckets: list[tuple[str, float]] = []
    running = 0
    for bound, count in zip((*latency.bounds, float("inf")), counts, strict=True):
        running += count
        buckets.append(("+Inf" if bound == float("inf") else repr(bound), running))
    return HistogramMetricFamily(
        "fillcapture_commit_latency_seconds",
        "Per fill, from the frame's receipt to the commit that stored or absorbed it.",
        buckets=buckets, sum_value=sum_seconds)


def track_connection(metrics: Metrics) -> Callable[[FeedStatus], None]:
    """A :class:`~fillcapture.feedstatus.StatusBoard` listener that keeps the
    ``feed.connected`` gauge and when the session was lost (``disconnected_since``)."""
    def listener(status: FeedStatus) -> None:
        connected = status.state in CONNECTED_STATES
        metrics.gauges["feed.connected"] = 1.0 if connected else 0.0
        if connected:
            metrics.disconnected_since = None
        elif metrics.disconnected_since is None:
            metrics.disconnected_since = time.monotonic()
    return listener


def registry_for(metrics: Metrics) -> CollectorRegistry:
    """Our own registry rather than prometheus-client's global one: only what
    this daemon registers is served, and tests can build as many as they like."""
    registry = CollectorRegistry()
    registry.register(DaemonCollector(metrics))
    ProcessCollector(registry=registry)
    return registry


@asynccontextmanager
async def serve_metrics(settings: MetricsSettings, metrics: Metrics) -> AsyncIterator[None]:
    """Serve ``/metrics`` on ``settings.listen`` until the block ends.

    prometheus-client's own HTTP server runs on a thread of its own: a scrape
    never waits for the event loop, nor the loop for a scrape, and a daemon
    whose loop is stuck still answers, with a last-fill age that keeps growing.
    A port that cannot be had is a :class:`ConfigError` naming the key.
    With ``[standby] enabled`` it serves from before the lease is taken, so
    a waiting standby answers too (see :mod:`fillcapture.service`). Each
    daemon's status board tells ``metrics`` of its session
    (:func:`track_connection`).
    """
    try:
        server, thread = start_http_server(
            settings.port, settings.host, registry=registry_for(metrics))
    except OSError as exc:
        raise ConfigError(
            f"metrics.listen: cannot listen on {settings.listen}: {exc.strerror or exc}"
        ) from None
    log.info("metrics.serving", url=f"http://{settings.listen}/metrics")
    try:
        yield
    finally:
        await asyncio.to_thread(server.shutdown)
        server.server_close()
        thread.join()
