"""In-process counters and the receipt-to-commit latency record.

Counters are plain integers keyed by stable names (``fills.captured``); the
status command and the Prometheus endpoint read them from here.
"""

from __future__ import annotations

from collections import Counter, deque


class Latency:
    """The most recent receipt-to-commit latencies, in nanoseconds."""

    def __init__(self, keep: int = 100_000) -> None:
        self.samples: deque[int] = deque(maxlen=keep)

    def record(self, nanoseconds: int, count: int = 1) -> None:
        # One sample per fill, so percentiles are over fills, not frames.
        self.samples.extend([nanoseconds] * count)

    def percentile(self, fraction: float) -> float:
        """The ``fraction`` (0..1) percentile in milliseconds; 0.0 with no samples."""
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        index = min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))
        return ordered[index] / 1e6

    def clear(self) -> None:
        self.samples.clear()


class Metrics:
    """Counters plus the latency record; one instance per daemon."""

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.latency = Latency()

    def inc(self, name: str, amount: int = 1) -> None:
        self.counters[name] += amount

    def __getitem__(self, name: str) -> int:
        return self.counters[name]
