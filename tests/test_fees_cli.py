"""``fillcapture fees`` end to end against a real store, and the daemon storing
``[[fees]]`` at start without overwriting what the command changed."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fillcapture.schedule import trade_date
from tests.conftest import Proc, run_cli, run_cli_here, wait_until, write_config


def _config(tmp_path: Path, **extra: Any) -> Path:
    return write_config(tmp_path / "fillcapture.toml", {
        "store": {"url": f"sqlite:///{tmp_path / 'fills.db'}"}, **extra})


def _listed(config: Path) -> list[dict[str, Any]]:
    result = run_cli_here(config, "fees", "list", "--json")
    assert result.returncode == 0, result.stderr
    found: list[dict[str, Any]] = json.loads(result.stdout)
    return found


def test_set_list_remove_end_to_end(tmp_path: Path) -> None:
    config = _config(tmp_path)
    today = trade_date(datetime.now(UTC)).isoformat()

    plain = run_cli(config, "fees", "set", "commission", "1.250", "USD")
    assert plain.returncode == 0, plain.stderr
    # From the current trade date: history is untouched, and nothing says otherwise.
    assert plain.stdout.splitlines() == [
        f"fee commission (every fill) from {today}: 1.250 USD per contract"]

    past = run_cli(config, "fees", "set", "exchange", "0.000001", "EUR", "--exchange", "EUREX",
                   "--contract", "FDAX", "--side", "sell", "--from", "2026-11-02")
    assert past.returncode == 0, past.stderr
    assert past.stdout.splitlines()[1:] == [
        "the summaries of trade dates from 2026-11-02 on now use it"]

    listed = _listed(config)
    assert [(f["component"], f["exchange"], f["contract"], f["side"], f["from"], f["amount"],
             f["currency"]) for f in listed] == [
        ("commission", None, None, None, today, "1.250", "USD"),
        ("exchange", "EUREX", "FDAX", "SELL", "2026-11-02", "0.000001", "EUR")]
    table = run_cli_here(config, "fees", "list")
    assert table.stdout.split("\n")[0].split() == ["component", "scope", "side", "from",
                                                   "amount", "currency"]
    assert "exchange EUREX, contract FDAX, side SELL  SELL  2026-11-02  0.000001  EUR" \
        in table.stdout

    again = run_cli_here(config, "fees", "set", "commission", "1.250", "USD")
    assert again.stdout.strip().endswith("(unchanged)")

    scope = ("--exchange", "EUREX", "--contract", "FDAX", "--side", "SELL")
    removed = run_cli(config, "fees", "remove", "exchange", "--from", "2026-11-02", *scope)
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.splitlines() == [
        "fee exchange (exchange EUREX, contract FDAX, side SELL) from 2026-11-02: removed",
        "the summaries of trade dates from 2026-11-02 on no longer use it"]
    gone = run_cli_here(config, "fees", "remove", "exchange", "--from", "2026-11-02", *scope)
    assert gone.returncode == 1
    assert gone.stderr.splitlines() == [
        "fillcapture: no fee schedule fee exchange (exchange EUREX, contract FDAX, "
        "side SELL) from 2026-11-02"]
    assert [f["component"] for f in _listed(config)] == ["commission"]


def test_bad_input_is_one_line_exit_2_and_stores_nothing(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert run_cli_here(config, "fees", "set", "nfa", "0.02", "USD").returncode == 0
    for args, says in [
        (("commission", "abc", "USD"), "fee amount 'abc': not a number"),
        (("commission", "-1", "USD"), "fee amount -1: must be at least 0"),
        (("commission", "NaN", "USD"), "fee amount NaN"),
        (("commission", "1", "usd"), "fee currency 'usd': three capital letters"),
        (("Commission", "1", "USD"), "fee component 'Commission'"),
        (("commission", "1", "USD", "--from", "2026-13-01"), "--from '2026-13-01': a date"),
        (("commission", "1", "USD", "--side", "both"), "--side 'both': BUY or SELL"),
        (("commission", "1", "USD", "--contract", "ES"), "name its exchange too"),
    ]:
        result = run_cli_here(config, "fees", "set", *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("fillcapture: ")
        assert says in lines[0], lines
    assert [f["component"] for f in _listed(config)] == ["nfa"]


def test_a_schedule_given_twice_in_the_file_is_refused(tmp_path: Path) -> None:
    config = _config(tmp_path, fees=[
        {"component": "commission", "amount": "1.25", "currency": "USD"},
        {"component": "exchange", "amount": "1.18", "currency": "USD", "exchange": "CME_Eq"},
        {"component": "commission", "amount": "0.95", "currency": "USD", "from": "1970-01-01"}])
    result = run_cli_here(config, "fees", "list", "--json")
    assert result.returncode == 2, (result.stdout, result.stderr)
    (line,) = result.stderr.splitlines()
    assert "fees[2]: the same schedule as fees[0] (commission, every fill, from 1970-01-01)" \
        in line, line


def test_the_daemon_stores_config_fees_at_start_and_never_overwrites(
        tmp_path: Path, start_daemon: Callable[..., Proc]) -> None:
    config = _config(
        tmp_path, feed={"adapter": "sim"}, users=[{"name": "A", "accounts": ["11111"]}],
        metrics={"enabled": False}, schedule={"enabled": False},
        log={"format": "json", "level": "info"},
        fees=[{"component": "commission", "amount": "1.25", "currency": "USD"},
              {"component": "exchange", "amount": "1.18", "currency": "USD",
               "exchange": "CME_Eq", "side": "BUY", "from": "2026-11-02"}])

    first = start_daemon(config, name="first")
    wait_until(lambda: bool(first.events("fees.seeded")), 30, "the daemon to store its fees")
    assert first.events("fees.seeded")[0]["added"] == 2
    first.stop()
    assert [(f["component"], f["exchange"], f["side"], f["from"], f["amount"])
            for f in _listed(config)] == [
        ("commission", None, None, "1970-01-01", "1.25"),
        ("exchange", "CME_Eq", "BUY", "2026-11-02", "1.18")]

    changed = run_cli_here(config, "fees", "set", "commission", "0.95", "USD",
                           "--from", "1970-01-01")
    assert changed.returncode == 0, changed.stderr
    second = start_daemon(config, name="second")
    wait_until(lambda: bool(second.events("fees.seeded")), 30, "the daemon to store its fees")
    assert second.events("fees.seeded")[0]["added"] == 0
    second.stop()
    assert [f["amount"] for f in _listed(config)] == ["0.95", "1.18"]

    # Removed from the store but not from the file: said, as it comes back.
    removed = run_cli_here(config, "fees", "remove", "exchange", "--exchange", "CME_Eq",
                           "--side", "BUY", "--from", "2026-11-02")
    assert removed.returncode == 0, removed.stderr
    assert removed.stderr.splitlines() == [
        "fillcapture: warning: it is still a [[fees]] entry of the configuration, so the "
        "daemon stores it again at its next start; remove it there too"]
    elsewhere = run_cli_here(config, "fees", "remove", "commission", "--from", "2026-01-05")
    assert elsewhere.returncode == 1  # no such schedule: no warning either
    assert "[[fees]]" not in elsewhere.stderr
