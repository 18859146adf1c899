"""The mqtt feed adapter: fills and busts from an MQTT broker, in the JSON schema
fillcapture itself publishes (:mod:`fillcapture.publish.schema`).

So one site's daemon can feed another's, and a bridge from any other source
can feed fillcapture by writing that schema. Every message is validated on
its own; one that fails is counted, logged, optionally forwarded to a
dead-letter topic and skipped, and the session goes on. What passes meets the
same ownership filter and idempotent store as T4's fills: a message delivered
twice is stored once.

The session is persistent: a fixed client id and clean session off. The
broker then keeps the subscriptions and queues QoS 1 and 2 messages while the
daemon is away (a restart, a network blip), and delivers them when it comes
back. MQTT has no snapshot to ask for, so that queue is what a T4 snapshot is
to the t4 adapter: what covers the daemon's absence. A clean session would
lose everything published in between.

The client acknowledges a message on receipt (aiomqtt offers no manual
acknowledgement), so what it has received and not yet handed on when the
daemon stops is lost: nothing at the feed's pace, more behind a backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING

import aiomqtt
import structlog
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import ValidationError

from fillcapture.config import MqttFeedSettings
from fillcapture.feeds.base import Reconciliation
from fillcapture.metrics import Metrics
from fillcapture.model import (
    Bust,
    BustsReceived,
    Connected,
    Disconnected,
    FeedEvent,
    FillsReceived,
    Subscribed,
)
from fillcapture.mqtt_tls import tls_context
from fillcapture.publish.schema import BustMessage, FillMessage

if TYPE_CHECKING:
    from fillcapture.config import Settings
    from fillcapture.ownership import Ownership

log = structlog.get_logger(__name__)

# The store keeps integers in 64 bits: the schema's unbounded ints must fit, or the
# store would fail the whole commit the message lands in.
_INT64 = range(-(2**63), 2**63)
_PREFIX_BYTES = 64


def create(settings: Settings, ownership: Callable[[], Ownership], metrics: Metrics) -> MqttFeed:
    """Entry point of the ``mqtt`` adapter in the ``fillcapture.feeds`` group. The
    daemon applies the ownership filter; topics are not per account."""
    return MqttFeed(settings.mqtt_feed, metrics)


class _Invalid(ValueError):
    """A message that is valid JSON of the schema but cannot be stored as it is."""


class MqttFeed:
    """One broker session at a time, reconnecting with back-off."""

    def __init__(self, settings: MqttFeedSettings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self._tls = tls_context(settings, "mqtt_feed")
        self._closing = False
        self._closed = asyncio.Event()

    # --- FeedAdapter ------------------------------------------------------

    async def events(self) -> AsyncIterator[FeedEvent]:
        attempt = 0
        while not self._closing:
            try:
                # Closed when events() is, not whenever it is collected: a client
                # left connected would take (and acknowledge) messages nobody reads.
                async with contextlib.aclosing(self._session()) as session:
                    async for event in session:
                        if isinstance(event, Subscribed):
                            attempt = 0
                        yield event
            except aiomqtt.MqttError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            else:
                return  # only close() ends a session without an error
            if self._closing:
                return
            self.metrics.inc("feed.disconnects")
            yield Disconnected(reason)
            delay = self._backoff(attempt)
            attempt += 1
            log.info("feed.reconnect_wait", seconds=round(delay, 3), attempt=attempt)
            with contextlib.suppress(TimeoutError):  # close() cuts the wait short
                await asyncio.wait_for(self._closed.wait(), delay)

    async def registry_changed(self) -> None:
        """Nothing to do: the subscriptions are topics, not accounts, and the
        daemon's ownership filter applies the new registry to the next fill."""

    async def reconcile(self, step_seconds: float) -> Reconciliation:
        """Nothing: a broker has no day's book to send again, so nothing is
        verified. What was published while the daemon was away is covered by
        the persistent session's queue."""
        return Reconciliation(False, reason="the MQTT feed has no snapshots", supported=False)

    async def close(self) -> None:
        """End :meth:`events`, leaving the broker session (and its queue) in place."""
        self._closing = True
        self._closed.set()

    # --- one session ------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        # Exponential back-off with full jitter, as the t4 adapter does.
        ceiling = min(self.settings.reconnect_cap, self.settings.reconnect_base * 2**attempt)
        return random.uniform(0, ceiling)

    def _client(self) -> aiomqtt.Client:
        s = self.settings
        return aiomqtt.Client(
            s.host, s.port, username=s.username or None,
            password=s.password.get_secret_value() if s.password else None,
            identifier=s.client_id, clean_session=False, keepalive=s.keepalive,
            timeout=s.connect_timeout, tls_context=self._tls,
        )

    async def _session(self) -> AsyncGenerator[FeedEvent, None]:
        s = self.settings
        log.info("feed.connecting", host=s.host, port=s.port, client_id=s.client_id, tls=s.tls)
        async with self._client() as client:
            # Every account the publishers send, none listed up front.
            yield Connected(s.firm, s.username or s.client_id, (), risk_manager=True,
                            lists_accounts=False)
            filters = [*s.fill_topics, *s.bust_topics]
            wanted: list[tuple[str, int]] = [(topic, s.qos) for topic in filters]
            granted: Sequence[int | ReasonCode] = await client.subscribe(wanted)
            refused = tuple(f"{topic}: {code}" for topic, code in zip(filters, granted, strict=True)
                            if _refused(code))
            if refused:
                log.error("feed.subscribe_failed", errors=list(refused))
            log.info("feed.subscribed", topics=filters, qos=s.qos)
            yield Subscribed(refused)
            async for message in self._messages(client):
                event = await self._event(client, message)
                if event is not None:
                    yield event

    async def _messages(self, client: aiomqtt.Client) -> AsyncIterator[aiomqtt.Message]:
        """The session's messages until it drops (``MqttError``) or :meth:`close`.
        Only an idle wait races against close: a backlog is read straight on."""
        messages = client.messages
        closed = asyncio.ensure_future(self._closed.wait())
        incoming: asyncio.Future[aiomqtt.Message] | None = None
        try:
            while not self._closing:
                if len(messages):
                    yield await anext(messages)
                    continue
                incoming = asyncio.ensure_future(anext(messages))
                await asyncio.wait((incoming, closed), return_when=asyncio.FIRST_COMPLETED)
                if not incoming.done():
                    return
                yield incoming.result()
        finally:
            closed.cancel()
            if incoming is not None:
                incoming.cancel()

    async def _event(self, client: aiomqtt.Client, message: aiomqtt.Message) -> FeedEvent | None:
        """The fill or bust one message carries, or None: invalid (counted, logged,
        dead-lettered) or of another firm. Never raises for what a message holds.
        Its receipt is when it leaves the client's queue, the first the adapter
        can know of it."""
        received_ns = time.monotonic_ns()
        raw = message.payload
        bust = any(message.topic.matches(topic) for topic in self.settings.bust_topics)
        try:
            parsed = (BustMessage if bust else FillMessage).model_validate_json(raw, strict=True)
            _check_storable(parsed)
            fill = parsed.to_fill()
        except ValidationError as exc:
            await self._invalid(client, message.topic.value, raw, _first_error(exc))
            return None
        except (_Invalid, ArithmeticError) as exc:  # e.g. a time UTC cannot hold
            await self._invalid(client, message.topic.value, raw, str(exc))
            return None
        firm = self.settings.firm
        if firm and fill.firm != firm:
            self.metrics.inc("mqtt_feed.other_firm")
            log.debug("mqtt_feed.other_firm", topic=message.topic.value, firm=fill.firm)
            return None
        if isinstance(parsed, BustMessage):
            self.metrics.inc("busts.received")
            return BustsReceived((Bust(fill, parsed.busted_at),))
        return FillsReceived((fill,), received_ns)

    async def _invalid(self, client: aiomqtt.Client, topic: str, raw: bytes, error: str) -> None:
        """Count, log (topic, size, a short prefix: a payload may be large) and
        forward the raw payload to the dead-letter topic, if there is one."""
        metrics = self.metrics
        metrics.inc("frames.malformed")  # the counter /metrics exports, as for T4 frames
        metrics.inc("mqtt_feed.invalid")
        log.warning("mqtt_feed.invalid", topic=topic, size=len(raw), error=error,
                    prefix=raw[:_PREFIX_BYTES].decode("utf-8", "replace"))
        dead_letter = self.settings.dead_letter_topic
        if dead_letter is None:
            return
        try:
            await client.publish(dead_letter, raw, qos=self.settings.qos)
        except aiomqtt.MqttError as exc:
            # The session is probably gone: reading the next message says so.
            metrics.inc("mqtt_feed.dead_letter_failed")
            log.warning("mqtt_feed.dead_letter_failed", topic=dead_letter, error=str(exc))
        else:
            metrics.inc("mqtt_feed.dead_lettered")


def _refused(code: int | ReasonCode) -> bool:
    """A SUBACK's answer for one filter: a granted QoS, or a failure (0x80 up)."""
    return code >= 0x80 if isinstance(code, int) else code.is_failure


def _check_storable(message: FillMessage) -> None:
    for name in ("sequence_order", "volume", "leg_index"):
        value = getattr(message, name)
        if value is not None and value not in _INT64:
            raise _Invalid(f"{name}: does not fit in 64 bits")


def _first_error(exc: ValidationError) -> str:
    """``volume: Input should be greater than 0``: where and what, one line."""
    error = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]
