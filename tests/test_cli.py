"""Operator commands against a real store file: fills output, users, the demo run."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import signal
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from fillcapture.model import LEG, Bust, Fill, Side
from fillcapture.store import Owner
from tests.conftest import (
    Proc,
    clean_env,
    free_port,
    store_at,
    stored_rows,
    wait_until,
    write_config,
)
from tests.conftest import (
    run_cli_here as run_cli,
)

FILLS = [
    Fill("SIMFIRM", "acc-1", "11111", "o1", "T1", 1, None, "XCME_FX 6E (Z26)", Side.BUY, 2,
         Decimal("1.08500"), "1.08500", datetime(2026, 11, 20, 14, 0, 0, 5, tzinfo=UTC),
         date(2026, 11, 20)),
    # A leg of a spread, placed on its own contract.
    Fill("SIMFIRM", "acc-1", "11111", "o2", "T2", 1, 1, "XCME_Eq ES (Z26)", Side.SELL, 1,
         Decimal("-0.25"), "-0.25", datetime(2026, 11, 23, 14, 0, tzinfo=UTC),
         date(2026, 11, 23), kind=LEG, spread_market_id="XCME_Eq ES (Z26-H27)", leg_sign=-1,
         order_side=Side.BUY),
    Fill("SIMFIRM", "acc-3", "33333", "o3", "T3", 1, None, "XNYM_En CL (F27)", Side.BUY, 4,
         Decimal("70.41"), "70.41", datetime(2026, 11, 23, 15, 0, tzinfo=UTC),
         date(2026, 11, 23)),
]


def _store(tmp_path: Path) -> Path:
    config = write_config(tmp_path / "c.toml", {
        "store": {"url": f"sqlite:///{tmp_path / 'fills.db'}"},
        "users": [{"name": "A", "accounts": ["11111"]}, {"name": "B", "accounts": ["33333"]}],
    })

    async def fill() -> None:
        async with store_at(tmp_path / "fills.db") as store:
            await store.seed_registry([Owner("A", None, "11111"), Owner("B", None, "33333")])
            await store.insert_fills(FILLS)

    asyncio.run(fill())
    return config


def test_fills_csv_has_the_contract_columns_and_exact_prices(tmp_path: Path) -> None:
    config = _store(tmp_path)
    result = run_cli(config, "fills", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == ["user", "firm", "account", "order_id", "exchange_trade_id",
                             "leg_index", "market_id", "side", "volume", "price",
                             "exchange_time", "trade_date", "busted", "kind"]
    assert [(r["user"], r["account"], r["price"], r["side"], r["leg_index"], r["kind"])
            for r in rows] == [
        ("A", "11111", "1.08500", "BUY", "", "outright"),
        ("A", "11111", "-0.25", "SELL", "1", "leg"),
        ("B", "33333", "70.41", "BUY", "", "outright"),
    ]
    assert rows[0]["exchange_time"] == "2026-11-20T14:00:00.000005Z"
    assert rows[0]["trade_date"] == "2026-11-20"
    assert rows[0]["busted"] == "false"


def test_fills_filters_by_user_account_and_trade_date(tmp_path: Path) -> None:
    config = _store(tmp_path)
    by_user = json.loads(run_cli(config, "fills", "--user", "B", "--format", "json").stdout)
    assert [f["order_id"] for f in by_user] == ["o3"]
    by_date = json.loads(
        run_cli(config, "fills", "--since", "2026-11-21", "--format", "json").stdout)
    assert [f["order_id"] for f in by_date] == ["o2", "o3"]
    until = json.loads(run_cli(config, "fills", "--account", "11111", "--until", "2026-11-20",
                            "--format", "json").stdout)
    assert [f["order_id"] for f in until] == ["o1"]
    assert until[0]["busted"] is False
    table = run_cli(config, "fills", "--user", "A").stdout
    assert "1.08500" in table
    assert "70.41" not in table


def test_busted_fills_show_only_with_include_busted(tmp_path: Path) -> None:
    config = _store(tmp_path)

    async def bust() -> None:
        async with store_at(tmp_path / "fills.db") as store:
            await store.insert_busts([Bust(FILLS[1], datetime(2026, 11, 23, 15, 0, tzinfo=UTC))])

    asyncio.run(bust())
    shown = list(csv.DictReader(io.StringIO(run_cli(config, "fills", "--format", "csv").stdout)))
    assert [r["order_id"] for r in shown] == ["o1", "o3"]
    every = list(csv.DictReader(io.StringIO(
        run_cli(config, "fills", "--include-busted", "--format", "csv").stdout)))
    assert [(r["order_id"], r["busted"]) for r in every] == [
        ("o1", "false"), ("o2", "true"), ("o3", "false")]


def test_users_add_list_remove(tmp_path: Path) -> None:
    config = _store(tmp_path)
    assert run_cli(config, "users", "add", "C", "--accounts", "55555,66666").returncode == 0
    listing = run_cli(config, "users", "list").stdout
    assert "55555, 66666" in listing
    taken = run_cli(config, "users", "add", "D", "--accounts", "11111")
    assert taken.returncode == 2  # A's: refused without --force
    assert "11111" in taken.stderr
    assert run_cli(config, "users", "remove", "C").returncode == 0
    assert "55555" not in run_cli(config, "users", "list").stdout
    assert run_cli(config, "users", "remove", "C").returncode == 1


def test_demo_run_stores_fills_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """What `make run` does in a fresh clone: no configuration, the built-in demo."""
    assert not Path("/etc/fillcapture/fillcapture.toml").exists(), "not a clean host"
    started = time.monotonic()
    demo = Proc(["run"], tmp_path, "demo",
                env=clean_env(FILLCAPTURE_METRICS__LISTEN=f"127.0.0.1:{free_port()}"))
    db = tmp_path / "var" / "fills.db"
    wait_until(lambda: len(stored_rows(db)) > 0, 30, "the demo to store a fill")
    print(f"first fill stored {time.monotonic() - started:.2f}s after start")
    demo.signal(signal.SIGINT)
    assert demo.wait() == 0
    accounts = {row[1] for row in stored_rows(db)}
    assert accounts <= {"11111", "22222", "33333", "44444"}


def test_a_command_on_a_missing_store_says_so_in_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path / "fillcapture.toml",
                          {"store": {"url": f"sqlite:///{tmp_path / 'none.db'}"}})
    for command in (("quarantine", "list"), ("markets",), ("gaps", "list")):
        result = run_cli(config, *command)
        assert result.returncode == 1, command
        assert result.stderr.strip().splitlines() == [
            f"fillcapture: {tmp_path / 'none.db'}: no such store"], command
    assert not (tmp_path / "none.db").exists()
