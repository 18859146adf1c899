"""The daemon's side of the quarantine: warn once, and release what becomes storable.

Records of an account the daemon could not attribute yet (``unknown_account``)
are decoded again whenever something that could attribute them changes: an
account learned, the registry changed, or such a record just kept. Passing
records go to the writer, which stores their fills and then marks them
resolved, so each is captured exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from types import TracebackType
from typing import Self

import structlog

from fillcapture.feeds.t4.redecode import redecode
from fillcapture.metrics import Metrics
from fillcapture.model import Quarantined, VisibleAccount
from fillcapture.ownership import Ownership
from fillcapture.store import Store, StoreError
from fillcapture.writer import CaptureWriter

log = structlog.get_logger(__name__)

UNKNOWN_ACCOUNT = "unknown_account"
_BATCH = 5000
_WARNED_MAX = 10_000


class QuarantineWarnings:
    """One warning per (reason, account) for records quarantined live."""

    def __init__(self) -> None:
        self._warned: set[tuple[str, str]] = set()

    def warn(self, records: tuple[Quarantined, ...]) -> None:
        for record in records:
            key = (record.reason, record.account_id)
            if key in self._warned:
                continue
            if len(self._warned) >= _WARNED_MAX:
                self._warned.clear()
            self._warned.add(key)
            log.warning("quarantine.kept", reason=record.reason, detail=record.detail,
                        firm=record.firm, account_id=record.account_id[:80] or None,
                        account=record.account or None, order_id=record.order_id[:80] or None)


class Releaser:
    """Runs while the daemon captures; :meth:`wake` asks for a pass."""

    def __init__(self, store: Store, writer: CaptureWriter, metrics: Metrics,
                 ownership: Callable[[], Ownership]) -> None:
        self.store = store
        self.writer = writer
        self.metrics = metrics
        self.ownership = ownership
        self.accounts: dict[str, dict[str, VisibleAccount]] = {}
        self._wanted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def learn(self, firm: str, accounts: tuple[VisibleAccount, ...]) -> None:
        known = self.accounts.setdefault(firm, {})
        for account in accounts:
            old = known.get(account.account_id)
            known[account.account_id] = account if old is None else old.merged(account)
        self.wake()

    def wake(self) -> None:
        self._wanted.set()

    async def __aenter__(self) -> Self:
        self.writer.unknown_listeners.append(self.wake)
        self._task = asyncio.create_task(self._run(), name="quarantine-release")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        try:
            for firm, accounts in (await self.store.known_accounts()).items():
                self.learn(firm, tuple(accounts))
        except StoreError as exc:
            log.error("quarantine.accounts_unreadable", error=str(exc))
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            try:
                await self.release()
            except StoreError as exc:
                log.error("quarantine.release_failed", error=str(exc))
                await asyncio.sleep(5)
                self._wanted.set()

    async def release(self) -> int:
        """One pass over the unresolved ``unknown_account`` records; returns
        how many were handed to the writer as passing."""
        rows = await self.store.quarantined(reason=UNKNOWN_ACCOUNT, limit=_BATCH)
        if not rows:
            return 0
        accounts = {firm: list(known.values()) for firm, known in self.accounts.items()}
        outcome = redecode(rows, accounts, self.ownership())
        released = outcome.released
        if released.stored or released.unowned:
            await self.writer.put(released)
            log.info("quarantine.releasing", stored=len(released.stored),
                     unowned=len(released.unowned), fills=len(released.fills),
                     still=len(outcome.still))
        return len(released.stored) + len(released.unowned)
