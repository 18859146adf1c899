"""Message shapes the official v1 schema allows, end to end: a real simulator
process sending them, a real daemon process, a real SQLite file."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from fillcapture.config import Settings, StoreSettings, T4Settings
from fillcapture.feeds.t4.proto import orderrouting_pb2, service_pb2
from fillcapture.feeds.t4.session import T4Feed
from fillcapture.metrics import Metrics
from fillcapture.service import Daemon
from fillcapture.sim.ledger import read_corrupt
from fillcapture.store import Owner, open_store
from tests.conftest import (
    Proc,
    SimProc,
    daemon_config,
    ledger_rows,
    run_cli,
    stored_rows,
    wait_until,
)

OWNED = {"11111", "22222", "33333", "44444"}


def _quarantine(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(
            "SELECT reason, account, order_id, kind, raw, resolution FROM quarantine "
            "ORDER BY id").fetchall()


def _trade_ids(raw: bytes) -> list[str]:
    """The exchange trade ids of the fill records a quarantined message holds."""
    message = service_pb2.ServerMessage.FromString(raw)
    ids = []
    for update in message.order_update_multi.updates:
        kind = update.WhichOneof("payload")
        record = getattr(update, kind or "order_update")
        if kind == "order_update":
            ids.extend(t.exchange_trade_id for t in record.trades)
        else:
            ids.append(record.exchange_trade_id)
    return ids


def _capture(tmp_path: Path, start_sim: Callable[..., SimProc],
             start_daemon: Callable[..., Proc], fills: int, *flags: str
             ) -> tuple[SimProc, Path, Proc]:
    sim = start_sim("--rate", "2000", "--max-fills", str(fills), *flags)
    daemon = start_daemon(daemon_config(tmp_path, sim))
    db = tmp_path / "fills.db"
    # Done generating, not just `fills` ledger entries: a spread fill is one
    # entry per leg, so the ledger passes `fills` before its last fills are made.
    sim.wait_for("sim.generator.done", 60, stream="stderr")
    expected = ledger_rows(sim.ledger(), OWNED, busted=True)
    wait_until(lambda: sorted(stored_rows(db, busted=True), key=repr)
               == sorted(expected, key=repr), 120, "the store to equal the owned ledger")
    time.sleep(0.5)  # anything extra would land now
    assert sorted(stored_rows(db, busted=True), key=repr) == sorted(expected, key=repr)
    return sim, db, daemon


def test_shapes_of_the_schema_end_with_the_owned_ledger_and_corrupt_records_kept(
    tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
) -> None:
    sim, db, daemon = _capture(
        tmp_path, start_sim, start_daemon, 4000, "--seed", "21", "--account-codes",
        "--ids-on-block", "--busts-as-orders", "--bust", "0.05", "--corrupt", "0.05")
    busted = [f for f in sim.ledger() if f.busted_at is not None and f.account in OWNED]
    corrupt = read_corrupt(sim.ledger_path)
    owned_corrupt = sorted((o, t) for number, o, t in corrupt if number in OWNED)
    kept = _quarantine(db)
    print(f"ledger={len(sim.ledger())} owned busts={len(busted)} corrupt sent={len(corrupt)} "
          f"owned={len(owned_corrupt)} quarantined={len(kept)}")
    assert busted
    assert owned_corrupt
    assert len(corrupt) > len(owned_corrupt)
    # Exactly the owned corrupt records, each once, and none a fill that
    # could have been stored (their trade ids are not the ledger's).
    assert sorted((row[2], tid) for row in kept for tid in _trade_ids(row[4])) == owned_corrupt
    assert {row[0] for row in kept} == {"invalid_price"}
    assert {row[1] for row in kept} <= OWNED  # attributed by id, to the account's number
    ledger_ids = {f.exchange_trade_id for f in sim.ledger()}
    assert not ledger_ids & {t for _, t in owned_corrupt}

    listing = run_cli(tmp_path / "fillcapture.toml", "quarantine", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    assert len(json.loads(listing.stdout)) == len(kept)
    status = run_cli(tmp_path / "fillcapture.toml", "status", "--json")
    assert json.loads(status.stdout)["quarantine"] == {"invalid_price": len(kept)}
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    events = [json.loads(line) for line in daemon.stderr.splitlines() if line.startswith("{")]
    warned = [e for e in events if e.get("event") == "quarantine.kept"]
    # One warning per reason and account, not one per record.
    assert len(warned) == len({e["account_id"] for e in warned}) <= len(OWNED)


def test_top_level_updates_are_captured_as_before(
    tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
) -> None:
    _, db, daemon = _capture(tmp_path, start_sim, start_daemon, 2000, "--seed", "22",
                             "--top-level-updates", "--bust", "0.05", "--spread", "0.2")
    assert not _quarantine(db)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0


async def test_fills_of_an_account_not_known_yet_are_captured_once_it_is(
    tmp_path: Path,
) -> None:
    """A server (real WebSocket) sends fills of an account id the login did not
    list, then the account's order naming its number: the fills are
    quarantined, then stored by themselves, exactly once, and the quarantine
    rows resolved; a second copy of the fills changes nothing."""
    async def session(ws: ServerConnection) -> None:
        async for frame in ws:
            kind = service_pb2.ClientMessage.FromString(frame).WhichOneof("payload")
            if kind == "login_request":
                response = service_pb2.ServerMessage()
                response.login_response.firm = "SIMFIRM"
                listed = response.login_response.accounts.add()
                listed.account_id, listed.account_number = "acc-1", "11111"
                await ws.send(response.SerializeToString())
            elif kind == "account_subscribe":
                for trade_id in ("X1", "X2"):
                    await ws.send(_late_trade(trade_id))
                await asyncio.sleep(0.5)
                order = service_pb2.ServerMessage()
                update = order.order_update_multi.updates.add().order_update
                update.unique_id, update.account_id = "o2", "acc-2"
                update.account_number = "22222"
                update.market_id = "XCME_Eq ES (Z26)"
                update.buy_sell = orderrouting_pb2.BUY_SELL_SELL
                await ws.send(order.SerializeToString())
                await asyncio.sleep(0.5)
                for trade_id in ("X1", "X2"):
                    await ws.send(_late_trade(trade_id))

    db = tmp_path / "fills.db"
    async with serve(session, "127.0.0.1", 0) as server, \
            open_store(f"sqlite:///{db}") as store:
        port = server.sockets[0].getsockname()[1]
        settings = Settings(
            t4=T4Settings(url=f"ws://127.0.0.1:{port}/v1", firm="SIMFIRM",
                          username="WhenTechFillUser", password="pw", app_license="x",
                          subscribe_all=True),
            store=StoreSettings(url=f"sqlite:///{db}"),
        )
        await store.seed_registry([Owner("A", None, "11111"), Owner("B", None, "22222")])
        metrics = Metrics()
        daemon = Daemon(settings, store, metrics)
        await daemon.load_registry()
        runner = asyncio.create_task(
            daemon.run(T4Feed(settings.t4, lambda: daemon.ownership, metrics)))
        async with asyncio.timeout(20):
            while len(await store.quarantined(open_only=False)) < 2 \
                    or await store.quarantined():
                await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # the second copies land
        daemon.stop()
        await runner
        rows = await store.quarantined(open_only=False)
    assert [(r.record.reason, r.resolution) for r in rows] == [
        ("unknown_account", "stored"), ("unknown_account", "stored")]
    stored = stored_rows(db)
    assert sorted(stored) == [
        ("SIMFIRM", "22222", "o2", "X1", None, "SELL", 1, "6000.00"),
        ("SIMFIRM", "22222", "o2", "X2", None, "SELL", 1, "6000.00")]
    assert metrics["quarantined.unknown_account"] == 2


def _late_trade(trade_id: str) -> bytes:
    message = service_pb2.ServerMessage()
    trade = message.order_update_multi.updates.add().order_update_trade
    trade.unique_id, trade.account_id = "o2", "acc-2"
    trade.market_id = "XCME_Eq ES (Z26)"
    trade.exchange_trade_id = trade_id
    trade.volume = 1
    trade.price.value = "6000.00"
    trade.exchange_time.seconds = 1_763_900_000
    return message.SerializeToString()
