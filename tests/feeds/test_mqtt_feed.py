"""The mqtt adapter against a real Mosquitto: events, the daemon's store behind
it, invalid messages, a broker outage, the persistent session, TLS, and a real
daemon process fed over MQTT."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest
from structlog.testing import capture_logs

from fillcapture.config import (
    ConfigError,
    FeedSettings,
    MqttFeedSettings,
    ScheduleSettings,
    Settings,
    StoreSettings,
    load_settings,
)
from fillcapture.daemon import Daemon
from fillcapture.feeds.base import load_adapter
from fillcapture.feeds.mqtt_feed import MqttFeed
from fillcapture.feedstatus import FeedStatus
from fillcapture.metrics import Metrics
from fillcapture.model import (
    BustsReceived,
    Connected,
    Disconnected,
    FeedEvent,
    FillsReceived,
    Subscribed,
)
from fillcapture.publish.schema import BustMessage, FillMessage, fill_id
from fillcapture.store import Owner, open_store
from tests.conftest import FIXTURES, Mosquitto, Proc, free_port, store_at, stored_rows, write_config

FIRM = "SIMFIRM"
FILLS = "fillcapture/fills"
BUSTS = "fillcapture/busts"
DEAD = "fillcapture/dead"
TLS = FIXTURES / "mqtt_tls"


def fill_message(account: str, n: int, *, firm: str = FIRM, **changes: Any) -> dict[str, Any]:
    """A valid fill message as the publisher writes it, with ``changes`` applied."""
    order_id = f"ORD-{account}-{n}"
    message = FillMessage(
        fill_id=fill_id(firm, order_id, f"T{n}", None), firm=firm, user=None, account=account,
        account_id=f"ID{account}", order_id=order_id, exchange_trade_id=f"T{n}",
        sequence_order=n, market_id="CME_Eq_ES_Z26", side="BUY", volume=n,
        price=f"6012.{n:02d}", exchange_time=datetime(2026, 11, 23, 15, 0, n, tzinfo=UTC),
        trade_date=date(2026, 11, 23),
    )
    return message.model_dump(mode="json") | changes


def bust_message(account: str, n: int) -> dict[str, Any]:
    fields = fill_message(account, n) | {"busted_at": "2026-11-23T16:00:00Z"}
    return BustMessage.model_validate(fields).model_dump(mode="json")


def row(account: str, n: int, *, busted: bool = False) -> tuple[Any, ...]:
    """The ``stored_rows(db, busted=True)`` row of ``fill_message(account, n)``."""
    return (FIRM, account, f"ORD-{account}-{n}", f"T{n}", None, "BUY", n, f"6012.{n:02d}", busted)


def feed_settings(port: int, **extra: Any) -> MqttFeedSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1", "port": port, "client_id": "test-feed", "firm": FIRM,
        "reconnect_base": 0.05, "reconnect_cap": 0.2, "connect_timeout": 2,
    }
    return MqttFeedSettings.model_validate(values | extra)


async def until(predicate: Callable[[], bool], what: str, timeout: float = 10) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


@asynccontextmanager
async def publisher(broker: Mosquitto) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="test-publisher") as client:
        yield client


async def publish(client: aiomqtt.Client, topic: str, message: dict[str, Any] | bytes) -> None:
    payload = message if isinstance(message, bytes) else json.dumps(message).encode()
    await client.publish(topic, payload, qos=1)


@asynccontextmanager
async def daemon_on(tmp_path: Path, feed: MqttFeedSettings) -> AsyncIterator[Daemon]:
    """A daemon in-process, fed by the adapter the ``mqtt`` entry point names,
    storing into ``tmp_path/fills.db`` for user A's account 11111 (any firm)."""
    url = f"sqlite:///{tmp_path / 'fills.db'}"
    settings = Settings(feed=FeedSettings(adapter="mqtt"), mqtt_feed=feed,
                        store=StoreSettings(url=url), schedule=ScheduleSettings(enabled=False))
    async with open_store(url) as store:
        await store.seed_registry([Owner("A", None, "11111")])
        metrics = Metrics()
        daemon = Daemon(settings, store, metrics)
        daemon.visibility_grace = 0.05
        await daemon.load_registry()
        adapter = load_adapter("mqtt")(settings, lambda: daemon.ownership, metrics)
        runner = asyncio.create_task(daemon.run(adapter))
        await until(lambda: daemon.status.state == "subscribed" or runner.done(), "subscribed")
        try:
            yield daemon
        finally:
            daemon.stop()
            await runner


async def test_fills_and_busts_arrive_as_events_and_close_ends_them(
    mosquitto: Mosquitto,
) -> None:
    feed = MqttFeed(feed_settings(mosquitto.port), Metrics())
    events: list[FeedEvent] = []

    async def consume() -> None:
        async for event in feed.events():
            events.append(event)

    consumer = asyncio.create_task(consume())
    await until(lambda: any(isinstance(e, Subscribed) for e in events), "subscribed")
    async with publisher(mosquitto) as client:
        await publish(client, f"{FILLS}/A/11111", fill_message("11111", 1))
        await publish(client, f"{BUSTS}/A/11111", bust_message("11111", 1))
    await until(lambda: len(events) == 4, "a fill and a bust")
    await feed.close()
    await asyncio.wait_for(consumer, 5)  # close() ends events()

    connected, subscribed, fills, busts = events
    assert connected == Connected(FIRM, "test-feed", (), risk_manager=True, lists_accounts=False)
    assert subscribed == Subscribed(())
    assert isinstance(fills, FillsReceived)
    assert fills.fills == (FillMessage.model_validate(fill_message("11111", 1)).to_fill(),)
    assert isinstance(busts, BustsReceived)
    (bust,) = busts.busts
    assert bust.fill == fills.fills[0]
    assert bust.busted_at == datetime(2026, 11, 23, 16, 0, tzinfo=UTC)


async def test_the_daemon_stores_owned_fills_once_though_published_twice(
    tmp_path: Path, mosquitto: Mosquitto,
) -> None:
    with capture_logs() as logs:
        async with daemon_on(tmp_path, feed_settings(mosquitto.port)) as daemon, \
                publisher(mosquitto) as client:
            for _ in range(2):
                for n in (1, 2, 3):
                    await publish(client, f"{FILLS}/A/11111", fill_message("11111", n))
                    await publish(client, f"{FILLS}/-/55555", fill_message("55555", n))
                await publish(client, f"{BUSTS}/A/11111", bust_message("11111", 2))
            # Account 11111 of another firm: the registry's firm-less entry would
            # take it, so the adapter, serving SIMFIRM, drops it first.
            await publish(client, f"{FILLS}/A/11111", fill_message("11111", 4, firm="OTHER"))
            metrics = daemon.metrics
            await until(lambda: metrics["fills.duplicate"] == 3
                        and metrics["fills.dropped_unowned"] == 6
                        and metrics["busts.received"] == 2
                        and metrics["mqtt_feed.other_firm"] == 1, "every message")
            status = daemon.status
            recorded = (await daemon.store.state())[FIRM]

    assert sorted(stored_rows(tmp_path / "fills.db", busted=True)) == [
        row("11111", 1), row("11111", 2, busted=True), row("11111", 3)]
    assert metrics["fills.captured"] == 3
    assert metrics["busts.recorded"] == 1
    # Visibility is unknown over MQTT: no owned account is called invisible.
    assert status.lists_accounts is False
    assert metrics["accounts.owned_invisible"] == 0
    assert not [e for e in logs if e["event"] == "ownership.account_invisible"]
    assert recorded["owned"] == "11111"
    assert recorded["invisible"] == ""  # what `fillcapture status` shows


async def test_a_broker_has_nothing_to_reconcile_and_its_days_are_never_verified(
    tmp_path: Path, mosquitto: Mosquitto,
) -> None:
    with capture_logs() as logs:
        async with daemon_on(tmp_path, feed_settings(mosquitto.port)) as daemon, \
                publisher(mosquitto) as client:
            await publish(client, f"{FILLS}/A/11111", fill_message("11111", 1))
            await until(lambda: daemon.metrics["fills.captured"] == 1, "the fill")
            operations = daemon.operations
            operations.clock = lambda: datetime(2026, 11, 23, 21, 55, tzinfo=UTC)  # 15:55 CT
            assert await operations.reconcile_job(settle=0) == {}
            record = operations.reconciled
            # So the "no reconcile verified" alert stays quiet for this feed.
            supported = daemon.metrics.gauges["reconcile.supported"]
            operations.clock = lambda: datetime(2026, 11, 23, 23, 5, tzinfo=UTC)  # 17:05 CT
            assert await operations.seal_job()
            unverified = daemon.metrics["reconcile.unverified"]
    async with store_at(tmp_path / "fills.db", readonly=True) as store:
        (day,) = await store.sealed_days()
    assert record is not None
    assert record.outcome.verified is False
    assert record.outcome.supported is False
    assert supported == 0
    assert [e["reason"] for e in logs if e["event"] == "reconcile.skipped"] == [
        "the MQTT feed has no snapshots"]
    assert day.trade_date == date(2026, 11, 23)
    assert day.verified is False
    assert day.reconciled_at is None
    assert day.unverified_reason == "the MQTT feed has no snapshots"
    # No snapshot: the certificate counts the store alone.
    assert [(c.account, c.snapshot, c.stored) for c in day.certificates] == [("11111", None, 1)]
    # Nothing failed: no error, nothing counted.
    assert not [e for e in logs if e["log_level"] == "error"]
    assert unverified == 0


BAD_MESSAGES: list[tuple[str, str, bytes]] = [
    ("not JSON", FILLS, b"fill 11111 BUY 3 @ 6012.25"),
    ("not UTF-8", FILLS, b"\xff\xfe{}"),
    ("not an object", FILLS, b"[1, 2, 3]"),
    ("wrong type", FILLS, json.dumps(fill_message("11111", 10, volume="3")).encode()),
    ("missing field", FILLS, json.dumps(
        {k: v for k, v in fill_message("11111", 11).items() if k != "order_id"}).encode()),
    ("negative volume", FILLS, json.dumps(fill_message("11111", 12, volume=-3)).encode()),
    ("bad price text", FILLS, json.dumps(fill_message("11111", 13, price="6e3")).encode()),
    ("naive time", FILLS, json.dumps(
        fill_message("11111", 14, exchange_time="2026-11-23T15:00:14")).encode()),
    ("beyond 64 bits", FILLS, json.dumps(
        fill_message("11111", 15, sequence_order=2**64)).encode()),
    ("beyond UTC", FILLS, json.dumps(
        fill_message("11111", 16, exchange_time="0001-01-01T00:00:00+05:00")).encode()),
    ("bust without busted_at", BUSTS, json.dumps(fill_message("11111", 17)).encode()),
]


async def test_invalid_messages_are_counted_logged_dead_lettered_and_skipped(
    tmp_path: Path, mosquitto: Mosquitto,
) -> None:
    dead_letters: list[bytes] = []
    feed = feed_settings(mosquitto.port, dead_letter_topic=DEAD)
    with capture_logs() as logs:
        async with daemon_on(tmp_path, feed) as daemon, publisher(mosquitto) as client:
            await client.subscribe(DEAD, qos=1)

            async def collect() -> None:
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    dead_letters.append(message.payload)

            collector = asyncio.create_task(collect())
            await publish(client, f"{FILLS}/A/11111", fill_message("11111", 1))
            for _kind, topic, payload in BAD_MESSAGES:
                await publish(client, f"{topic}/A/11111", payload)
            await publish(client, f"{FILLS}/A/11111", fill_message("11111", 2))
            await publish(client, f"{BUSTS}/A/11111", bust_message("11111", 2))
            await until(lambda: len(dead_letters) == len(BAD_MESSAGES)
                        and daemon.metrics["busts.recorded"] == 1, "dead letters and the bust")
            collector.cancel()
            metrics = daemon.metrics

    assert dead_letters == [payload for _kind, _topic, payload in BAD_MESSAGES]
    assert metrics["frames.malformed"] == metrics["mqtt_feed.invalid"] == len(BAD_MESSAGES)
    assert metrics["mqtt_feed.dead_lettered"] == len(BAD_MESSAGES)
    warnings = [e for e in logs if e["event"] == "mqtt_feed.invalid"]
    print("\n".join(f"{kind}: {w['error']}" for (kind, _, _), w in zip(
        BAD_MESSAGES, warnings, strict=True)))
    assert [w["topic"] for w in warnings] == [f"{t}/A/11111" for _k, t, _p in BAD_MESSAGES]
    for warning, expected in zip(warnings, [
        "Invalid JSON", "Invalid JSON", "Input should be an object",
        "volume: Input should be a valid integer", "order_id: Field required",
        "volume: Input should be greater than 0", "price: String should match pattern",
        "exchange_time: Value error, must carry a timezone", "sequence_order: ",
        "date value out of range", "busted_at: Field required",
    ], strict=True):
        assert expected in warning["error"]
        assert warning["prefix"]
        assert warning["size"] > 0
    # The valid ones around them, all stored; the session never dropped.
    assert sorted(stored_rows(tmp_path / "fills.db", busted=True)) == [
        row("11111", 1), row("11111", 2, busted=True)]
    assert metrics["feed.disconnects"] == 0


async def test_the_adapter_reconnects_when_the_broker_dies_and_returns(
    tmp_path: Path, mosquitto: Mosquitto,
) -> None:
    seen: list[FeedStatus] = []
    async with daemon_on(tmp_path, feed_settings(mosquitto.port)) as daemon:
        daemon.listeners.append(seen.append)
        async with publisher(mosquitto) as client:
            await publish(client, f"{FILLS}/A/11111", fill_message("11111", 1))
        await until(lambda: daemon.metrics["fills.captured"] == 1, "the first fill")
        mosquitto.kill()
        await until(lambda: daemon.status.state == "disconnected", "the disconnect")
        await asyncio.sleep(0.5)  # attempts against the dead port, backing off
        await asyncio.to_thread(mosquitto.start)
        await until(lambda: daemon.status.state == "subscribed", "a new subscription")
        async with publisher(mosquitto) as client:
            await publish(client, f"{FILLS}/A/11111", fill_message("11111", 2))
        await until(lambda: daemon.metrics["fills.captured"] == 2, "the second fill")
        disconnects = daemon.metrics["feed.disconnects"]

    states = [status.state for status in seen]
    transitions = [s for i, s in enumerate(states) if i == 0 or s != states[i - 1]]
    assert transitions[:3] == ["disconnected", "connected", "subscribed"]
    assert seen[0].reason
    assert "MqttError" in seen[0].reason
    # The broker refused connections for a while: more than one attempt failed.
    assert disconnects >= 2
    assert sorted(stored_rows(tmp_path / "fills.db")) == [r[:8] for r in
                                                         (row("11111", 1), row("11111", 2))]


async def test_fills_published_while_the_daemon_is_away_wait_for_it(
    tmp_path: Path, mosquitto: Mosquitto,
) -> None:
    feed = feed_settings(mosquitto.port)
    async with daemon_on(tmp_path, feed):
        pass  # the first run subscribes; the broker keeps the session after it
    async with publisher(mosquitto) as client:
        for n in (1, 2, 3):
            await publish(client, f"{FILLS}/A/11111", fill_message("11111", n))
    async with daemon_on(tmp_path, feed) as daemon:
        await until(lambda: daemon.metrics["fills.captured"] == 3, "the queued fills")
    assert len(stored_rows(tmp_path / "fills.db")) == 3


async def test_tls_with_a_client_certificate(tmp_path: Path) -> None:
    """Against a broker that takes TLS only, and only with a certificate of its CA."""
    broker = Mosquitto(tmp_path)
    broker.config.write_text(
        f"listener {broker.port} 127.0.0.1\nallow_anonymous true\n"
        f"cafile {TLS / 'ca.pem'}\ncertfile {TLS / 'server.pem'}\nkeyfile {TLS / 'server.key'}\n"
        "require_certificate true\n")
    broker.start()
    try:
        settings = feed_settings(broker.port, tls=True, ca_file=TLS / "ca.pem",
                                 cert_file=TLS / "client.pem", key_file=TLS / "client.key")
        feed = MqttFeed(settings, Metrics())
        events = feed.events()
        async with asyncio.timeout(10):
            async for event in events:
                assert not isinstance(event, Disconnected), event.reason
                if isinstance(event, Subscribed):
                    break
        await feed.close()
        await events.aclose()
    finally:
        broker.stop()


def test_a_dead_letter_topic_the_feed_subscribes_to_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path / "loop.toml", {
        "feed": {"adapter": "mqtt"},
        "mqtt_feed": {"fill_topics": ["fillcapture/#"], "dead_letter_topic": DEAD},
    })
    with pytest.raises(ConfigError, match=r"mqtt_feed: dead_letter_topic: matched by"):
        load_settings(config)
    config = write_config(tmp_path / "wildcard.toml", {
        "mqtt_feed": {"dead_letter_topic": "fillcapture/dead/#"}})
    with pytest.raises(ConfigError, match=r"mqtt_feed\.dead_letter_topic: .*Invalid topic"):
        load_settings(config)


def test_tls_files_that_cannot_be_read_are_a_configuration_error(tmp_path: Path) -> None:
    settings = feed_settings(1883, tls=True, ca_file=tmp_path / "missing.pem")
    with pytest.raises(ConfigError, match=r"mqtt_feed: cannot load the TLS files"):
        MqttFeed(settings, Metrics())


async def test_a_daemon_process_fed_over_mqtt(
    tmp_path: Path, mosquitto: Mosquitto, start_daemon: Callable[..., Proc],
) -> None:
    metrics_port = free_port()
    config = write_config(tmp_path / "fillcapture.toml", {
        "feed": {"adapter": "mqtt"},
        "mqtt_feed": {"host": "127.0.0.1", "port": mosquitto.port, "client_id": "e2e-feed",
                      "firm": FIRM, "reconnect_base": 0.1, "reconnect_cap": 0.5},
        "store": {"url": f"sqlite:///{tmp_path / 'fills.db'}"},
        "users": [{"name": "A", "accounts": ["11111"]}],
        "metrics": {"listen": f"127.0.0.1:{metrics_port}"},
        "schedule": {"enabled": False},
        "log": {"format": "json", "level": "info"},
    })
    daemon = start_daemon(config)
    await asyncio.to_thread(daemon.wait_for, r'"event": "feed.subscribed"', stream="stderr")
    async with publisher(mosquitto) as client:
        await publish(client, f"{FILLS}/A/11111", b"{not json")
        for n in (1, 2):
            await publish(client, f"{FILLS}/A/11111", fill_message("11111", n))
            await publish(client, f"{FILLS}/-/55555", fill_message("55555", n))
    db = tmp_path / "fills.db"
    await until(lambda: len(stored_rows(db)) == 2, "two fills stored")
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
    daemon.signal(signal.SIGTERM)
    assert await asyncio.to_thread(daemon.wait) == 0
    assert "fillcapture_frames_malformed_total 1.0" in response.text
    assert "fillcapture_fills_dropped_unowned_total 2.0" in response.text
    assert sorted(stored_rows(db)) == [r[:8] for r in (row("11111", 1), row("11111", 2))]
    assert '"event": "ownership.account_invisible"' not in daemon.stderr
