"""The MQTT publisher end to end: a simulator process, a daemon process with
``[mqtt]``, a real Mosquitto and a real subscriber; the store, of each engine,
is the measure.

Each test ends with the subscriber holding, after de-duplication by
``fill_id``, exactly the store's fills and busts, each account's fills first
seen in the order they were committed.
"""

from __future__ import annotations

import signal
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fillcapture.publish.schema import fill_id
from fillcapture.store import FillQuery, OutboxCursor, Store
from tests.conftest import (
    Mosquitto,
    Proc,
    SimProc,
    daemon_config,
    ledger_rows,
    read_store,
    stored_count,
    stored_rows,
    toml_value,
    wait_until,
)
from tests.publish.subscriber import Subscriber
from tests.scrape import metrics_port, scrape, value

OWNED = {"11111", "22222", "33333", "44444"}


@pytest.fixture
def subscriber(mosquitto: Mosquitto) -> Iterator[Subscriber]:
    sub = Subscriber(mosquitto.port)
    yield sub
    sub.close()


def mqtt_config(tmp_path: Path, sim: SimProc, broker: Mosquitto, store_url: str,
                **mqtt: Any) -> Path:
    """``daemon_config`` with an ``[mqtt]`` section publishing to ``broker``;
    quick reconnects, as a broker on the same machine allows."""
    path = daemon_config(tmp_path, sim, store_url=store_url)
    section = {"enabled": True, "host": "127.0.0.1", "port": broker.port,
               "reconnect_base": 0.2, "reconnect_cap": 1.0, "resume_delay": 1.0} | mqtt
    lines = ["[mqtt]", *(f"{key} = {toml_value(value)}" for key, value in section.items())]
    path.write_text(path.read_text() + "\n".join(lines) + "\n")
    return path


def store_order(db: str) -> list[tuple[str, str]]:
    """(account, fill_id) of every stored fill, in commit order: the store's
    outbox read from its start by a reader of its own."""

    async def read(store: Store) -> list[tuple[str, str]]:
        order: list[tuple[str, str]] = []
        cursor = OutboxCursor()
        while True:
            batch = await store.outbox_batch(cursor, 5000)
            if not batch.fills and not batch.busts:
                return order
            order += [(f.account, fill_id(f.firm, f.order_id, f.trade_key, f.leg_index))
                      for f in batch.fills]
            cursor = batch.cursor

    return read_store(db, read)


def store_busts(db: str) -> set[str]:
    """The fill_id of every busted stored fill."""

    async def read(store: Store) -> set[str]:
        return {fill_id(f.firm, f.order_id, f.trade_key, f.leg_index)
                async for f in store.fills(FillQuery(include_busted=True)) if f.busted}

    return read_store(db, read)


def published(daemon_config_path: Path) -> float:
    """``fillcapture_mqtt_published_total`` from the running daemon's /metrics."""
    listen = next(line.split('"')[1] for line in daemon_config_path.read_text().splitlines()
                  if line.startswith("listen ="))
    text = httpx.get(f"http://{listen}/metrics", timeout=5).text
    return float(next(line.split()[1] for line in text.splitlines()
                      if line.startswith("fillcapture_mqtt_published_total ")))


def all_delivered(sub: Subscriber, db: str) -> Callable[[], bool]:
    return lambda: stored_count(db) > 0 and sub.unique_fill_ids() == {
        fid for _, fid in store_order(db)}


def check_against_store(sub: Subscriber, db: str) -> None:
    """De-duplicated by fill_id, the subscriber has exactly the store's fills
    and busts; each account's fills were first seen in commit order."""
    fills = sub.fills()
    counts = Counter(message.fill_id for message in fills)
    unique = {message.fill_id: message for message in fills}
    received = sorted(((m.firm, m.account, m.order_id, m.exchange_trade_id, m.leg_index, m.side,
                        m.volume, m.price) for m in unique.values()), key=repr)
    assert received == sorted(stored_rows(db), key=repr)

    first_seen: dict[str, list[str]] = defaultdict(list)
    for fid in counts:  # a Counter keeps first-insertion order
        first_seen[unique[fid].account].append(fid)
    committed: dict[str, list[str]] = defaultdict(list)
    for account, fid in store_order(db):
        committed[account].append(fid)
    assert first_seen == committed

    assert {message.fill_id for message in sub.busts()} == store_busts(db)
    for message in unique.values():
        assert message.user == ("A" if message.account in {"11111", "22222"} else "B")
    print(f"stored={len(unique)} received={len(fills)} "
          f"duplicates={sum(c - 1 for c in counts.values())} busts={len(store_busts(db))} "
          f"bust_messages={len(sub.busts())}")


def test_every_fill_and_bust_reaches_a_subscriber(
    tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
    mosquitto: Mosquitto, subscriber: Subscriber, engine_store_url: str,
) -> None:
    sim = start_sim("--rate", "1000", "--max-fills", "1500", "--bust", "0.05",
                    "--spread", "0.2", "--seed", "3")
    config = mqtt_config(tmp_path, sim, mosquitto, engine_store_url)
    daemon = start_daemon(config)
    db = engine_store_url

    sim.wait_for("sim.generator.done", 30, stream="stderr")
    expected = ledger_rows(sim.ledger(), OWNED)
    wait_until(lambda: stored_count(db) >= len(expected), 30, "every owned fill stored")
    wait_until(all_delivered(subscriber, db), 30, "every stored fill published")
    wait_until(lambda: {m.fill_id for m in subscriber.busts()} == store_busts(db), 10,
               "every bust published")
    count = published(config)
    assert sorted(stored_rows(db), key=repr) == sorted(expected, key=repr)
    check_against_store(subscriber, db)
    print(f"published={count:.0f}")
    assert count >= len(expected) + len(store_busts(db))

    first = subscriber.of_kind("fills")[0]
    assert first.topic == f"fillcapture/fills/{first.json()['user']}/{first.json()['account']}"
    assert store_busts(db), "the simulator must have busted some fills"
    assert all(message.busted for message in subscriber.busts())
    assert subscriber.statuses()[0]["state"] == "online"

    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
    wait_until(lambda: subscriber.statuses()[-1]["state"] == "offline", 5, "status offline")
    late = Subscriber(mosquitto.port)  # the status is retained: a newcomer learns it
    try:
        wait_until(lambda: bool(late.statuses()), 5, "the retained status")
        assert late.statuses() == [subscriber.statuses()[-1]]
        assert late.messages[0].retain
    finally:
        late.close()


def test_broker_killed_for_five_seconds_mid_stream(
    tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
    mosquitto: Mosquitto, subscriber: Subscriber, engine_store_url: str,
) -> None:
    sim = start_sim("--rate", "600", "--max-fills", "4500", "--bust", "0.02", "--seed", "5")
    config = mqtt_config(tmp_path, sim, mosquitto, engine_store_url)
    start_daemon(config)
    db = engine_store_url

    wait_until(lambda: len(subscriber.unique_fill_ids()) > 300, 20, "publishing under way")
    mosquitto.kill()
    received_at_kill = len(subscriber.unique_fill_ids())
    stored_at_kill = stored_count(db)
    time.sleep(5)
    # Capture went on at full pace without the broker: it keeps up with the market.
    owned_now = len(ledger_rows(sim.ledger(), OWNED))
    stored_now = stored_count(db)
    assert stored_now - stored_at_kill > 1500
    assert owned_now - stored_now < 100
    # The oldest fill waiting was committed about when the broker died.
    lag = value(scrape(metrics_port(config)), "fillcapture_mqtt_publish_lag_seconds")
    assert 3.5 < lag < 30, lag
    mosquitto.start()

    sim.wait_for("sim.generator.done", 30, stream="stderr")
    expected = ledger_rows(sim.ledger(), OWNED)
    wait_until(lambda: stored_count(db) >= len(expected), 30, "every owned fill stored")
    wait_until(all_delivered(subscriber, db), 30, "every stored fill published")
    wait_until(lambda: {m.fill_id for m in subscriber.busts()} == store_busts(db), 10,
               "every bust published")
    print(f"received_at_kill={received_at_kill} stored_at_kill={stored_at_kill} "
          f"stored_before_restart={stored_now} published_since_restart={published(config):.0f}")
    check_against_store(subscriber, db)
    assert subscriber.connections >= 2
    wait_until(lambda: value(scrape(metrics_port(config)),
                             "fillcapture_mqtt_publish_lag_seconds") == 0, 10,
               "no fill left waiting")


def test_daemon_sigkilled_and_restarted(
    tmp_path: Path, start_sim: Callable[..., SimProc], start_daemon: Callable[..., Proc],
    mosquitto: Mosquitto, subscriber: Subscriber, engine_store_url: str,
) -> None:
    sim = start_sim("--rate", "300", "--max-fills", "2400", "--bust", "0.02", "--seed", "9")
    config = mqtt_config(tmp_path, sim, mosquitto, engine_store_url)
    db = engine_store_url

    first = start_daemon(config, name="daemon1")
    wait_until(lambda: len(subscriber.unique_fill_ids()) > 300, 20, "publishing under way")
    first.popen.kill()  # SIGKILL: no drain, no saved place, no goodbye
    assert first.wait() == -signal.SIGKILL
    wait_until(lambda: subscriber.statuses()[-1]["state"] == "offline", 5,
               "the broker to publish the last will")
    received_at_kill = len(subscriber.unique_fill_ids())
    time.sleep(1.5)  # the market goes on while the daemon is down

    second = start_daemon(config, name="daemon2")
    sim.wait_for("sim.generator.done", 30, stream="stderr")
    expected = ledger_rows(sim.ledger(), OWNED)
    wait_until(lambda: stored_count(db) >= len(expected), 30, "every owned fill stored")
    wait_until(all_delivered(subscriber, db), 30, "every stored fill published")
    wait_until(lambda: {m.fill_id for m in subscriber.busts()} == store_busts(db), 10,
               "every bust published")
    print(f"received_at_kill={received_at_kill} published_by_second={published(config):.0f}")
    check_against_store(subscriber, db)
    assert [s["state"] for s in subscriber.statuses()] == ["online", "offline", "online"]

    second.signal(signal.SIGTERM)
    assert second.wait() == 0
