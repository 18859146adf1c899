"""In-process counters, gauges and the receipt-to-commit latency record.

Counters are plain integers keyed by stable names (``fills.captured``); the
status command and the Prometheus endpoint read them from here.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Callable
from datetime import date, datetime

from fillcapture.clock import utc_now

# Upper bounds of the latency histogram's buckets, in seconds: sub-millisecond
# on a quiet feed, up to the seconds a 40,000-fill commit can take under load.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                   1.0, 2.5, 5.0, 10.0)

Gauge = float | Callable[[], float]


class Latency:
    """Receipt-to-commit latencies: the most recent ones, in nanoseconds, for
    percentiles; and a histogram of all of them since start, for Prometheus.

    The histogram keeps one count per bucket (not cumulative; prometheus.py sums
    them at scrape time) so that :meth:`record`, called for every commit, costs
    one bisect and two additions beyond the samples.
    """

    def __init__(self, keep: int = 100_000, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.samples: deque[int] = deque(maxlen=keep)
        self.bounds = buckets
        self._bounds_ns = tuple(round(bound * 1e9) for bound in buckets)
        # One more than the bounds: the last counts what exceeds them all (+Inf).
        self.bucket_counts = [0] * (len(buckets) + 1)
        self.sum_ns = 0

    def record(self, nanoseconds: int, count: int = 1) -> None:
        # One sample per fill, so percentiles are over fills, not frames.
        self.samples.extend([nanoseconds] * count)
        self.bucket_counts[bisect_left(self._bounds_ns, nanoseconds)] += count
        self.sum_ns += nanoseconds * count

    def percentile(self, fraction: float) -> float:
        """The ``fraction`` (0..1) percentile in milliseconds; 0.0 with no samples."""
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        index = min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))
        return ordered[index] / 1e6

    def clear(self) -> None:
        self.samples.clear()
        self.bucket_counts = [0] * len(self.bucket_counts)
        self.sum_ns = 0


class Metrics:
    """Counters, gauges and the latency record; one instance per daemon.

    ``gauges`` hold values that go up and down, each either a number that its
    owner sets (``metrics.gauges["gaps.open"] = 2``) or a function read when
    someone asks (``metrics.gauges["writer.queued"] = lambda: writer.queued``),
    for what changes too often to be worth pushing. ``last_capture_ns`` is when
    (``time.monotonic_ns``) a commit last stored a new fill.

    What the alert metrics derive at scrape time (see
    :mod:`fillcapture.alertmetrics`) is kept here as plain values: ``clock``
    and ``holidays`` (the daemon's clock and trading calendar),
    ``disconnected_since`` (``time.monotonic`` when the T4 session was lost,
    None while connected; the start until the first login), ``gap_started``
    (the open capture gap's start), ``reconciled_day`` and ``reconciled_at``
    (the trade date and unix time of the last verified pre-roll reconcile),
    ``owned`` (the owned account numbers) with ``account_fills`` and
    ``account_last_fill`` (new fills and the newest exchange time in unix
    seconds, per account number, updated once per commit per account).
    """

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.gauges: dict[str, Gauge] = {}
        self.latency = Latency()
        self.last_capture_ns: int | None = None
        self.clock: Callable[[], datetime] = utc_now
        self.holidays: frozenset[date] = frozenset()
        self.disconnected_since: float | None = time.monotonic()
        self.gap_started: datetime | None = None
        self.reconciled_day: date | None = None
        self.reconciled_at = 0.0
        self.owned: tuple[str, ...] = ()
        self.account_fills: dict[str, int] = {}
        self.account_last_fill: dict[str, float] = {}

    def stored(self, by_account: dict[str, tuple[int, float]]) -> None:
        """A commit stored these new fills: (count, newest exchange time) per account."""
        fills, last = self.account_fills, self.account_last_fill
        for account, (count, newest) in by_account.items():
            fills[account] = fills.get(account, 0) + count
            if newest > last.get(account, 0.0):
                last[account] = newest

    def inc(self, name: str, amount: int = 1) -> None:
        self.counters[name] += amount

    def __getitem__(self, name: str) -> int:
        return self.counters[name]

    def gauge(self, name: str) -> float:
        """A gauge's current value; 0.0 until something sets it."""
        value = self.gauges.get(name, 0.0)
        return float(value() if callable(value) else value)

    def last_capture_age(self) -> float:
        """Seconds since a commit last stored a new fill; NaN before the first."""
        if self.last_capture_ns is None:
            return math.nan
        return (time.monotonic_ns() - self.last_capture_ns) / 1e9
