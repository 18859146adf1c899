"""Point values from T4's market details: recorded by the daemon, used for currency P&L."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from fillcapture.sim.book import MARKETS
from tests.conftest import (
    Proc,
    SimProc,
    daemon_config,
    ledger_rows,
    run_cli,
    stored_rows,
    wait_until,
)

POINT_VALUES = {market.market_id: Decimal(market.point_value) for market in MARKETS}
ES = "XCME_Eq ES (Z26)"


def _cli(config: Path, *args: str) -> list[dict[str, str]]:
    result = run_cli(config, *args)
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, str]] = json.loads(result.stdout)
    return rows


def test_the_daemon_records_point_values_and_the_report_uses_them(
    tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
) -> None:
    # Preloaded fills reach the daemon in snapshots, the rest live: markets
    # are described both ways.
    sim = start_sim("--preload", "400", "--rate", "2000", "--max-fills", "2000", "--seed", "5")
    config = daemon_config(tmp_path, sim)
    daemon = start_daemon(config)
    db = tmp_path / "fills.db"
    wait_until(lambda: len(sim.ledger()) == 2400, 30, "the simulator to finish")
    expected = ledger_rows(sim.ledger(), {"11111", "22222", "33333", "44444"})
    wait_until(lambda: len(stored_rows(db)) >= len(expected), 30, "all owned fills stored")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0

    markets = _cli(config, "markets", "--json")
    traded = {fill.market_id for fill in sim.ledger()}
    assert {row["market_id"] for row in markets} == traded
    for row in markets:
        assert Decimal(row["point_value"]) == POINT_VALUES[row["market_id"]]
        assert row["market_id"].startswith(row["exchange_id"] + "_")

    rows = _cli(config, "report", "daily", "--user", "A", "--format", "json")
    closed = [row for row in rows if Decimal(row["pnl_points"]) != 0]
    assert len(closed) >= 3, "the simulated trading must realize some P&L"
    for row in rows:
        assert row["pnl_currency"] is not None
        assert Decimal(row["pnl_currency"]) == (
            Decimal(row["pnl_points"]) * POINT_VALUES[row["market_id"]])

    # A configured value overrides the recorded one, and --point-value both.
    overridden = tmp_path / "overridden.toml"
    overridden.write_text(config.read_text() + f'\n[api.point_values]\n"{ES}" = "7"\n')
    for args, value in (((), Decimal(7)), (("--point-value", f"{ES}=0.5"), Decimal("0.5"))):
        rows = _cli(overridden, "report", "daily", "--user", "A", "--format", "json", *args)
        es_rows = [row for row in rows if row["market_id"] == ES]
        assert es_rows
        for row in es_rows:
            assert Decimal(row["pnl_currency"]) == Decimal(row["pnl_points"]) * value
