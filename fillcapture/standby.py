"""The firm's lease, taken by the active daemon and waited for by a standby.

:func:`holding` enters the store's lease of the daemon's instance. Without
``[standby] enabled`` a lease another daemon holds is refused (exit 2, as
before). With it, the daemon is a standby: logged out of T4, it says so to
systemd (``READY=1``, ``STATUS=standby: ...``) and in the store, where
``fillcapture status`` shows it, until the lease is its own; then, having
waited, it lets ``takeover_seconds`` pass before anything logs in, so that a
former holder that lost the lease has seen the loss and logged out of T4.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import structlog

from fillcapture.config import StandbySettings
from fillcapture.operations import ALIVE_SECONDS
from fillcapture.store import LeaseHeld, Store, StoreError
from fillcapture.systemd import Notifier

log = structlog.get_logger(__name__)

STANDBY_KEYS = ("standby.host", "standby.pid", "standby.since", "standby.alive_at")
"""The store state a waiting standby keeps under its instance; cleared on takeover."""


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


@asynccontextmanager
async def holding(store: Store, instance: str, settings: StandbySettings,
                  notifier: Notifier, stopped: asyncio.Event) -> AsyncIterator[LeaseHeld | None]:
    """The lease of ``instance`` for the block, or ``None`` if ``stopped``
    was set first (while waiting as the standby, or during the takeover)."""
    if not settings.enabled:
        async with store.lease(instance, check_seconds=settings.check_seconds) as own:
            yield own
        return
    standby = _Standby(store, instance, notifier)
    async with contextlib.AsyncExitStack() as stack:
        entering = asyncio.ensure_future(
            stack.enter_async_context(store.lease(instance, waiting=standby.waiting,
                                                  check_seconds=settings.check_seconds)))
        try:
            held: LeaseHeld | None = (
                entering.result() if await _finished(entering, stopped) else None)
        finally:
            await standby.end()
        if held is not None and held.waited:
            log.info("standby.taking_over", instance=instance,
                     seconds=settings.takeover_seconds)
            notifier.send(f"STATUS=taking over: the former holder has "
                          f"{settings.takeover_seconds:g} s to log out of T4")
            pause = asyncio.ensure_future(asyncio.sleep(settings.takeover_seconds))
            if not await _finished(pause, stopped, held.lost):
                held = None
        yield held


async def _finished(work: asyncio.Future[Any], *events: asyncio.Event) -> bool:
    """Whether ``work`` finished before any of ``events`` was set (then it is cancelled)."""
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    racing: set[asyncio.Future[Any]] = {work, *waits}
    try:
        await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
    if work.done():
        return True
    work.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await work
    return False


class _Standby:
    """A waiting standby's notices: to systemd once per holder, and to the
    store every :data:`~fillcapture.operations.ALIVE_SECONDS` while it waits."""

    def __init__(self, store: Store, instance: str, notifier: Notifier) -> None:
        self.store = store
        self.instance = instance
        self.notifier = notifier
        self._alive: asyncio.Task[None] | None = None

    def waiting(self, holder: str) -> None:
        log.warning("standby.waiting", instance=self.instance, holder=holder)
        self.notifier.send("READY=1", f"STATUS=standby: the lease is held by {holder}")
        if self._alive is None:
            self._alive = asyncio.create_task(self._keep_alive(), name="standby-alive")

    async def _keep_alive(self) -> None:
        since = _iso(datetime.now(UTC))
        while True:
            await self._note({
                "standby.host": socket.gethostname(), "standby.pid": str(os.getpid()),
                "standby.since": since, "standby.alive_at": _iso(datetime.now(UTC))})
            await asyncio.sleep(ALIVE_SECONDS)

    async def _note(self, values: dict[str, str]) -> None:
        """Record ``values``; a store that takes no writes now only delays the notice."""
        try:
            await self.store.set_state(self.instance, values)
        except StoreError as exc:
            log.warning("standby.note_failed", instance=self.instance, error=str(exc))

    async def end(self) -> None:
        """No longer waiting: the notices stop and the store forgets them."""
        if self._alive is None:
            return
        self._alive.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._alive
        await self._note(dict.fromkeys(STANDBY_KEYS, ""))
