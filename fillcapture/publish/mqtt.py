"""The MQTT publisher: every fill and bust the store holds, as JSON, to a broker.

The store is the outbox. Rows are numbered in commit order, so the publisher
reads what committed after its place (a cursor only the store reads) in
batches, publishes each batch over one connection, which keeps each account's
order, and moves its place only once the broker has acknowledged the whole
batch. Nothing is published before it is committed and nothing committed is
passed over: a broker that is down, a connection that drops, a daemon that is
killed each delay delivery and may repeat some of it (at least once;
consumers de-duplicate by ``fill_id``), never lose it.

Capture never waits for it: the publisher reads through a read-only
connection of its own, the writer only wakes it after each commit, and its
place is saved at most once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, NoReturn

import aiomqtt
import structlog
from pydantic import ValidationError

from fillcapture import __version__
from fillcapture.config import MqttSettings, Settings
from fillcapture.metrics import Metrics
from fillcapture.mqtt_tls import tls_context
from fillcapture.publish.lag import PublishLag
from fillcapture.publish.schema import (
    BustMessage,
    FillMessage,
    message_fields,
    utc_text,
)
from fillcapture.store import (
    OutboxBatch,
    OutboxCursor,
    OutboxReading,
    Store,
    StoredFill,
    StoreError,
)

log = structlog.get_logger(__name__)

POLL_SECONDS = 1.0
"""Look at the store this often without a wake-up: commits of another process
sharing the store (a replay, a second daemon) wake nobody here."""

SAVE_SECONDS = 1.0
"""Save the place at most this often. A daemon killed in between sends up to
this much again when it starts: duplicates, which consumers absorb."""

STOP_SECONDS = 5.0
"""At a clean stop, go on publishing what is committed for at most this long."""

_LEVEL_ESCAPES = str.maketrans({"%": "%25", "/": "%2F", "+": "%2B", "#": "%23", "\0": "%00"})


def topic_level(text: str) -> str:
    """``text`` as one topic level: ``%``, ``/``, ``+``, ``#`` and NUL percent-encoded,
    so that a user name can neither add levels nor act as a wildcard."""
    return text.translate(_LEVEL_ESCAPES)


def fill_message(fill: StoredFill) -> FillMessage:
    """A stored fill as published, with its owner now and whether it is busted now."""
    return FillMessage(**message_fields(fill))


def bust_message(fill: StoredFill, busted_at: datetime) -> BustMessage:
    return BustMessage(**message_fields(fill) | {"busted": True}, busted_at=busted_at)


class Publisher:
    """Publishes the store's fills and busts to one broker until :meth:`stop`.

    ``store`` saves the place (the daemon's store); ``reader`` reads the outbox
    through a connection of its own. ``name`` is the MQTT client id and names
    the place saved in the store.
    """

    def __init__(self, settings: MqttSettings, store: Store, reader: OutboxReading,
                 metrics: Metrics,
                 *, name: str) -> None:
        self.settings = settings
        self.store = store
        self.reader = reader
        self.metrics = metrics
        self.name = name
        self.status_topic = f"{settings.topic_prefix}/status"
        self.started_at = datetime.now(UTC)
        self._tls = tls_context(settings, "mqtt")
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._stop_by: float | None = None
        self._cursor = OutboxCursor()
        self._saved = OutboxCursor()
        self._saved_at = 0.0
        # (when acknowledged, place before) of the batches of the last
        # resend_window seconds: where to go back to after a lost connection.
        self._acked: deque[tuple[float, OutboxCursor]] = deque()
        self._connected = False
        self._store_down = False  # an outage of the store logged, not yet over
        self._lost_at: float | None = None
        self._attempt = 0
        self._backlog = 0
        self._lag = PublishLag()
        metrics.gauges["mqtt.backlog"] = lambda: self._backlog
        metrics.gauges["mqtt.lag"] = self._lag.seconds
        metrics.gauges["mqtt.connected"] = 0.0

    def wake(self) -> None:
        """A commit listener: something new may be in the store."""
        self._lag.committed()
        self._wake.set()

    def stop(self) -> None:
        """Publish what is committed for up to :data:`STOP_SECONDS`, then say offline."""
        self._stop_by = time.monotonic() + STOP_SECONDS
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Publish until stopped, reconnecting with back-off; a failure of any
        kind is logged and retried, never passed on to the daemon."""
        loaded = False
        try:
            while not self._stopping.is_set():
                try:
                    if not loaded:
                        self._cursor = self._saved = (await self.store.outbox(self.name)).cursor
                        # Saved at once, even unmoved: deletes set the floors
                        # only of publishers with a place in the store.
                        await self.store.save_outbox(self.name, self._cursor)
                        loaded = True
                    await self._session()
                    return
                except aiomqtt.MqttError as exc:
                    self.metrics.inc("mqtt.reconnects")
                    log.warning("mqtt.disconnected", error=f"{type(exc).__name__}: {exc}",
                                backlog=self._backlog)
                    if self._connected and self._lost_at is None:
                        self._lost_at = time.monotonic()  # see _resume
                except StoreError as exc:
                    if not exc.outage:
                        log.exception("mqtt.publisher_failed")
                    elif not self._store_down:
                        # A full disk, a read-only store: the daemon logs the
                        # outage itself; here one line, not a traceback a retry.
                        self._store_down = True
                        log.warning("mqtt.store_unavailable", error=str(exc))
                except Exception:  # e.g. the store: the connection was closed cleanly
                    log.exception("mqtt.publisher_failed")
                self._connected = False
                await self._back_off()
        finally:
            if loaded:
                with contextlib.suppress(StoreError):
                    await self._save()

    # --- one connection -------------------------------------------------------

    async def _session(self) -> None:
        s = self.settings
        log.info("mqtt.connecting", host=s.host, port=s.port, client_id=self.name, tls=s.tls)
        async with self._client() as client:
            self._connected = True
            self._attempt = 0
            self.metrics.gauges["mqtt.connected"] = 1.0
            try:
                await client.publish(self.status_topic, self._status("online"),
                                     qos=1, retain=True)
                log.info("mqtt.connected", host=s.host, port=s.port, client_id=self.name,
                         place=str(self._cursor))
                await _until_lost(client, self._stream(client))
                await client.publish(self.status_topic, self._status("offline"),
                                     qos=1, retain=True)
            finally:
                self.metrics.gauges["mqtt.connected"] = 0.0

    def _client(self) -> aiomqtt.Client:
        s = self.settings
        client = aiomqtt.Client(
            s.host, s.port, username=s.username or None,
            password=s.password.get_secret_value() if s.password else None,
            identifier=self.name, clean_session=True, keepalive=s.keepalive,
            timeout=s.connect_timeout, tls_context=self._tls,
            will=aiomqtt.Will(self.status_topic, self._status("offline"), qos=1, retain=True),
            max_inflight_messages=s.inflight,
            # Each message is sent as it is published rather than held back
            # to fill a segment: latency, not bandwidth, is what counts here.
            socket_options=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
        )
        client.pending_calls_threshold = s.inflight  # a full window is normal, not a warning
        return client

    def _status(self, state: str) -> bytes:
        return json.dumps({"state": state, "version": __version__,
                           "started_at": utc_text(self.started_at)}).encode()

    async def _stream(self, client: aiomqtt.Client) -> None:
        """Publish what is committed, batch by batch, until stopped."""
        if self._lost_at is not None:
            await self._resume()
        while True:
            self._wake.clear()  # before reading: a commit from now on wakes the wait below
            await self._follow_floors()
            batch = await self.reader.outbox_batch(self._cursor, self.settings.batch)
            busy = bool(batch.fills or batch.busts)
            if busy:
                await self._publish(client, batch)
                self._advance(batch)
            if self._stop_by is not None and (not busy or time.monotonic() > self._stop_by):
                if busy:
                    log.warning("mqtt.stopped_with_backlog", backlog=self._backlog)
                return
            if time.monotonic() - self._saved_at >= SAVE_SECONDS:
                await self._save()
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)

    async def _publish(self, client: aiomqtt.Client, batch: OutboxBatch) -> None:
        """Publish the batch with up to ``inflight`` messages unacknowledged.

        Every sender takes the next message and hands it to the client before
        it awaits anything, so messages leave in batch order over the one
        connection, and the broker passes them on in that order.
        """
        qos = self.settings.qos
        messages = self._encoded(batch)

        async def sender() -> None:
            for topic, payload in messages:
                # No timeout of its own: _until_lost ends the wait when the
                # connection drops, and keepalive notices one that died silently.
                # (aiomqtt makes a task per publish to time it out otherwise.)
                await client.publish(topic, payload, qos=qos, timeout=math.inf)
                self.metrics.inc("mqtt.published")

        count = min(self.settings.inflight, len(batch.fills) + len(batch.busts))
        senders = [asyncio.ensure_future(sender()) for _ in range(count)]
        try:
            await asyncio.gather(*senders)
        finally:
            for task in senders:
                task.cancel()
            await asyncio.gather(*senders, return_exceptions=True)

    def _encoded(self, batch: OutboxBatch) -> Iterator[tuple[str, bytes]]:
        """(topic, JSON) per message, made as the senders take them: encoding
        a whole batch at once would hold the event loop, and capture with it."""
        prefix = self.settings.topic_prefix
        items: list[tuple[StoredFill, datetime | None]] = [(fill, None) for fill in batch.fills]
        items += batch.busts
        for fill, busted_at in items:
            try:
                message = fill_message(fill) if busted_at is None else bust_message(fill, busted_at)
            except ValidationError as exc:
                # Stored, yet not what the schema allows (e.g. a price as an
                # older version stored it): skipped rather than block the rest.
                self.metrics.inc("mqtt.unpublishable")
                log.error("mqtt.unpublishable", firm=fill.firm, order_id=fill.order_id,
                          trade_key=fill.trade_key, leg_index=fill.leg_index,
                          error=str(exc.errors(include_url=False)[0]["msg"]))
                continue
            kind = "fills" if busted_at is None else "busts"
            user = "" if fill.user is None else topic_level(fill.user)
            topic = f"{prefix}/{kind}/{user}/{topic_level(fill.account)}"
            yield topic, message.model_dump_json().encode()

    # --- the place ------------------------------------------------------------

    def _advance(self, batch: OutboxBatch) -> None:
        """The whole batch is acknowledged: move past it, remembering where it began."""
        now = time.monotonic()
        self._acked.append((now, self._cursor))
        while self._acked and self._acked[0][0] < now - self.settings.resend_window:
            self._acked.popleft()
        self._cursor = batch.cursor
        self._lag.published(batch.cursor.fills)

    async def _resume(self) -> None:
        """After a lost connection: go back to what the broker acknowledged in the
        ``resend_window`` before the loss, since a broker that died may have
        acknowledged messages it never passed on; then give subscribers that
        lost the broker as well ``resume_delay`` to subscribe again."""
        assert self._lost_at is not None
        since = self._lost_at - self.settings.resend_window
        back_to = next((before for when, before in self._acked if when >= since), None)
        if back_to is not None:
            self._cursor = self._cursor.lowest(back_to)
        self._acked.clear()
        self._lost_at = None
        log.info("mqtt.resuming", resend_from=str(self._cursor),
                 delay=self.settings.resume_delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), self.settings.resume_delay)

    async def _follow_floors(self) -> None:
        """Go back to the floors a delete of the newest rows set (see
        :class:`~fillcapture.store.Outbox`), and clear them; refresh the backlog."""
        outbox = await self.reader.outbox(self.name)
        if outbox.rewound:
            resumed = outbox.resume(self._cursor)
            if resumed != self._cursor:
                log.warning("mqtt.outbox_rewound", reason="newest rows deleted",
                            place=str(resumed))
            self._cursor = resumed
            await self.store.save_outbox(self.name, resumed, seen=outbox)
            self._saved = resumed
        self._backlog = outbox.backlog(self._cursor)
        self._lag.seen(outbox.newest.fills, self._cursor.fills)

    async def _save(self) -> None:
        if self._cursor != self._saved:
            await self.store.save_outbox(self.name, self._cursor)
            self._saved = self._cursor
            if self._store_down:
                self._store_down = False
                log.info("mqtt.store_available")
        self._saved_at = time.monotonic()

    async def _back_off(self) -> None:
        """Wait before the next attempt (exponential, full jitter), or until stopped;
        the backlog gauge goes on counting meanwhile."""
        s = self.settings
        delay = random.uniform(0, min(s.reconnect_cap, s.reconnect_base * 2**self._attempt))
        self._attempt += 1
        with contextlib.suppress(StoreError):
            outbox = await self.reader.outbox(self.name)
            self._backlog = outbox.backlog(self._cursor)
            self._lag.seen(outbox.newest.fills, self._cursor.fills)
        log.info("mqtt.reconnect_wait", seconds=round(delay, 3), attempt=self._attempt)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)


async def _until_lost(client: aiomqtt.Client, work: Coroutine[Any, Any, None]) -> None:
    """Await ``work`` unless the connection drops first, which raises ``MqttError``.

    aiomqtt fails a publish awaiting its acknowledgement only at its timeout;
    the client's message iterator fails at once, so it watches the connection.
    """
    task: asyncio.Future[None] = asyncio.ensure_future(work)
    watch: asyncio.Future[None] = asyncio.ensure_future(_disconnection(client))
    done: set[asyncio.Future[None]] = set()
    try:
        done, _ = await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        task.cancel()
        watch.cancel()
        await asyncio.gather(task, watch, return_exceptions=True)
    (task if task in done else watch).result()


async def _disconnection(client: aiomqtt.Client) -> NoReturn:
    """Raises ``MqttError`` when the connection drops. Nothing is subscribed, so
    no message ever comes to end the wait otherwise."""
    async for _ in client.messages:
        pass
    raise aiomqtt.MqttError("message iteration ended")


@asynccontextmanager
async def publishing(settings: Settings, store: Store, metrics: Metrics
                     ) -> AsyncIterator[Publisher]:
    """Run a :class:`Publisher` for ``[mqtt]`` in the background while in the
    block; wake it with :meth:`Publisher.wake` after each commit."""
    mqtt = settings.mqtt
    name = mqtt.client_id or f"fillcapture-{settings.t4.firm or 'default'}"
    async with store.outbox_reader() as reader:
        publisher = Publisher(mqtt, store, reader, metrics, name=name)
        task = asyncio.create_task(publisher.run(), name="mqtt-publisher")
        try:
            yield publisher
        finally:
            publisher.stop()
            try:
                # The stop's own deadline, and one acknowledgement's timeout beyond.
                await asyncio.wait_for(task, STOP_SECONDS + mqtt.connect_timeout)
            except TimeoutError:
                log.warning("mqtt.stop_timeout")
