"""The capture writer: a bounded queue in, group commits out.

A fill counts as captured only once its transaction has committed. When the
store is slow the queue fills and the feed waits (back-pressure): nothing is
dropped and memory stays bounded.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from datetime import date
from typing import Protocol

import structlog

from fillcapture.metrics import Metrics
from fillcapture.model import (
    AccountsSeen,
    Bust,
    BustsReceived,
    Fill,
    FillsReceived,
    Market,
    MarketsSeen,
    OrderRecount,
    OrderSide,
    Quarantined,
    RecordsQuarantined,
    Released,
    SnapshotReceived,
    SpreadDefinition,
    SpreadsSeen,
)
from fillcapture.outage import StoreOutage
from fillcapture.store import CaptureBatch, CaptureResult

log = structlog.get_logger(__name__)


class FillSink(Protocol):
    """The part of a store the writer needs: one transaction per batch."""

    async def capture(self, batch: CaptureBatch) -> CaptureResult: ...


class _Stop:
    """Queued last: everything before it is committed, then the writer returns."""


Handed = FillsReceived | BustsReceived | OrderSide | MarketsSeen | SpreadsSeen \
    | AccountsSeen | RecordsQuarantined | Released | SnapshotReceived | OrderRecount
Item = Handed | _Stop


class CaptureWriter:
    """Commit what the feed hands over, in batches of up to ``batch_size`` fills.

    Group commit: whatever queued up while the previous commit ran goes into
    the next one, so the batch grows with the load and a quiet feed still gets
    its fills committed at once. ``linger_ms`` optionally waits that long for
    more before committing a small batch.
    """

    def __init__(
        self, store: FillSink, metrics: Metrics, *, batch_size: int = 2000,
        linger_ms: float = 0.0, queue_fills: int = 20_000, outage: StoreOutage | None = None,
    ) -> None:
        self.store = store
        # A batch that fails for a full disk or a read-only store is kept and
        # retried until it commits (its writes are idempotent): nothing is lost.
        self.outage = outage or StoreOutage()
        self.metrics = metrics
        self.batch_size = batch_size
        self.linger = linger_ms / 1000
        # Bounded by fills, not frames: a snapshot frame may hold hundreds.
        self.queue_fills = queue_fills
        self.queue: asyncio.Queue[Item] = asyncio.Queue()
        self._queued = 0
        self._room = asyncio.Event()
        self._room.set()
        # The latest sealed trade date: fills and busts of it or earlier days
        # are amendments (see _amend). Set by the daemon at start and each seal.
        self.sealed_through: date | None = None
        # Called after each commit, e.g. to wake the MQTT publisher at once
        # rather than at its next poll. Quick, and must not raise.
        self.commit_listeners: list[Callable[[], None]] = []
        # Called after a commit that kept records of accounts not known yet,
        # so that they are retried once the account is. Quick, must not raise.
        self.unknown_listeners: list[Callable[[], None]] = []

    @property
    def queued(self) -> int:
        """Fills handed over and not yet committed."""
        return self._queued

    async def put(self, item: Handed) -> None:
        """Hand over one frame's fills; waits while the queue is full."""
        while self._queued >= self.queue_fills:
            self._room.clear()
            await self._room.wait()
        self._queued += _size(item)
        self.queue.put_nowait(item)

    async def stop(self) -> None:
        """Ask ``run`` to commit everything queued so far and return."""
        self.queue.put_nowait(_Stop())

    async def run(self) -> None:
        queue = self.queue
        while True:
            batch = [await queue.get()]
            size = _size(batch[0])
            if self.linger and size < self.batch_size and queue.empty():
                await asyncio.sleep(self.linger)
            while size < self.batch_size and not queue.empty() and not _begins_snapshot(
                    batch[-1]):
                item = queue.get_nowait()
                batch.append(item)
                size += _size(item)
            stopping = isinstance(batch[-1], _Stop)
            await self.outage.call("commit", functools.partial(self._commit, batch))
            for listener in self.commit_listeners:
                listener()
            self._queued -= size
            if self._queued < self.queue_fills:
                self._room.set()
            if stopping:
                return

    async def _commit(self, batch: list[Item]) -> None:
        fills: list[Fill] = []
        snapshot: list[Fill] = []  # from snapshots: new ones were missed, now recovered
        sides: list[OrderSide] = []
        busts: list[Bust] = []
        markets: dict[str, Market] = {}
        spreads: dict[str, SpreadDefinition] = {}
        kept: list[Quarantined] = []
        released: list[Released] = []
        accounts: list[AccountsSeen] = []
        recounts: list[OrderRecount] = []
        snapshots: list[SnapshotReceived] = []
        for item in batch:
            if isinstance(item, FillsReceived):
                # A frame's fills are all live or all from a snapshot.
                (snapshot if item.fills[0].historical else fills).extend(item.fills)
            elif isinstance(item, OrderSide):
                sides.append(item)
            elif isinstance(item, BustsReceived):
                busts.extend(item.busts)
            elif isinstance(item, MarketsSeen):
                markets.update((market.market_id, market) for market in item.markets)
            elif isinstance(item, SnapshotReceived):
                last = snapshots[-1] if snapshots else None
                if (last is not None and not item.first and last.firm == item.firm
                        and last.account_id == item.account_id
                        and last.account == item.account):
                    # A later frame's counts include its snapshot's earlier
                    # frames': one row per date per batch, not per frame. (A
                    # first frame ends its batch, so ``last`` is a later one.)
                    snapshots[-1] = item
                else:
                    snapshots.append(item)
            elif isinstance(item, SpreadsSeen):
                spreads.update((spread.market_id, spread) for spread in item.definitions)
            elif isinstance(item, RecordsQuarantined):
                kept.extend(item.records)
            elif isinstance(item, Released):
                released.append(item)
                for fill in item.fills:
                    (snapshot if fill.historical else fills).append(fill)
                busts.extend(item.busts)
            elif isinstance(item, AccountsSeen):
                accounts.append(item)
            elif isinstance(item, OrderRecount):
                recounts.append(item)
        late_fills, late_busts = _late(self.sealed_through, fills, snapshot, busts)
        capture = CaptureBatch(
            accounts=[(seen.firm, list(seen.accounts)) for seen in accounts],
            quarantine=kept, markets=list(markets.values()), spreads=list(spreads.values()),
            late_fills=late_fills, late_busts=late_busts, fills=fills, recovered=snapshot,
            busts=busts, sides=sides, recounts=recounts,
            released=[(list(item.stored), list(item.unowned)) for item in released],
            snapshots=snapshots)
        self._report(batch, capture, await self.store.capture(capture), released)

    def _report(self, items: list[Item], batch: CaptureBatch, result: CaptureResult,
                released: list[Released]) -> None:
        """Count and log what the batch's commit changed."""
        metrics = self.metrics
        if result.by_account:
            metrics.stored(result.by_account)
        if batch.quarantine:
            metrics.inc("quarantine.kept", result.quarantined)
            if any(record.reason == "unknown_account" for record in batch.quarantine):
                for listener in self.unknown_listeners:
                    listener()
        if result.markets:
            log.info("markets.saved", changed=result.markets)
        if batch.spreads:
            metrics.inc("legs.placed", result.legs_placed)
        if result.spreads or result.legs_placed:
            log.info("spreads.saved", changed=result.spreads, legs_placed=result.legs_placed)
        if batch.late_fills or batch.late_busts:
            self._amended(len(batch.late_fills), result.amended_fills, result.amended_busts)
        fills, snapshot = batch.fills, batch.recovered
        if fills or snapshot:
            new = result.new_fills + result.recovered
            if snapshot:
                metrics.inc("fills.recovered", result.recovered)
            done_ns = time.monotonic_ns()
            metrics.inc("fills.captured", new)
            metrics.inc("fills.duplicate", len(fills) + len(snapshot) - new)
            metrics.inc("store.commits")
            if new:
                metrics.last_capture_ns = done_ns
            for item in items:
                if isinstance(item, FillsReceived):
                    metrics.latency.record(done_ns - item.received_ns, len(item.fills))
            log.debug("fill.captured", new=new, duplicate=len(fills) + len(snapshot) - new)
        if batch.busts:
            metrics.inc("fills.captured", result.fills_from_busts)
            metrics.inc("busts.recorded", result.new_busts)
            if result.fills_from_busts:
                metrics.last_capture_ns = time.monotonic_ns()
            if result.new_busts:
                log.info("bust.recorded", count=result.new_busts,
                         fills_from_busts=result.fills_from_busts)
        if batch.sides:
            metrics.inc("fills.side_resolved", result.sides_resolved)
        for recount, busted in zip(batch.recounts, result.recount_busts, strict=True):
            if busted:
                metrics.inc("busts.recorded", busted)
                log.info("bust.resolved", order_id=recount.order_id, busted=busted)
        for item, (stored, unowned) in zip(released, result.released, strict=True):
            metrics.inc("quarantine.released", stored)
            if stored or unowned:
                log.info("quarantine.released", stored=stored, unowned=unowned,
                         fills=len(item.fills), busts=len(item.busts))

    def _amended(self, late: int, new_fills: list[Fill], new_busts: list[Bust]) -> None:
        """Count and log the amendments of sealed days: never a silent change."""
        self.metrics.inc("fills.captured", len(new_fills))
        self.metrics.inc("fills.duplicate", late - len(new_fills))
        self.metrics.inc("busts.recorded", len(new_busts))
        if new_fills:
            self.metrics.last_capture_ns = time.monotonic_ns()
        amended = len(new_fills) + len(new_busts)
        if amended:
            self.metrics.inc("seal.amendments", amended)
            days = sorted({(f.account, f.trade_date.isoformat()) for f in new_fills}
                          | {(b.fill.account, b.fill.trade_date.isoformat()) for b in new_busts})
            log.warning("seal.amended", fills=len(new_fills), busts=len(new_busts),
                        days=[f"{account}@{day}" for account, day in days])


def _late(sealed: date | None, fills: list[Fill], snapshot: list[Fill],
          busts: list[Bust]) -> tuple[list[Fill], list[Bust]]:
    """Take out of the batch what belongs to sealed trade dates (``sealed`` or
    earlier), to be stored as amendments; return those fills and busts."""
    if sealed is None:
        return [], []
    late: list[Fill] = []
    for part in (fills, snapshot):
        if any(fill.trade_date <= sealed for fill in part):
            late.extend(fill for fill in part if fill.trade_date <= sealed)
            part[:] = [fill for fill in part if fill.trade_date > sealed]
    late_busts = [bust for bust in busts if bust.fill.trade_date <= sealed]
    if late_busts:
        busts[:] = [bust for bust in busts if bust.fill.trade_date > sealed]
    return late, late_busts


def _begins_snapshot(item: Item) -> bool:
    return isinstance(item, SnapshotReceived) and item.first


def _size(item: Item) -> int:
    if isinstance(item, FillsReceived):
        return len(item.fills)
    if isinstance(item, BustsReceived):
        return len(item.busts)
    if isinstance(item, Released):
        return len(item.fills) + len(item.busts)
    return 1 if isinstance(item, (OrderSide, RecordsQuarantined)) else 0
