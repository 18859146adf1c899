"""The alerting rules (deploy/prometheus/fillcapture.rules.yml): valid for
``promtool check rules``, their unit tests green under ``promtool test rules``,
every alert both fired and not fired there, and each one telling the
operator how grave it is and what to do."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

RULES_DIR = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"
RULES = RULES_DIR / "fillcapture.rules.yml"
RULE_TESTS = RULES_DIR / "fillcapture.rules.test.yml"
SEVERITIES = {"warning", "critical", "page"}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120)


def _alerts() -> dict[str, dict[str, Any]]:
    loaded = yaml.safe_load(RULES.read_text())
    return {rule["alert"]: rule for group in loaded["groups"] for rule in group["rules"]}


def test_promtool_checks_the_rules() -> None:
    checked = _promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in checked.stdout


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    tested = _promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_is_both_fired_and_not_fired_by_a_test() -> None:
    fired: set[str] = set()
    quiet: set[str] = set()
    for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in test["alert_rule_test"]:
            (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    alerts = set(_alerts())
    assert alerts - fired == set(), "alerts no test fires"
    assert alerts - quiet == set(), "alerts no test shows quiet"
    assert (fired | quiet) - alerts == set(), "tests of alerts that do not exist"


def test_every_alert_says_how_grave_it_is_and_what_to_do() -> None:
    for name, rule in _alerts().items():
        assert name.startswith("Fillcapture"), name
        assert rule["labels"]["severity"] in SEVERITIES, name
        annotations = rule["annotations"]
        assert annotations["summary"].strip(), name
        # What to do: each description names a command to run.
        assert any(command in annotations["description"] for command in (
            "fillcapture ", "journalctl", "systemctl", "df -h")), name


def test_a_rule_broken_on_purpose_fails_its_unit_tests(tmp_path: Path) -> None:
    # The unit tests can fail: the same tests against a rule whose threshold moved.
    rules = RULES.read_text()
    broken = rules.replace("expr: fillcapture_gaps_open > 0", "expr: fillcapture_gaps_open > 1")
    assert broken != rules
    (tmp_path / RULES.name).write_text(broken)
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    tested = _promtool("test", "rules", str(tmp_path / RULE_TESTS.name))
    assert tested.returncode != 0
    assert "FillcaptureUnrecoverableGap" in tested.stdout + tested.stderr
