"""Message shapes the official v1 schema allows, end to end: a real simulator
process sending them, a real daemon process, a real SQLite file."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from fillcapture import status
from fillcapture.config import Settings, StoreSettings, T4Settings
from fillcapture.daemon import Daemon
from fillcapture.feeds.t4.decode import Decoder
from fillcapture.feeds.t4.proto import orderrouting_pb2, service_pb2
from fillcapture.feeds.t4.session import T4Feed
from fillcapture.metrics import Metrics
from fillcapture.model import VisibleAccount
from fillcapture.sim import SimConfig
from fillcapture.sim.ledger import read_corrupt
from fillcapture.store import Owner, Store, open_store
from tests.conftest import (
    Proc,
    SimProc,
    daemon_config,
    ledger_rows,
    run_cli,
    stored_rows,
    wait_until,
    write_config,
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
    # Live-only shapes (corrupt copies) are made only for a subscribed
    # client: the fills wait for the daemon, however slowly it starts.
    sim = start_sim("--rate", "2000", "--max-fills", str(fills), "--wait-for-subscriber", *flags)
    daemon = start_daemon(daemon_config(tmp_path, sim))
    db = tmp_path / "fills.db"
    sim.wait_for("sim.generator.done", 90, stream="stderr")
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
                await ws.send(_login_ok(("acc-1", "11111")))
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
    owners = [Owner("A", None, "11111"), Owner("B", None, "22222")]
    async with _daemon(tmp_path, session, owners) as (daemon, store):
        async with asyncio.timeout(20):
            while len(await store.quarantined(open_only=False)) < 2 \
                    or await store.quarantined():
                await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # the second copies land
    metrics = daemon.metrics
    async with open_store(f"sqlite:///{db}") as store:
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


def test_registry_entries_by_code_or_account_id_own_the_account(
    tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
) -> None:
    # Onboarding registers an account by its code and by T4's id; fills are
    # stored under the number the fill user sees, and the read side finds them.
    guid = SimConfig().account_id("33333")
    sim = start_sim("--rate", "2000", "--max-fills", "2000", "--seed", "24", "--account-codes")
    users = [{"name": "A", "accounts": ["11111", "C22222"]},
             {"name": "B", "accounts": [guid.upper(), "44444"]}]
    daemon = start_daemon(daemon_config(tmp_path, sim, users=users))
    db = tmp_path / "fills.db"
    sim.wait_for("sim.generator.done", 90, stream="stderr")
    expected = sorted(ledger_rows(sim.ledger(), OWNED), key=repr)
    wait_until(lambda: sorted(stored_rows(db), key=repr) == expected, 120,
               "the store to equal the owned ledger")
    listed = run_cli(tmp_path / "fillcapture.toml", "fills", "--user", "A", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    accounts = {row["account"] for row in json.loads(listed.stdout)}
    assert accounts == {"11111", "22222"}
    listed = run_cli(tmp_path / "fillcapture.toml", "fills", "--user", "B", "--format", "json")
    assert {row["account"] for row in json.loads(listed.stdout)} == {"33333", "44444"}
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    events = [json.loads(line) for line in daemon.stderr.splitlines() if line.startswith("{")]
    # Resolved, an entry by code or id is not an invisible account.
    assert not [e for e in events if e.get("event") == "ownership.account_invisible"]


async def test_an_account_number_contradicted_is_an_error_never_a_re_attribution(
    tmp_path: Path,
) -> None:
    async def session(ws: ServerConnection) -> None:
        async for frame in ws:
            kind = service_pb2.ClientMessage.FromString(frame).WhichOneof("payload")
            if kind == "login_request":
                await ws.send(_login_ok(("acc-1", "11111"), ("acc-2", "22222")))
            elif kind == "account_subscribe":
                order = service_pb2.ServerMessage()
                update = order.order_update_multi.updates.add().order_update
                update.unique_id, update.account_id = "o2", "acc-2"
                update.account_number = "11111"  # acc-1's number, on acc-2
                update.buy_sell = orderrouting_pb2.BUY_SELL_BUY
                await ws.send(order.SerializeToString())
                await ws.send(_late_trade("X1"))

    db = tmp_path / "fills.db"
    owners = [Owner("A", None, "11111"), Owner("B", None, "22222")]
    async with _daemon(tmp_path, session, owners) as (daemon, store):
        async with asyncio.timeout(20):
            while not stored_rows(db):
                await asyncio.sleep(0.05)
    metrics = daemon.metrics
    async with open_store(f"sqlite:///{db}") as store:
        found = await status.collect(store)
    # The fill stays with acc-2's number; the contradiction is counted and shown.
    assert [row[1] for row in stored_rows(db)] == ["22222"]
    assert metrics["accounts.conflicts"] == 1
    (shown,) = found["daemons"]
    assert shown["account_conflicts"] == ["acc-2=11111 (id had 22222) (number on acc-1)"]
    assert "ACCOUNT CONFLICT: acc-2=11111" in status.render(found)


def _order_frame(*, change: int, trades: tuple[tuple[str, int], ...], total: int,
                 snapshot: bool = False) -> bytes:
    message = service_pb2.ServerMessage()
    multi = (message.account_snapshot.messages.add().order_update_multi if snapshot
             else message.order_update_multi)
    if snapshot:
        message.account_snapshot.account_id = "acc-1"
    multi.account_id, multi.market_id, multi.historical = "acc-1", "XCME_Eq ES (Z26)", snapshot
    order = multi.updates.add().order_update
    order.unique_id, order.account_number = "o5", "11111"
    order.buy_sell = orderrouting_pb2.BUY_SELL_BUY
    order.change = change  # type: ignore[assignment]
    order.total_fill_volume = total
    order.time.seconds = 1_763_900_100
    for trade_id, volume in trades:
        trade = order.trades.add(exchange_trade_id=trade_id, volume=volume)
        trade.price.value = "6000.00"
        trade.exchange_time.seconds = 1_763_900_000
    return message.SerializeToString()


async def test_a_bust_naming_no_trade_is_resolved_by_the_next_complete_snapshot(
    tmp_path: Path,
) -> None:
    """Two fills live; a bust of their order naming neither (kept as
    bust_unresolved); a reconnect's snapshot lists only T1 as the order's
    trades, adding up to its total: T2 is the busted one, and only T2."""
    sessions = 0

    async def session(ws: ServerConnection) -> None:
        nonlocal sessions
        sessions += 1
        async for frame in ws:
            kind = service_pb2.ClientMessage.FromString(frame).WhichOneof("payload")
            if kind == "login_request":
                await ws.send(_login_ok(("acc-1", "11111")))
            elif kind == "account_subscribe" and sessions == 1:
                await ws.send(_order_frame(change=orderrouting_pb2.ORDER_CHANGE_TRADE,
                                           trades=(("T1", 1), ("T2", 2)), total=3))
                await ws.send(_order_frame(change=orderrouting_pb2.ORDER_CHANGE_TRADE_BUSTED,
                                           trades=(), total=1))
                await asyncio.sleep(0.5)
                await ws.close()
            elif kind == "account_subscribe":
                await ws.send(_order_frame(change=orderrouting_pb2.ORDER_CHANGE_TRADE,
                                           trades=(("T1", 1),), total=1, snapshot=True))

    db = tmp_path / "fills.db"
    async with _daemon(tmp_path, session, [Owner("A", None, "11111")]) as (_, store):
        async with asyncio.timeout(20):
            while await store.count_busts() < 1:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
    async with open_store(f"sqlite:///{db}") as store:
        rows = await store.quarantined(open_only=False)
    assert sorted(stored_rows(db, busted=True)) == [
        ("SIMFIRM", "11111", "o5", "T1", None, "BUY", 1, "6000.00", False),
        ("SIMFIRM", "11111", "o5", "T2", None, "BUY", 2, "6000.00", True)]
    assert [(r.record.reason, r.resolution) for r in rows] == [("bust_unresolved", "busted")]


def test_quarantine_retry_stores_what_now_passes_exactly_once(tmp_path: Path) -> None:
    """Records quarantined as unknown_account by a daemon that has since
    stopped: once the account is on record, `fillcapture quarantine retry`
    stores their fills, once however often it runs."""
    db = tmp_path / "fills.db"
    config = write_config(tmp_path / "fillcapture.toml", {
        "store": {"url": f"sqlite:///{db}"},
        "users": [{"name": "B", "accounts": ["22222"]}]})

    async def keep() -> None:
        decoder = Decoder("SIMFIRM", Metrics())
        for trade_id in ("X1", "X2"):
            decoder.handle("order_update_multi",
                           service_pb2.ServerMessage.FromString(_late_trade(trade_id)), [], [], [])
        async with open_store(f"sqlite:///{db}") as store:
            assert await store.quarantine(decoder.quarantined) == 2

    asyncio.run(keep())
    before = run_cli(config, "quarantine", "retry")
    assert before.returncode == 0, before.stderr
    assert "0 now stored" in before.stdout
    assert "2 still quarantined" in before.stdout

    async def learn() -> None:
        async with open_store(f"sqlite:///{db}") as store:
            await store.save_accounts("SIMFIRM", [VisibleAccount("acc-2", "22222")])

    asyncio.run(learn())
    for _ in range(2):
        retried = run_cli(config, "quarantine", "retry")
        assert retried.returncode == 0, retried.stderr
    assert sorted(stored_rows(db)) == [
        ("SIMFIRM", "22222", "o2", "X1", None, None, 1, "6000.00"),
        ("SIMFIRM", "22222", "o2", "X2", None, None, 1, "6000.00")]
    listing = run_cli(config, "quarantine", "list", "--all", "--json")
    assert [row["resolution"] for row in json.loads(listing.stdout)] == ["stored", "stored"]
    assert json.loads(run_cli(config, "quarantine", "list", "--json").stdout) == []


@asynccontextmanager
async def _daemon(tmp_path: Path, session: Callable[[ServerConnection], Awaitable[None]],
                  owners: list[Owner]) -> AsyncIterator[tuple[Daemon, Store]]:
    """An in-process daemon logged in to ``session``, a scripted T4 server on a
    real loopback WebSocket, over a real SQLite file; stopped (drained and
    committed) when the block ends."""
    db = tmp_path / "fills.db"
    async with serve(session, "127.0.0.1", 0) as server, \
            open_store(f"sqlite:///{db}") as store:
        port = server.sockets[0].getsockname()[1]
        settings = Settings(
            t4=T4Settings(url=f"ws://127.0.0.1:{port}/v1", firm="SIMFIRM",
                          username="WhenTechFillUser", password="pw", app_license="x",
                          subscribe_all=True, reconnect_base=0.05, reconnect_cap=0.1),
            store=StoreSettings(url=f"sqlite:///{db}"),
        )
        await store.seed_registry(owners)
        daemon = Daemon(settings, store, Metrics())
        await daemon.load_registry()
        runner = asyncio.create_task(
            daemon.run(T4Feed(settings.t4, lambda: daemon.ownership, daemon.metrics)))
        try:
            yield daemon, store
        finally:
            daemon.stop()
            await runner


def _login_ok(*accounts: tuple[str, str]) -> bytes:
    """A scripted server's successful login response listing (id, number) accounts."""
    response = service_pb2.ServerMessage()
    response.login_response.firm = "SIMFIRM"
    for account_id, number in accounts:
        listed = response.login_response.accounts.add()
        listed.account_id, listed.account_number = account_id, number
    return response.SerializeToString()


def test_paced_fills_wait_for_the_first_subscription(
    tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
) -> None:
    sim = start_sim("--rate", "2000", "--max-fills", "200", "--wait-for-subscriber")
    time.sleep(1.0)  # at 2,000 a second all 200 would be made by now
    assert sim.ledger() == []
    start_daemon(daemon_config(tmp_path, sim))
    sim.wait_for("sim.generator.done", 60, stream="stderr")
    assert len(sim.ledger()) == 200
