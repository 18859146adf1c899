"""The Grafana dashboard (deploy/grafana/fillcapture.json): laid out soundly,
every query valid PromQL (``promtool check rules``), and every metric it and
the alert rules query one that a real daemon capturing from the simulator
exports."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Proc, SimProc, daemon_config, free_port, stored_rows, wait_until

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
DASHBOARD = DEPLOY / "grafana" / "fillcapture.json"
RULES = DEPLOY / "prometheus" / "fillcapture.rules.yml"
METRIC = re.compile(r"\b((?:fillcapture|process)_[a-z_]+)\b")
# What an operator must find on it, by the metric that shows it.
REQUIRED = {
    "fillcapture_account_fills_captured_total": "capture rate by account",
    "fillcapture_fills_duplicate_total": "duplicates absorbed",
    "fillcapture_fills_dropped_unowned_total": "unowned dropped",
    "fillcapture_quarantine_records": "quarantine",
    "fillcapture_quarantined_total": "quarantined by reason",
    "fillcapture_connected": "connection state",
    "fillcapture_reconnects_total": "reconnects",
    "fillcapture_commit_latency_seconds_bucket": "commit latency percentiles",
    "fillcapture_writer_queue_fills": "writer queue",
    "fillcapture_gaps_open": "unrecoverable gaps",
    "fillcapture_gaps_recoverable": "recoverable gaps",
    "fillcapture_time_to_close_seconds": "minutes to the close",
    "fillcapture_mqtt_publish_lag_seconds": "MQTT publish lag",
}
# Grafana's variables, as a Prometheus server would see them expanded.
VARIABLES = {"$__rate_interval": "5m", "$job": ".*", "$instance": ".*"}


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _queries(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in _panels(dashboard)
            for target in panel.get("targets", [])]


def _expanded(expr: str) -> str:
    for variable, value in VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def _exported(text: str) -> set[str]:
    """The sample names a scrape's families stand for, whether or not a
    family has samples yet (a labelled counter before its first count)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        kind = family.type
        if kind == "counter":
            names.add(family.name + "_total")
        elif kind == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_count", "_sum"))
        elif kind == "info":
            names.add(family.name + "_info")
        else:
            names.add(family.name)
    return names


def test_the_dashboard_is_laid_out_on_grafanas_grid() -> None:
    dashboard = _dashboard()
    panels = list(_panels(dashboard))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    taken: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                 for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells
        if panel["type"] != "row":
            assert panel["title"], panel
            assert panel["description"], panel["title"]
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["targets"], panel["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    assert {"job", "instance"} <= set(variables)


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    queries = _queries(_dashboard())
    assert len(queries) > 20
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{n}", "expr": _expanded(expr)}
        for n, expr in enumerate(queries)]}]}
    path = tmp_path / "queries.rules.yml"
    path.write_text(yaml.safe_dump(rules))
    checked = subprocess.run(["promtool", "check", "rules", str(path)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(queries)} rules found" in checked.stdout


def test_the_dashboard_shows_what_an_operator_needs() -> None:
    queried = {name for expr in _queries(_dashboard()) for name in METRIC.findall(expr)}
    missing = {name: what for name, what in REQUIRED.items() if name not in queried}
    assert not missing


def _rule_queries() -> list[str]:
    loaded = yaml.safe_load(RULES.read_text())
    return [rule["expr"] for group in loaded["groups"] for rule in group["rules"]]


def test_every_metric_the_dashboard_and_the_alert_rules_query_is_exported(
    tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
) -> None:
    queried = {name for expr in [*_queries(_dashboard()), *_rule_queries()]
               for name in METRIC.findall(expr)}
    assert "fillcapture_account_silence_threshold_seconds" in queried  # the rules' are in
    sim = start_sim("--rate", "200", "--max-fills", "100", "--seed", "7")
    port = free_port()
    start_daemon(daemon_config(tmp_path, sim, metrics={"listen": f"127.0.0.1:{port}"}))
    wait_until(lambda: len(stored_rows(tmp_path / "fills.db")) > 0, 30, "a stored fill")
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    response.raise_for_status()
    exported = _exported(response.text)
    assert not queried - exported, f"queried but not exported: {sorted(queried - exported)}"
    # And the test sees what it checks: per-account series of an owned account.
    assert any(sample.labels.get("account") for family in
               text_string_to_metric_families(response.text)
               if family.name == "fillcapture_account_fills_captured"
               for sample in family.samples)


@pytest.mark.parametrize("expr", ["rate(fillcapture_fills_captured_total[5m]",
                                  "rate(fillcapture_fills_captured_total[$__rate_interval])"])
def test_promtool_refuses_a_broken_query(tmp_path: Path, expr: str) -> None:
    # The check above can fail: an unbalanced bracket, an unexpanded variable.
    path = tmp_path / "broken.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {"record": "dashboard:broken", "expr": expr}]}]}))
    checked = subprocess.run(["promtool", "check", "rules", str(path)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode != 0
