"""A real MQTT subscriber for the publisher's tests, on a thread of its own.

On its own thread and event loop so that the tests may block (waiting for
processes, sleeping through an outage) without it falling behind: a
subscriber that stops reading would leave messages queued in the broker,
which is a different test. It reconnects at once whenever the broker goes,
as a consumer should, and keeps every message it was given.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import aiomqtt

from fillcapture.publish.schema import BustMessage, FillMessage


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    at_ns: int  # time.time_ns() at receipt

    def json(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.payload)
        return loaded


class Subscriber:
    """Subscribes to ``{prefix}/#`` on 127.0.0.1:``port`` until :meth:`close`."""

    def __init__(self, port: int, prefix: str = "fillcapture") -> None:
        self.port = port
        self.prefix = prefix
        self.messages: list[Received] = []
        self.connections = 0
        self._subscribed = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)
        self._thread.start()
        assert self._subscribed.wait(10), "the subscriber could not subscribe"

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        while not self._stop.is_set():
            try:
                async with aiomqtt.Client("127.0.0.1", self.port, timeout=5) as client:
                    await client.subscribe(f"{self.prefix}/#", qos=1)
                    self.connections += 1
                    self._subscribed.set()
                    await self._read(client)
            except aiomqtt.MqttError:
                await asyncio.sleep(0.05)

    async def _read(self, client: aiomqtt.Client) -> None:
        assert self._stop is not None
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            while True:
                incoming = asyncio.ensure_future(anext(client.messages))
                await asyncio.wait({incoming, stop}, return_when=asyncio.FIRST_COMPLETED)
                if not incoming.done():
                    incoming.cancel()
                    return
                message = incoming.result()
                payload = message.payload
                assert isinstance(payload, bytes)
                self.messages.append(Received(message.topic.value, payload, message.retain,
                                              time.time_ns()))
        finally:
            stop.cancel()

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop may be gone already
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    # --- what came ------------------------------------------------------------

    def of_kind(self, kind: str) -> list[Received]:
        return [m for m in list(self.messages) if m.topic.startswith(f"{self.prefix}/{kind}/")]

    def fills(self) -> list[FillMessage]:
        return [FillMessage.model_validate_json(m.payload) for m in self.of_kind("fills")]

    def busts(self) -> list[BustMessage]:
        return [BustMessage.model_validate_json(m.payload) for m in self.of_kind("busts")]

    def unique_fill_ids(self) -> set[str]:
        return {m.json()["fill_id"] for m in self.of_kind("fills")}

    def statuses(self) -> list[dict[str, Any]]:
        return [m.json() for m in list(self.messages) if m.topic == f"{self.prefix}/status"]
