"""The whole path with real processes: ``fillcapture sim --onboarding`` (simulated T4 and its
Onboarding API), a ``fillcapture run`` daemon in Risk Manager mode, and ``fillcapture onboard``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Proc, SimProc, daemon_config, stored_rows, wait_until, write_config
from tests.onboarding.conftest import request, write_json

pytestmark = pytest.mark.timeout(60)

Onboard = Callable[..., tuple[int, str, str]]
API_URL = r"http://127\.0\.0\.1:\d+/onboarding"


def with_onboarding(config: Path, url: str, **keys: object) -> Path:
    """Add an ``[onboarding]`` section for the simulated API to a configuration file."""
    lines = [f'url = "{url}"', 'api_key = "sim-onboarding-key"', "backoff_base = 0.05"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in keys.items()]
    config.write_text(config.read_text() + "[onboarding]\n" + "\n".join(lines) + "\n")
    return config


def test_an_onboarded_account_is_registered_and_its_fills_captured(
        tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
        onboard: Onboard) -> None:
    sim = start_sim("--onboarding", "--onboarding-port", "0", "--rate", "60")
    url = sim.wait_for(API_URL)
    config = with_onboarding(daemon_config(tmp_path, sim, subscribe_all=True), url)
    daemon = start_daemon(config)
    # The store's schema exists once the feed is up; reading earlier can meet a bare file.
    daemon.wait_for(r"feed\.subscribed", stream="stderr")
    db = tmp_path / "fills.db"
    wait_until(lambda: any(r[1] == "11111" for r in stored_rows(db)), 20, "the daemon capturing")

    secret = "Pw-EndToEnd-3141"
    body = request("newcomer", "66666", password=secret)
    code, out, err = onboard(config, str(write_json(tmp_path / "c.json", body)), "--as-user", "C")
    assert code == 0, out + err
    assert "registered for WhenTech user C" in out
    assert "reminder:" not in out  # Risk Manager mode: no assignment needed

    def new_account_rows() -> list[tuple[object, ...]]:
        return [r for r in stored_rows(db) if r[1] == "66666"]

    wait_until(lambda: len(new_account_rows()) >= 3, 20, "fills of the onboarded account")
    daemon.wait_for(r"registry\.changed", stream="stderr")
    # The rows first: the simulator writes a fill to its ledger before it
    # sends it, so every row stored by now is in the ledger read after.
    stored = {(r[2], r[3], r[6], r[7]) for r in new_account_rows()}
    ledger = {(f.order_id, f.exchange_trade_id, f.volume, f.price)
              for f in sim.ledger() if f.account == "66666"}
    assert stored <= ledger
    # Risk Manager mode covers the whole firm: no "account invisible" warning.
    assert "ownership.account_invisible" not in daemon.stderr
    for text in (out, err, sim.stdout, sim.stderr, daemon.stdout, daemon.stderr):
        assert secret not in text
    assert secret.encode() not in db.read_bytes()


def test_the_sims_delay_hook_makes_a_retry_meet_its_own_user(
        tmp_path: Path, start_sim: Callable[..., SimProc], onboard: Onboard) -> None:
    sim = start_sim("--onboarding", "--onboarding-port", "0", "--rate", "0",
                    "--onboarding-delay", "1.5")
    url = sim.wait_for(API_URL)
    config = with_onboarding(write_config(tmp_path / "c.toml", {
        "store": {"url": f"sqlite:///{tmp_path / 'fills.db'}"}}), url, timeout=0.4)
    code, out, _ = onboard(config, str(write_json(tmp_path / "c.json", request())))
    assert code == 1
    assert "probably created by the earlier attempt — verify" in out
