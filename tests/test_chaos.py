"""A hostile trading session, end to end: the store must end equal to the owned ledger.

One simulator process trades six accounts (two unowned) with every fault it
has switched on: random socket drops, duplicated and reordered frames, busts,
spread legs, fills before their orders, junk frames. The daemon runs in Risk
Manager mode and is SIGKILLed twice mid-stream. At the end, the stored rows
(identity, side, volume, price, bust flag) must equal the simulator's ledger
of owned fills exactly, with no extra row.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from google.protobuf.message import DecodeError

from fillcapture.feeds.t4.proto import service_pb2
from fillcapture.sim.ledger import read_corrupt
from fillcapture.store import FillQuery, Store
from tests.conftest import (
    Proc,
    SimProc,
    daemon_config,
    ledger_rows,
    read_store,
    stored_count,
    stored_rows,
    wait_until,
)

OWNED = {"11111", "22222", "33333", "44444"}
ACCOUNTS = "11111,22222,33333,44444,55555,66666"
FILLS = 21_000


def _last_event(proc: Proc, name: str) -> dict[str, object]:
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    matching = [event for event in events if event.get("event") == name]
    assert matching, f"{name} not logged by {proc.name}"
    return matching[-1]


def _fills_in(raw: bytes) -> list[tuple[str, str]]:
    """(order id, exchange trade id) of the fill records in a quarantined message."""
    try:
        message = service_pb2.ServerMessage.FromString(raw)
    except DecodeError:
        return []
    kind = message.WhichOneof("payload")
    updates = [message] if kind != "order_update_multi" else list(
        message.order_update_multi.updates)
    found = []
    for update in updates:
        which = update.WhichOneof("payload")
        if which is None:
            continue
        record = getattr(update, which)
        if which == "order_update":
            found.extend((record.unique_id, t.exchange_trade_id)
                         for t in (*record.trades, *record.trade_legs))
        elif which in ("order_update_trade", "order_update_trade_leg"):
            found.append((record.unique_id, record.exchange_trade_id))
    return found


def _generated(sim: SimProc) -> int:
    return len(sim.ledger())


async def _markets_and_quarantine(store: Store) -> tuple[
        set[tuple[str, str, int, str]], list[tuple[str, bytes, datetime | None]]]:
    """(order id, exchange trade id, leg index or -1, market) of every stored
    fill; (kind, raw, resolved at) of every quarantined record."""
    markets = {(f.order_id, f.exchange_trade_id, -1 if f.leg_index is None else f.leg_index,
                f.market_id) async for f in store.fills(FillQuery(include_busted=True))}
    kept = [(row.record.kind, row.record.raw, row.resolved_at)
            for row in await store.quarantined(open_only=False)]
    return markets, kept


def test_chaos_session_with_two_sigkills_ends_equal_to_the_owned_ledger(
    tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
    engine_store_url: str,
) -> None:
    sim = start_sim(
        "--accounts", ACCOUNTS, "--rate", "1500", "--max-fills", str(FILLS), "--seed", "23",
        "--trade-date", "2026-11-23", "--drop-random", "2.5", "--duplicate", "0.03",
        "--reorder", "8", "--bust", "0.01", "--spread", "0.1", "--fill-before-order", "0.05",
        "--malformed", "0.01", "--account-codes", "--ids-on-block", "--busts-as-orders",
        "--corrupt", "0.01", "--trade-date-offset-ticks", "7", "--logged-in-elsewhere-after",
        "1.5", "--resubscribe-no-snapshot", "1", "--spread-trades", "--late-definitions",
        "--wait-for-subscriber",
    )
    # A session told it is logged in elsewhere waits elsewhere_delay: short here.
    config = daemon_config(tmp_path, sim, elsewhere_delay=0.5, store_url=engine_store_url)
    db = engine_store_url

    kills = []
    daemons = []
    for n, share in enumerate((0.3, 0.65), start=1):
        daemon = start_daemon(config, name=f"daemon{n}")
        daemons.append(daemon)
        wait_until(lambda s=share: _generated(sim) >= s * FILLS, 60, f"{share:.0%} generated")
        # Killed mid-capture, not before its login: on a loaded machine a
        # daemon may take longer to start than the market to reach the share.
        before = kills[-1] if kills else 0
        wait_until(lambda b=before: stored_count(db) > b, 60,
                   f"daemon{n} to store fills")
        daemon.popen.kill()  # SIGKILL: no drain, no goodbye
        assert daemon.wait() == -signal.SIGKILL
        kills.append(stored_count(db))
        time.sleep(1.0)  # the market goes on while the daemon is down
    last = start_daemon(config, name="daemon3")
    sim.wait_for("sim.generator.done", 90, stream="stderr")

    ledger = sim.ledger()
    expected = sorted(ledger_rows(ledger, OWNED, busted=True), key=repr)
    wait_until(lambda: stored_count(db) >= len(expected)
               and sorted(stored_rows(db, busted=True), key=repr) == expected, 90,
               "the store to equal the owned ledger")
    time.sleep(1.0)  # anything extra would land now
    stored = stored_rows(db, busted=True)
    last.signal(signal.SIGTERM)
    assert last.wait() == 0

    sim.stop()
    keys = Counter(row[:5] for row in stored)
    stats = _last_event(sim, "sim.server.stopped")
    stopped = _last_event(last, "daemon.stopped")
    owned = [fill for fill in ledger if fill.account in OWNED]
    print(
        f"ledger={len(ledger)} accounts={len({f.account for f in ledger})} owned={len(owned)} "
        f"unowned={len(ledger) - len(owned)} owned_busted={sum(1 for f in owned if f.busted_at)} "
        f"owned_legs={sum(1 for f in owned if f.leg_index is not None)} stored={len(stored)} "
        f"stored_at_kills={kills} duplicate_keys={sum(c - 1 for c in keys.values())} "
        f"last_daemon={ {k: v for k, v in stopped.items() if k not in ('event', 'level')} } "
        f"sim={ {k: v for k, v in stats.items() if k not in ('event', 'level')} }"
    )
    assert len(kills) == 2
    assert kills[0] < kills[1] < len(owned)
    assert max(keys.values()) == 1
    assert sum(1 for f in owned if f.busted_at) > 0
    assert sum(1 for f in owned if f.leg_index is not None) > 0
    assert len({f.account for f in ledger} - OWNED) >= 2
    assert sorted(stored, key=repr) == expected
    assert int(str(stopped["malformed"])) > 0
    # Each fill on its own market: a leg on its leg's contract, not the spread's.
    markets, kept = read_store(db, _markets_and_quarantine)
    assert markets == {(f.order_id, f.exchange_trade_id,
                        -1 if f.leg_index is None else f.leg_index, f.market_id)
                       for f in owned}
    assert sum(1 for f in owned if f.fill_kind == "leg") > 0
    # The quarantine: exactly the owned corrupt records the simulator put in
    # good frames, plus its junk (frames that do not decode, defective copies
    # of real fills, made-up "sim-junk" fills); none of it a fill that could
    # have been stored, since every owned ledger fill is stored above.
    corrupt = sorted((o, t) for number, o, t in read_corrupt(sim.ledger_path)
                     if number in OWNED)
    records = [(kind, _fills_in(raw)) for kind, raw, _ in kept]
    found = sorted((o, t) for kind, fills in records for o, t in fills if t.endswith("-corrupt"))
    print(f"quarantined={len(kept)} corrupt_sent_owned={len(corrupt)} "
          f"whole_frames={sum(1 for kind, _ in records if kind == 'frame')}")
    # Corrupt records are live-only (no snapshot repeats them): those sent
    # while the daemon was killed or its socket dropping never arrived. The
    # no-fault run of tests/test_shapes.py checks they all do otherwise.
    assert corrupt
    assert len(found) == len(set(found))
    assert set(found) <= set(corrupt)
    assert len(found) >= len(corrupt) // 2
    ledger_ids = {(f.order_id, f.exchange_trade_id) for f in ledger}
    for kind, fills in records:
        for order_id, trade_id in fills:
            assert trade_id.endswith("-corrupt") or trade_id == "sim-junk" \
                or (order_id, trade_id) in ledger_ids or order_id == "", (kind, trade_id)
    assert all(resolved is None for _, _, resolved in kept)
    # Sessions told they were logged in elsewhere, and trade dates off
    # midnight, were among the faults, and changed nothing of the above.
    logs = "".join(proc.stderr for proc in (*daemons, last))
    assert "feed.logged_in_elsewhere" in logs
    assert "fill.trade_date_suspect" in logs
