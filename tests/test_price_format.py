"""``[t4] price_format``: sent at every login, recorded in the store with the
session, shown by ``fillcapture status``, and a change of it is called out."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Proc, SimProc, daemon_config, run_cli_here, stored_rows, wait_until


def test_the_price_format_is_sent_recorded_and_shown(
    tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
) -> None:
    sim = start_sim("--rate", "100")
    config = daemon_config(tmp_path, sim, api_key="sim-api-key", price_format="real")
    daemon = start_daemon(config)
    wait_until(lambda: len(stored_rows(tmp_path / "fills.db")) > 0, 30, "fills stored")
    running = json.loads(run_cli_here(config, "status", "--json").stdout)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0

    (me,) = running["daemons"]
    assert me["price_format"] == "real"
    assert me["price_format_since"] is not None
    logins = sim.events("sim.session.login")
    # An API key login: the key and the price format, nothing else.
    assert [(e["fields"], e["price_format"]) for e in logins] == [
        (["api_key", "price_format"], "PRICE_FORMAT_REAL")]
    assert "sim-api-key" not in daemon.stdout + daemon.stderr

    # The next run asks for another format: recorded anew, and said out loud.
    config = daemon_config(tmp_path, sim, price_format="clearing_decimal")
    again = start_daemon(config, name="daemon-again")
    wait_until(lambda: json.loads(run_cli_here(config, "status", "--json").stdout)["daemons"][0]
               ["price_format"] == "clearing_decimal", 30, "the new price format recorded")
    again.signal(signal.SIGTERM)
    assert again.wait() == 0
    changed = again.events("feed.price_format_changed")
    assert [(e["previous"], e["now"]) for e in changed] == [("real", "clearing_decimal")]
    assert sim.events("sim.session.login")[-1]["price_format"] == \
        "PRICE_FORMAT_CLEARING_DECIMAL"
    text = run_cli_here(config, "status").stdout
    assert "price format: clearing_decimal (since " in text
