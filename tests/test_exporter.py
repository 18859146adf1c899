"""The Prometheus endpoint: what the collector makes of the daemon's numbers, and
``/metrics`` served by a real daemon process capturing from the simulator."""

from __future__ import annotations

import math
import signal
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from fillcapture import __version__
from fillcapture.config import MetricsSettings, host_and_port
from fillcapture.feedstatus import FeedState, FeedStatus
from fillcapture.metrics import Latency, Metrics
from fillcapture.prometheus import registry_for, track_connection
from tests.conftest import (
    Proc,
    SimProc,
    daemon_config,
    free_port,
    ledger_rows,
    stored_rows,
    wait_until,
    write_config,
)

OWNED = {"11111", "22222", "33333", "44444"}
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _samples(text: str) -> Samples:
    """Every sample of an exposition, by (name, sorted labels)."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        sample: Sample
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _scrape(metrics: Metrics) -> Samples:
    return _samples(generate_latest(registry_for(metrics)).decode())


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


# --- the collector ----------------------------------------------------------

def test_counters_are_read_at_each_scrape() -> None:
    metrics = Metrics()
    for key, amount in (("fills.captured", 7), ("fills.dropped_unowned", 3),
                        ("fills.recovered", 2), ("fills.duplicate", 5),
                        ("frames.malformed", 1), ("busts.recorded", 4),
                        ("feed.disconnects", 6)):
        metrics.inc(key, amount)
    first = _scrape(metrics)
    metrics.inc("fills.captured", 10)
    second = _scrape(metrics)

    assert _value(first, "fillcapture_fills_captured_total") == 7
    assert _value(second, "fillcapture_fills_captured_total") == 17
    assert _value(second, "fillcapture_fills_dropped_unowned_total") == 3
    assert _value(second, "fillcapture_fills_recovered_total") == 2
    assert _value(second, "fillcapture_fills_duplicate_total") == 5
    assert _value(second, "fillcapture_frames_malformed_total") == 1
    assert _value(second, "fillcapture_busts_recorded_total") == 4
    assert _value(second, "fillcapture_reconnects_total") == 6


def test_a_fresh_daemon_reports_zeros_and_no_fill_age() -> None:
    samples = _scrape(Metrics())
    assert _value(samples, "fillcapture_fills_captured_total") == 0
    assert _value(samples, "fillcapture_connected") == 0
    assert _value(samples, "fillcapture_gaps_open") == 0
    assert _value(samples, "fillcapture_writer_queue_fills") == 0
    assert _value(samples, "fillcapture_commit_latency_seconds_count") == 0
    assert _value(samples, "fillcapture_logins_total", result="LOGIN_RESULT_SUCCESS") == 0
    assert math.isnan(_value(samples, "fillcapture_last_fill_age_seconds"))
    assert _value(samples, "fillcapture_info", version=__version__) == 1


def test_logins_are_counted_by_result() -> None:
    metrics = Metrics()
    metrics.inc("feed.logins", 2)
    metrics.inc("feed.login_refused.LOGIN_RESULT_LOGGED_IN_ELSEWHERE", 3)
    metrics.inc("feed.login_refused.LOGIN_RESULT_SERVER_MESSAGE_BACKLOG")
    logins = {labels: value for (name, labels), value in _scrape(metrics).items()
              if name == "fillcapture_logins_total"}
    assert logins == {
        (("result", "LOGIN_RESULT_SUCCESS"),): 2,
        (("result", "LOGIN_RESULT_LOGGED_IN_ELSEWHERE"),): 3,
        (("result", "LOGIN_RESULT_SERVER_MESSAGE_BACKLOG"),): 1,
    }


def test_days_sealed_unverified_are_counted() -> None:
    metrics = Metrics()
    assert _value(_scrape(metrics), "fillcapture_reconcile_unverified_total") == 0
    metrics.inc("reconcile.unverified")
    assert _value(_scrape(metrics), "fillcapture_reconcile_unverified_total") == 1


def test_gauges_are_set_values_or_read_when_scraped() -> None:
    metrics = Metrics()
    queued = [120]
    metrics.gauges["gaps.open"] = 2
    metrics.gauges["writer.queued"] = lambda: queued[0]
    assert _value(_scrape(metrics), "fillcapture_gaps_open") == 2
    assert _value(_scrape(metrics), "fillcapture_writer_queue_fills") == 120
    queued[0] = 0
    assert _value(_scrape(metrics), "fillcapture_writer_queue_fills") == 0


def test_connected_follows_the_feed_status() -> None:
    metrics = Metrics()
    listener = track_connection(metrics)
    states: tuple[FeedState, ...] = ("starting", "connected", "subscribed", "disconnected",
                                     "subscribed", "stopping")
    seen = []
    for state in states:
        listener(FeedStatus(state, datetime.now(UTC)))
        seen.append(_value(_scrape(metrics), "fillcapture_connected"))
    assert seen == [0, 1, 1, 0, 1, 0]


def test_last_fill_age_counts_from_the_last_new_fill() -> None:
    metrics = Metrics()
    metrics.last_capture_ns = time.monotonic_ns() - 3_000_000_000
    age = _value(_scrape(metrics), "fillcapture_last_fill_age_seconds")
    assert 3 <= age < 4


def test_latency_histogram_is_cumulative_per_fill_in_seconds() -> None:
    metrics = Metrics()
    metrics.latency.record(300_000, 2)        # 0.3 ms, a frame of two fills
    metrics.latency.record(1_000_000)         # exactly 1 ms: le="0.001" holds it
    metrics.latency.record(20_000_000_000)    # 20 s: beyond every bound
    samples = _scrape(metrics)
    buckets = {dict(labels)["le"]: value for (name, labels), value in samples.items()
               if name == "fillcapture_commit_latency_seconds_bucket"}
    assert buckets["0.0005"] == 2
    assert buckets["0.001"] == 3
    assert buckets["10.0"] == 3
    assert buckets["+Inf"] == 4
    assert _value(samples, "fillcapture_commit_latency_seconds_count") == 4
    assert _value(samples, "fillcapture_commit_latency_seconds_sum") == pytest.approx(20.0016)


def test_latency_clear_starts_the_histogram_over() -> None:
    latency = Latency(buckets=(0.001,))
    latency.record(5_000, 3)
    latency.clear()
    latency.record(5_000_000)
    assert latency.bucket_counts == [0, 1]
    assert latency.sum_ns == 5_000_000
    assert latency.percentile(0.5) == 5.0


def test_the_listen_address_splits_into_host_and_port() -> None:
    assert host_and_port("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert host_and_port("[::1]:9100") == ("::1", 9100)
    assert MetricsSettings(listen="0.0.0.0:8000").port == 8000
    for bad in ("9464", ":9464", "localhost:", "localhost:0", "localhost:http"):
        with pytest.raises(ValueError, match="host:port"):
            host_and_port(bad)


# --- a real daemon ---------------------------------------------------------

def test_running_daemon_serves_its_metrics(
    tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
) -> None:
    sim = start_sim("--rate", "500", "--max-fills", "1500", "--seed", "5")
    port = free_port()
    daemon = start_daemon(daemon_config(tmp_path, sim,
                                        metrics={"listen": f"127.0.0.1:{port}"}))
    db = tmp_path / "fills.db"
    wait_until(lambda: len(sim.ledger()) == 1500, 30, "the simulator to finish")
    expected = ledger_rows(sim.ledger(), OWNED)
    wait_until(lambda: len(stored_rows(db)) == len(expected), 30, "every owned fill stored")
    time.sleep(0.3)  # the counters move just after the commit the rows show

    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    captured = _value(samples, "fillcapture_fills_captured_total")
    duplicates = _value(samples, "fillcapture_fills_duplicate_total")
    print({name: value for (name, _), value in samples.items()
           if name.startswith("fillcapture_") and "_bucket" not in name})

    assert captured == len(expected)
    assert _value(samples, "fillcapture_fills_dropped_unowned_total") >= (
        len(sim.ledger()) - len(expected)) > 0
    # Fills made before the daemon's login come from the snapshot: recovered.
    assert 0 <= _value(samples, "fillcapture_fills_recovered_total") <= captured
    assert _value(samples, "fillcapture_frames_malformed_total") == 0
    assert _value(samples, "fillcapture_busts_recorded_total") == 0
    assert _value(samples, "fillcapture_connected") == 1
    assert _value(samples, "fillcapture_reconnects_total") == 0
    assert _value(samples, "fillcapture_logins_total", result="LOGIN_RESULT_SUCCESS") == 1
    assert 0 <= _value(samples, "fillcapture_last_fill_age_seconds") < 30
    assert _value(samples, "fillcapture_gaps_open") == 0
    assert _value(samples, "fillcapture_writer_queue_fills") == 0
    # One latency per fill committed, new or absorbed.
    assert _value(samples, "fillcapture_commit_latency_seconds_count") == captured + duplicates
    assert _value(samples, "fillcapture_commit_latency_seconds_sum") > 0
    assert _value(samples, "process_resident_memory_bytes") > 0

    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)


def test_disabled_metrics_serve_nothing(
    tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
) -> None:
    sim = start_sim("--rate", "200")
    port = free_port()
    start_daemon(daemon_config(tmp_path, sim, metrics={
        "enabled": False, "listen": f"127.0.0.1:{port}"}))
    wait_until(lambda: len(stored_rows(tmp_path / "fills.db")) > 0, 30, "a stored fill")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)


def test_a_taken_metrics_port_is_a_configuration_error(
    tmp_path: Path, start_daemon: Callable[..., Proc],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        listen = f"127.0.0.1:{taken.getsockname()[1]}"
        config = write_config(tmp_path / "fillcapture.toml", {
            "store": {"url": f"sqlite:///{tmp_path / 'fills.db'}"},
            "metrics": {"listen": listen},
            "log": {"format": "json"},
        })
        daemon = start_daemon(config)
        assert daemon.wait() == 2
    last = daemon.stderr.strip().splitlines()[-1]
    assert last.startswith(f"fillcapture: configuration error: metrics.listen: cannot listen "
                           f"on {listen}")

