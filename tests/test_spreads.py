"""Spread legs on their own contracts, end to end: a real simulator process
trading calendar spreads and butterflies whose updates carry spread-level
trades as well as legs, and whose definitions come after their first fills; a
real daemon process; a real SQLite file; the report read by the CLI."""

from __future__ import annotations

import json
import signal
import sqlite3
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from fillcapture.sim.book import LEG_MARKETS, SPREADS
from fillcapture.sim.ledger import LedgerFill
from tests.conftest import Proc, SimProc, daemon_config, run_cli, wait_until

OWNED = {"11111", "22222", "33333", "44444"}
USER_A = {"11111", "22222"}
FILLS = 3000


def _stored(db: Path) -> list[tuple[Any, ...]]:
    """Each stored fill: identity, market, side, volume, price, bust flag, kind."""
    if not db.exists():
        return []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        try:
            return conn.execute(
                "SELECT firm, account, order_id, exchange_trade_id, "
                "CASE WHEN leg_index < 0 THEN NULL ELSE leg_index END, market_id, side, "
                "volume, price, busted_at IS NOT NULL, CASE kind WHEN 0 THEN 'outright' "
                "WHEN 2 THEN 'spread' WHEN 1 THEN CASE WHEN leg_sign IS NULL THEN 'pending_leg' "
                "ELSE 'leg' END END FROM fills").fetchall()
        except sqlite3.OperationalError as exc:
            if "no such" in str(exc):  # the daemon has not created (or migrated) its schema
                return []
            raise


def _ledger(ledger: list[LedgerFill]) -> list[tuple[Any, ...]]:
    return [(f.firm, f.account, f.order_id, f.exchange_trade_id, f.leg_index, f.market_id,
             f.side, f.volume, f.price, f.busted_at is not None, f.fill_kind)
            for f in ledger if f.account in OWNED]


@dataclass
class _Book:
    """A from-scratch FIFO book and day row of one (account, market)."""

    lots: deque[list[Any]] = field(default_factory=deque)  # [price, signed volume]
    buys: int = 0
    buy_volume: int = 0
    sells: int = 0
    sell_volume: int = 0
    pnl: Decimal = Decimal(0)

    def trade(self, side: str, volume: int, price: Decimal) -> None:
        sign = 1 if side == "BUY" else -1
        if sign > 0:
            self.buys += 1
            self.buy_volume += volume
        else:
            self.sells += 1
            self.sell_volume += volume
        while volume and self.lots and self.lots[0][1] * sign < 0:
            lot = self.lots[0]
            closed = min(volume, abs(lot[1]))
            # A sell closing a long realizes sell - buy; a buy closing a short, the same.
            self.pnl += ((price - lot[0]) if sign < 0 else (lot[0] - price)) * closed
            lot[1] += sign * closed
            volume -= closed
            if not lot[1]:
                self.lots.popleft()
        if volume:
            self.lots.append([price, sign * volume])

    @property
    def net(self) -> int:
        return sum(lot[1] for lot in self.lots)


def _store_order(db: Path) -> dict[tuple[Any, ...], tuple[int, int]]:
    """(exchange time, row id) by identity: the order the summary reads fills in."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT order_id, exchange_trade_id, leg_index, exchange_time, id "
                            "FROM fills").fetchall()
    return {(row[0], row[1], None if row[2] < 0 else row[2]): (row[3], row[4]) for row in rows}


def test_spread_legs_end_on_their_contracts_equal_to_the_ledger_and_the_report(
    tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
) -> None:
    sim = start_sim("--rate", "1000", "--max-fills", str(FILLS), "--seed", "31",
                    "--trade-date", "2026-11-23", "--spread", "0.3", "--spread-trades",
                    "--late-definitions", "--bust", "0.02", "--drop-every", "1")
    config = daemon_config(tmp_path, sim)
    daemon = start_daemon(config)
    db = tmp_path / "fills.db"
    sim.wait_for("sim.generator.done", 90, stream="stderr")
    ledger = sim.ledger()
    expected = sorted(_ledger(ledger), key=repr)
    wait_until(lambda: sorted(_stored(db), key=repr) == expected, 90,
               "the store to equal the owned ledger")
    stored = _stored(db)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0

    owned = [f for f in ledger if f.account in OWNED]
    kinds = defaultdict(int)
    for fill in owned:
        kinds[fill.fill_kind] += 1
    legs = {f.market_id for f in owned if f.fill_kind == "leg"}
    print(f"ledger={len(ledger)} owned={len(owned)} kinds={dict(kinds)} "
          f"busted={sum(1 for f in owned if f.busted_at)} leg_markets={sorted(legs)}")
    assert sorted(stored, key=repr) == expected
    assert kinds["leg"]
    assert kinds["spread"]
    assert kinds["outright"]
    # Legs on the leg-only contracts, and both directions of a leg.
    assert {market.market_id for market in LEG_MARKETS} <= legs
    assert {(f.market_id, f.side) for f in owned if f.fill_kind == "leg"} >= {
        (leg.market.market_id, side) for spread in SPREADS for leg in spread.legs
        for side in ("BUY", "SELL")}
    assert any(f.busted_at for f in owned if f.fill_kind == "leg")
    # Legs came before their spread's definition (stored pending, as the
    # store shows none now, placed when it came).
    events = [json.loads(line) for line in daemon.stderr.splitlines() if line.startswith("{")]
    waited = {e["market_id"] for e in events if e.get("event") == "spread.legs_pending"}
    assert waited == {spread.market_id for spread in SPREADS}
    assert sum(1 for e in events if e.get("event") == "feed.connecting") >= 2  # snapshots too

    # The spreads' legs as recorded.
    result = run_cli(config, "markets", "--json")
    assert result.returncode == 0, result.stderr
    recorded = {row["market_id"]: row["legs"] for row in json.loads(result.stdout)}
    for spread in SPREADS:
        assert recorded[spread.market_id] == [
            {"market_id": leg.market.market_id, "ratio": leg.ratio, "direction": leg.direction}
            for leg in spread.legs]
    for market in LEG_MARKETS:
        assert recorded[market.market_id] is None

    # The report: every row of A's equals a from-scratch FIFO over the
    # ledger's live fills of A, legs on their contracts, spread trades left out,
    # in the order the summary reads the store (exchange time, then row).
    result = run_cli(config, "report", "daily", "--user", "A", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = {(row["account"], row["market_id"]): row for row in json.loads(result.stdout)}
    where = _store_order(db)
    books: dict[tuple[str, str], _Book] = defaultdict(_Book)
    mine = [f for f in ledger if f.account in USER_A and f.busted_at is None
            and f.fill_kind != "spread"]
    for fill in sorted(mine, key=lambda f: where[(f.order_id, f.exchange_trade_id,
                                                   f.leg_index)]):
        books[(fill.account, fill.market_id)].trade(fill.side, fill.volume, Decimal(fill.price))
    # A's spread markets have no rows: their trades are the legs'.
    assert {key for key in rows} == set(books), "one row per account and contract traded"
    for key, book in books.items():
        row = rows[key]
        assert (row["buys"], row["buy_volume"], row["sells"], row["sell_volume"]) == (
            book.buys, book.buy_volume, book.sells, book.sell_volume), key
        assert Decimal(row["pnl_points"]) == book.pnl, key
        assert row["net_position"] == book.net, key
        assert (row["unknown_side"], row["spread_legs"]) == (0, 0), key
    leg_rows = [rows[key] for key in rows if key[1] in {m.market_id for m in LEG_MARKETS}]
    assert leg_rows
    assert any(Decimal(row["pnl_points"]) for row in leg_rows)
