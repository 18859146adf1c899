"""Waiting out a store that cannot take writes: a full disk, a read-only file system.

Such a store comes back by itself once an operator frees space or remounts it,
so the daemon neither exits nor drops what it holds: each store write goes
through :meth:`StoreOutage.call`, which retries it with back-off until it
commits. The writes are idempotent (a fill's identity is unique), so a retried
batch stores each fill once. While the store is down the daemon ends its feed
session (a gap opens, see ``operations.py``); the next session's snapshot
brings whatever T4 sent meanwhile.

Logging: one error when the outage begins, then at most one per
``log_seconds`` however often the write is retried, and one line when it ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from fillcapture.store import StoreError

log = structlog.get_logger(__name__)

T = TypeVar("T")

FIRST_RETRY_SECONDS = 0.25
RETRY_CAP_SECONDS = 2.0


class StoreOutage:
    """The store's writability as the daemon sees it, shared by every writer.

    ``down`` is set while an outage lasts and ``up`` while it does not;
    :meth:`abandon` (at shutdown) makes retries give up and raise instead.
    ``on_failure`` is called at each failed attempt (the daemon counts them).
    """

    def __init__(self, log_seconds: float = 60.0, *, first_retry: float = FIRST_RETRY_SECONDS,
                 retry_cap: float = RETRY_CAP_SECONDS,
                 on_failure: Callable[[], None] | None = None) -> None:
        self.on_failure = on_failure
        self.log_seconds = log_seconds
        self.first_retry = first_retry
        self.retry_cap = retry_cap
        self.down = asyncio.Event()
        self.up = asyncio.Event()
        self.up.set()
        self.cause: str | None = None
        self.attempts = 0  # failed attempts in the current outage
        self._began = 0.0
        self._logged = -float("inf")  # when the last error was logged
        self._abandoned = False

    def abandon(self) -> None:
        """Stop retrying: the daemon is stopping and cannot wait any longer."""
        self._abandoned = True

    async def call(self, what: str, write: Callable[[], Awaitable[T]]) -> T:
        """``write()``, retried with back-off while the store is in an outage.
        Any other error, or any error once abandoned, propagates."""
        delay = self.first_retry
        while True:
            try:
                result = await write()
            except StoreError as exc:
                if not exc.outage or self._abandoned:
                    raise
                self.failed(what, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_cap)
                continue
            self.succeeded()
            return result

    def failed(self, what: str, exc: StoreError) -> None:
        """Record a failed attempt; log if it begins an outage or an interval has passed."""
        now = time.monotonic()
        self.attempts += 1
        if self.on_failure is not None:
            self.on_failure()
        self.cause = str(exc)
        if not self.down.is_set():
            self._began = now
            self.up.clear()
            self.down.set()
            if now - self._logged >= self.log_seconds:  # a flapping store logs no more
                self._logged = now
                log.error("store.unavailable", error=self.cause, during=what,
                          hint="capture paused; it resumes by itself once the store takes "
                               "writes again")
        elif now - self._logged >= self.log_seconds:
            self._logged = now
            log.error("store.still_unavailable", error=self.cause, during=what,
                      attempts=self.attempts, seconds=round(now - self._began, 1))

    def succeeded(self) -> None:
        """A write committed: an outage, if one lasted, is over."""
        if not self.down.is_set():
            return
        log.warning("store.available", attempts=self.attempts,
                    seconds=round(time.monotonic() - self._began, 1))
        self.attempts = 0
        self.cause = None
        self.down.clear()
        self.up.set()
