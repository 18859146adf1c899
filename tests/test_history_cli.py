"""``fillcapture report daily`` and ``fillcapture export`` against real store files."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import pty
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fillcapture.fees import FeeSchedule
from fillcapture.model import LEG, Bust, Fill, Market, Side
from fillcapture.store import Owner
from tests.conftest import clean_env, store_at, write_config
from tests.conftest import run_cli_here as run_cli
from tests.store.factories import make_fill

ES = "XCME_Eq ES (Z26)"
CL = "XNYM_En CL (F27)"
DAY1, DAY2, DAY3 = date(2026, 11, 19), date(2026, 11, 20), date(2026, 11, 23)


def _fill(n: int, account: str, side: Side | None, volume: int, price: str, market: str,
          day: date, leg_index: int | None = None) -> Fill:
    when = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=14, seconds=n)
    # A leg here is pending: its spread's definition never came, so it has
    # the spread's market and no side of its own (the order's is ``side``).
    leg = {} if leg_index is None else {"kind": LEG, "order_side": side, "side": None}
    return make_fill(n, **{"account": account, "account_id": f"acc-{account}", "side": side,
                           "volume": volume, "price_text": price, "market_id": market,
                           "exchange_time": when, "trade_date": day,
                           "leg_index": leg_index} | leg)


# User A owns 11111; B owns 33333.
FILLS = [
    _fill(1, "11111", Side.BUY, 2, "6000.00", ES, DAY1),
    _fill(2, "11111", Side.BUY, 1, "-37.63", CL, DAY1),
    _fill(3, "33333", Side.SELL, 5, "6100.00", ES, DAY1),
    _fill(4, "11111", Side.SELL, 3, "6004.25", ES, DAY2),  # closes 2 (+8.50), opens 1 short
    _fill(5, "11111", Side.SELL, 1, "10.01", CL, DAY2),  # +47.64
    _fill(6, "11111", None, 1, "6003.00", ES, DAY2),  # unknown side
    _fill(7, "11111", Side.BUY, 1, "6001.00", ES, DAY3),  # covers the short: +3.25
    _fill(8, "11111", Side.BUY, 4, "6020.00", ES, DAY3),  # busted below
    _fill(9, "11111", Side.BUY, 1, "6002.00", ES, DAY3, leg_index=0),
]
BUSTED = FILLS[7]


def _store(tmp_path: Path) -> Path:
    config = write_config(tmp_path / "c.toml", {
        "store": {"url": f"sqlite:///{tmp_path / 'fills.db'}"},
        "users": [{"name": "A", "accounts": ["11111"]}, {"name": "B", "accounts": ["33333"]}],
        "money": {"currencies": {"CME_Eq": "USD"}},
    })

    async def fill() -> None:
        async with store_at(tmp_path / "fills.db") as store:
            await store.seed_registry([Owner("A", None, "11111"), Owner("B", None, "33333")])
            # ES is described (as T4's market details would); CL never was.
            await store.save_markets([Market(ES, "CME_Eq", "ES", Decimal(50))])
            await store.set_fee_schedule(FeeSchedule("commission", Decimal("1.25"), "USD",
                                                     date(2026, 1, 1), exchange="CME_Eq"))
            await store.insert_fills(FILLS)
            await store.insert_busts([Bust(BUSTED, BUSTED.exchange_time + timedelta(minutes=5))])

    asyncio.run(fill())
    return config


def _json(result: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


# --- report daily -------------------------------------------------------------


def test_report_daily_json_is_the_users_summary_with_decimals_as_strings(tmp_path: Path) -> None:
    config = _store(tmp_path)
    result = run_cli(config, "report", "daily", "--user", "A", "--format", "json",
                  "--point-value", f"{ES}=50")
    rows = _json(result)
    assert [(r["trade_date"], r["market_id"], r["pnl_points"], r["pnl_currency"],
             r["net_position"]) for r in rows] == [
        ("2026-11-19", ES, "0", "0", 2),
        ("2026-11-19", CL, "0", None, 1),
        ("2026-11-20", ES, "8.50", "425.00", -1),
        ("2026-11-20", CL, "47.64", None, 0),
        ("2026-11-23", ES, "3.25", "162.50", 0),
    ]
    es_day2 = rows[2]
    assert (es_day2["sells"], es_day2["sell_volume"], es_day2["sell_vwap"]) == (1, 3, "6004.25")
    assert (es_day2["buys"], es_day2["buy_vwap"], es_day2["unknown_side"]) == (0, None, 1)
    # The busted buy of 4 is gone; the leg fill is counted, not traded.
    es_day3 = rows[4]
    assert (es_day3["buy_volume"], es_day3["spread_legs"]) == (1, 1)
    assert "1 fill(s) of unknown side, 1 spread leg fill(s)" in result.stderr


def test_report_daily_gives_each_rows_currency_fees_and_net(tmp_path: Path) -> None:
    config = _store(tmp_path)
    result = run_cli(config, "report", "daily", "--user", "A", "--format", "json")
    rows = _json(result)
    assert [(r["trade_date"], r["market_id"], r["currency"], r["gross"], r["fee_commission"],
             r["fees"], r["net"], r["fees_unknown"]) for r in rows] == [
        ("2026-11-19", ES, "USD", "0", "2.50", "2.50", "-2.50", 0),
        # CL was never described: its currency, point value and exchange (so
        # its fees) are unknown, and it has no net.
        ("2026-11-19", CL, None, None, None, None, None, 1),
        # The fill of unknown side pays an unknown fee: no net for the day.
        ("2026-11-20", ES, "USD", "425.00", "3.75", "3.75", None, 1),
        ("2026-11-20", CL, None, None, None, None, None, 1),
        # The busted buy pays nothing; the pending leg's contract is unknown.
        ("2026-11-23", ES, "USD", "162.50", "1.25", "1.25", None, 1),
    ]
    lines = result.stderr.splitlines()
    assert lines[0] == ("fillcapture: total USD: gross 587.50, fees 7.50 (commission 7.50), "
                        "net -2.50 (2 row(s) without a net left out of it)")
    assert any(line.startswith("fillcapture: fees unknown for 4 fill(s)") and
               f"account 11111 (SIMFIRM) {CL}: 2" in line and
               f"account 11111 (SIMFIRM) {ES}: 2" in line for line in lines), lines
    assert "2 row(s) of markets of unknown currency are in no total" in result.stderr


def test_report_daily_from_still_matches_against_earlier_positions(tmp_path: Path) -> None:
    config = _store(tmp_path)
    rows = _json(run_cli(config, "report", "daily", "--user", "A", "--from", "2026-11-20",
                      "--to", "2026-11-20", "--format", "json"))
    # DAY2 closes lots opened on DAY1, at DAY1's prices.
    assert [(r["trade_date"], r["market_id"], r["pnl_points"]) for r in rows] == [
        ("2026-11-20", ES, "8.50"), ("2026-11-20", CL, "47.64")]


def test_report_daily_csv_and_table(tmp_path: Path) -> None:
    config = _store(tmp_path)
    result = run_cli(config, "report", "daily", "--user", "B", "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "fillcapture: total USD: gross 0, fees 6.25 (commission 6.25), " \
                            "net -6.25\n"
    (row,) = list(csv.DictReader(io.StringIO(result.stdout)))
    assert row == {
        "trade_date": "2026-11-19", "firm": "SIMFIRM", "account": "33333", "market_id": ES,
        "buys": "0", "buy_volume": "0", "buy_vwap": "", "sells": "1", "sell_volume": "5",
        "sell_vwap": "6100.00", "pnl_points": "0", "pnl_currency": "0", "net_position": "-5",
        "unknown_side": "0", "spread_legs": "0", "currency": "USD", "gross": "0",
        "fees": "6.25", "net": "-6.25", "fees_unknown": "0", "fee_commission": "6.25"}
    table = run_cli(config, "report", "daily", "--user", "B").stdout.splitlines()
    assert table[0].split() == ["trade_date", "firm", "account", "market_id", "buys",
                                "buy_volume", "buy_vwap", "sells", "sell_volume", "sell_vwap",
                                "pnl_points", "pnl_currency", "net_position", "unknown_side",
                                "spread_legs", "currency", "gross", "fees", "net",
                                "fees_unknown", "fee_commission"]
    assert "6100.00" in table[1]
    assert run_cli(config, "report", "daily", "--user", "nobody").stdout.strip().endswith("(none)")


def test_report_daily_refuses_a_bad_point_value_and_a_missing_store(tmp_path: Path) -> None:
    config = _store(tmp_path)
    bad = run_cli(config, "report", "daily", "--user", "A", "--point-value", f"{ES}=fifty")
    assert bad.returncode == 2
    assert "--point-value" in bad.stderr
    (tmp_path / "fills.db").unlink()
    missing = run_cli(config, "report", "daily", "--user", "A")
    assert missing.returncode == 1
    assert "no store" in missing.stderr


# --- export -------------------------------------------------------------------


def test_export_csv_is_the_fills_csv(tmp_path: Path) -> None:
    config = _store(tmp_path)
    out = tmp_path / "a.csv"
    result = run_cli(config, "export", "--format", "csv", "--out", str(out), "--user", "A",
                  "--since", "2026-11-20")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"5 fills written to {out}\n"
    assert result.stderr == ""  # no progress bar off a terminal
    assert out.read_text() == run_cli(config, "fills", "--user", "A", "--since", "2026-11-20",
                                   "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["order_id"], r["side"], r["price"], r["leg_index"], r["kind"])
            for r in rows] == [
        ("order-4", "SELL", "6004.25", "", "outright"),
        ("order-5", "SELL", "10.01", "", "outright"),
        ("order-6", "", "6003.00", "", "outright"),
        ("order-7", "BUY", "6001.00", "", "outright"),
        ("order-9", "", "6002.00", "0", "pending_leg")]
    assert not list(tmp_path.glob("*.partial"))


def test_export_parquet_round_trips_exact_types(tmp_path: Path) -> None:
    config = _store(tmp_path)
    out = tmp_path / "a.parquet"
    result = run_cli(config, "export", "--format", "parquet", "--out", str(out),
                  "--include-busted")
    assert result.returncode == 0, result.stderr
    table = pq.read_table(out)
    assert table.schema.field("price").type == pa.decimal128(38, 18)
    assert table.schema.field("exchange_time").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("trade_date").type == pa.date32()
    assert table.schema.field("busted").type == pa.bool_()
    rows = table.to_pylist()
    assert len(rows) == len(FILLS)
    by_order = {row["order_id"]: row for row in rows}
    for fill in FILLS:
        row = by_order[fill.order_id]
        assert row["price"] == Decimal(fill.price_text)
        assert row["exchange_time"] == fill.exchange_time
        assert row["trade_date"] == fill.trade_date
        assert row["side"] == (fill.side.value if fill.side else None)
        assert row["leg_index"] == fill.leg_index
        assert row["busted"] == (fill is BUSTED)
        assert row["user"] == ("B" if fill.account == "33333" else "A")
    assert [row["order_id"] for row in rows] == [f"order-{n}" for n in range(1, 10)]


def test_export_shows_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    config = _store(tmp_path)
    primary, secondary = pty.openpty()
    with os.fdopen(primary, "rb", buffering=0) as terminal:
        result = subprocess.run(
            [sys.executable, "-m", "fillcapture", "--config", str(config), "export",
             "--format", "csv", "--out", str(tmp_path / "a.csv")],
            stdout=subprocess.PIPE, stderr=secondary, text=True, timeout=60,
            env=clean_env(TERM="xterm", COLUMNS="100"), check=False)
        os.close(secondary)
        shown = b""
        with contextlib.suppress(OSError):  # EIO once the terminal has no writer
            while chunk := terminal.read(4096):
                shown += chunk
    assert result.returncode == 0
    assert result.stdout.endswith("8 fills written to " + str(tmp_path / "a.csv") + "\n")
    assert b"exporting a.csv" in shown
    assert b"8 fills" in shown


def test_export_filters_like_fills(tmp_path: Path) -> None:
    config = _store(tmp_path)
    out = tmp_path / "b.parquet"
    assert run_cli(config, "export", "--format", "parquet", "--out", str(out), "--account",
                "11111", "--until", "2026-11-20").returncode == 0
    assert pq.read_table(out).column("order_id").to_pylist() == [
        "order-1", "order-2", "order-4", "order-5", "order-6"]


def test_export_to_an_unwritable_place_fails_cleanly(tmp_path: Path) -> None:
    config = _store(tmp_path)
    result = run_cli(config, "export", "--format", "csv", "--out", str(tmp_path / "no" / "a.csv"))
    assert result.returncode == 1
    assert result.stderr.startswith(f"fillcapture: cannot write {tmp_path / 'no' / 'a.csv'}: ")



# --- constant memory ----------------------------------------------------------

HALF = 100_000

# Runs one export in a fresh process and prints its resident memory before the
# export (libraries loaded) and its peak: the growth is what the export held.
_MEASURE = """
import resource, sys
import pyarrow.parquet, rich.progress
import fillcapture.exports, fillcapture.store
from fillcapture.cli import run_cli

def rss_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

before = rss_kib()
code = run_cli(["--config", *sys.argv[1:]])
print(code, before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of 200,000 fills, half of them on the first trade date."""
    root = tmp_path_factory.mktemp("many")
    config = write_config(root / "c.toml", {"store": {"url": f"sqlite:///{root / 'fills.db'}"}})

    async def fill() -> None:
        async with store_at(root / "fills.db") as store:
            for start in range(0, 2 * HALF, 40_000):
                await store.insert_fills([
                    make_fill(n, price_text=f"{6000 + n % 400 / 4:.2f}",
                              side=Side.BUY if n % 2 else Side.SELL,
                              trade_date=DAY1 if n < HALF else DAY2)
                    for n in range(start, start + 40_000)])

    asyncio.run(fill())
    return config


def _growth_mib(config: Path, *args: str) -> float:
    result = subprocess.run([sys.executable, "-c", _MEASURE, str(config), "export", *args],
                            capture_output=True, text=True, timeout=60, env=clean_env(),
                            check=False)
    assert result.returncode == 0, result.stderr
    code, before, peak = map(int, result.stdout.split()[-3:])
    assert code == 0
    return (peak - before) / 1024


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_memory_does_not_grow_with_the_fills(many: Path, fmt: str) -> None:
    out = many.parent / f"many.{fmt}"
    half = _growth_mib(many, "--format", fmt, "--out", str(out), "--until", DAY1.isoformat())
    whole = _growth_mib(many, "--format", fmt, "--out", str(out))
    print(f"{fmt}: resident memory grew {half:.1f} MiB for {HALF} fills, "
          f"{whole:.1f} MiB for {2 * HALF}")
    # The export of twice the fills needs no more memory: a fixed part is
    # SQLite sorting for ORDER BY (in memory up to a limit, then in temporary
    # files), a row group for Parquet. Holding 100,000 more fills would take
    # about 70 MiB more.
    assert whole - half < 16
    rows = (pq.ParquetFile(out).metadata.num_rows if fmt == "parquet"
            else out.read_text().count("\n") - 1)
    assert rows == 2 * HALF
