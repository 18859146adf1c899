"""The publisher in-process, over a real store and a real Mosquitto: what it
sends again after a broker loss, what it does with a row the schema refuses,
and its topics, on each engine; how it follows deletes of the newest rows and
a full disk, on SQLite (whose ids and file those are)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import structlog

from fillcapture.config import MqttSettings
from fillcapture.metrics import Metrics
from fillcapture.model import Bust
from fillcapture.publish.mqtt import Publisher, topic_level
from fillcapture.store import Owner, Store, open_store
from tests.conftest import Mosquitto, store_at
from tests.publish.subscriber import Subscriber
from tests.smallfs import fill_up, tmpfs
from tests.store.factories import DAY, make_fill


@pytest.fixture
def subscribers() -> Iterator[list[Subscriber]]:
    started: list[Subscriber] = []
    yield started
    for sub in started:
        sub.close()


@asynccontextmanager
async def running(url: str, broker: Mosquitto, **settings: object
                  ) -> AsyncIterator[tuple[Publisher, Store, Metrics]]:
    """A publisher over the store at ``url``, as the daemon runs one."""
    config = MqttSettings.model_validate(
        {"enabled": True, "host": "127.0.0.1", "port": broker.port, "reconnect_base": 0.05,
         "reconnect_cap": 0.2, "resume_delay": 0.5} | settings)
    metrics = Metrics()
    async with open_store(url) as store, open_store(url, readonly=True) as reader:
        publisher = Publisher(config, store, reader, metrics, name="test-publisher")
        task = asyncio.create_task(publisher.run())
        try:
            yield publisher, store, metrics
        finally:
            publisher.stop()
            await asyncio.wait_for(task, 10)


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        await asyncio.sleep(0.02)


def test_topic_levels_cannot_add_levels_or_wildcards() -> None:
    assert topic_level("A") == "A"
    assert topic_level("desk/one+#%") == "desk%2Fone%2B%23%25"


@pytest.mark.parametrize(("window", "expect_resent"), [(30.0, True), (0.0, False)])
async def test_after_a_broker_loss_what_it_acknowledged_is_sent_again(
    mosquitto: Mosquitto, subscribers: list[Subscriber], engine_store_url: str,
    window: float, expect_resent: bool,
) -> None:
    """A broker that dies loses what it acknowledged but had not passed on.
    Here nobody is subscribed when the first 100 fills go out: acknowledged,
    delivered to no one, as such messages are. The subscriber that comes with
    the restarted broker gets them only from the re-sent window."""
    async with running(engine_store_url, mosquitto,
                       resend_window=window) as (publisher, store, metrics):
        await store.insert_fills([make_fill(n) for n in range(100)])
        publisher.wake()
        await until(lambda: metrics["mqtt.published"] == 100, 10, "the first 100 published")

        mosquitto.kill()
        await until(lambda: metrics["mqtt.reconnects"] >= 1, 5, "the loss noticed")
        mosquitto.start()
        subscribers.append(sub := await asyncio.to_thread(Subscriber, mosquitto.port))
        await store.insert_fills([make_fill(n) for n in range(100, 110)])
        publisher.wake()
        await until(lambda: len(sub.unique_fill_ids()) >= (110 if expect_resent else 10), 10,
                    "the fills after the loss")
        await asyncio.sleep(0.3)  # anything more would come now
    received = sub.unique_fill_ids()
    print(f"window={window} published={metrics['mqtt.published']} received={len(received)}")
    assert len(received) == (110 if expect_resent else 10)


async def test_ids_reused_after_the_newest_rows_are_pruned_are_still_published(
    tmp_path: Path, mosquitto: Mosquitto, subscribers: list[Subscriber],
) -> None:
    """Retention may delete the newest row (a late fill of an old trade date);
    SQLite hands its id to the next fill, which the publisher has passed.
    SQLite only: PostgreSQL numbers the outbox from a sequence, never reused."""
    subscribers.append(sub := Subscriber(mosquitto.port))
    path = tmp_path / "fills.db"
    async with running(f"sqlite:///{path}", mosquitto) as (publisher, store, _):
        await store.insert_fills([make_fill(n) for n in range(5)])
        await store.insert_fills([make_fill(5, trade_date=DAY - timedelta(days=40))])
        publisher.wake()
        await until(lambda: len(sub.unique_fill_ids()) == 6, 10, "six fills published")
        assert await store.prune(DAY - timedelta(days=30)) == 1

        await store.insert_fills([make_fill(6)])  # takes the pruned fill's id
        publisher.wake()
        await until(lambda: "SIMFIRM/order-6/T6" in sub.unique_fill_ids(), 10,
                    "the fill with the reused id")
    async with store_at(path) as store:
        outbox = await store.outbox("test-publisher")
    assert outbox.fills_floor is None, "the publisher cleared the floor it followed"
    assert outbox.cursor.fills == 6, "saved at the stop"


async def test_a_row_the_schema_refuses_is_skipped_and_counted(
    mosquitto: Mosquitto, subscribers: list[Subscriber], engine_store_url: str,
) -> None:
    subscribers.append(sub := Subscriber(mosquitto.port))
    async with running(engine_store_url, mosquitto) as (publisher, store, metrics):
        await store.insert_fills([make_fill(0), make_fill(1, price_text="6.0e3"), make_fill(2)])
        publisher.wake()
        await until(lambda: len(sub.unique_fill_ids()) == 2, 10, "the two valid fills")
        await until(lambda: metrics.gauge("mqtt.backlog") == 0, 5, "the backlog gone")
    assert sub.unique_fill_ids() == {"SIMFIRM/order-0/T0", "SIMFIRM/order-2/T2"}
    assert metrics["mqtt.unpublishable"] == 1


async def test_topics_name_the_owner_now_and_busts_follow_their_fill(
    mosquitto: Mosquitto, subscribers: list[Subscriber], engine_store_url: str,
) -> None:
    subscribers.append(sub := Subscriber(mosquitto.port, prefix="site/one"))
    async with running(engine_store_url, mosquitto,
                       topic_prefix="site/one") as (publisher, store, _):
        await store.seed_registry([Owner("desk/1", None, "11111")])
        await store.insert_fills([make_fill(0), make_fill(1, account="55555")])
        await store.insert_busts([Bust(make_fill(2), make_fill(2).exchange_time)])
        publisher.wake()
        await until(lambda: len(sub.of_kind("busts")) == 1, 10, "the bust")
    topics = [m.topic for m in sub.messages if m.topic != "site/one/status"]
    assert topics == ["site/one/fills/desk%2F1/11111", "site/one/fills//55555",
                      "site/one/fills/desk%2F1/11111", "site/one/busts/desk%2F1/11111"]
    fills = sub.fills()
    assert [f.user for f in fills] == ["desk/1", None, "desk/1"]
    assert [f.busted for f in fills] == [False, False, True]
    (bust,) = sub.busts()
    assert bust.fill_id == fills[2].fill_id == "SIMFIRM/order-2/T2"
    assert bust.busted_at == make_fill(2).exchange_time


async def test_a_full_disk_is_one_line_and_publishing_goes_on_once_freed(
    tmp_path: Path, mosquitto: Mosquitto, subscribers: list[Subscriber],
) -> None:
    """The publisher saves its place in the store: on a full disk that fails
    at every retry. One warning says so (the daemon logs the outage itself),
    no traceback per retry; once space is freed its place is saved again.
    SQLite only: the full disk is a small file system under the store's file."""
    subscribers.append(sub := Subscriber(mosquitto.port))
    with tmpfs(tmp_path / "small", "16m") as small, structlog.testing.capture_logs() as logs:
        path = small / "fills.db"
        async with running(f"sqlite:///{path}", mosquitto) as (publisher, store, _):
            await store.insert_fills([make_fill(0)])
            publisher.wake()
            await until(lambda: len(sub.unique_fill_ids()) == 1, 10, "the first fill published")
            await store.insert_fills([make_fill(n) for n in range(1, 100)])
            filler = fill_up(small)
            publisher.wake()
            await until(lambda: len(sub.unique_fill_ids()) == 100, 10, "100 fills published")
            await until(lambda: any(e["event"] in ("mqtt.publisher_failed",
                                                   "mqtt.store_unavailable") for e in logs),
                        10, "the save to fail")
            await asyncio.sleep(2.0)  # several retries, at reconnect_cap 0.2 s
            failed = [e for e in logs if e["event"] in ("mqtt.publisher_failed",
                                                         "mqtt.store_unavailable")]
            filler.unlink()
            await until(lambda: any(e["event"] == "mqtt.store_available" for e in logs), 10,
                        "its place saved again")
        async with store_at(path) as reopened:
            saved = (await reopened.outbox("test-publisher")).cursor.fills
    print(f"log lines while full: {[e['event'] for e in failed]}")
    assert [e["event"] for e in failed] == ["mqtt.store_unavailable"]
    assert saved == 100
