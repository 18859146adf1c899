"""Reading a daemon's ``/metrics`` in tests: one scrape as samples by
(name, sorted labels), and the port a test configuration listens on."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def scrape(port: int) -> Samples:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    response.raise_for_status()
    return samples(response.text)


def metrics_port(config: Path) -> int:
    """The metrics port a configuration from ``daemon_config`` listens on."""
    found = re.search(r'listen = "127\.0\.0\.1:(\d+)"', config.read_text())
    assert found is not None
    return int(found.group(1))


def value(found: Samples, name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


def per_account(found: Samples, name: str) -> dict[str, float]:
    return {dict(labels)["account"]: number for (sample, labels), number in found.items()
            if sample == name}


