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
    VisibleAccount,
)
from fillcapture.outage import StoreOutage

log = structlog.get_logger(__name__)


class FillSink(Protocol):
    """The part of a store the writer needs."""

    async def insert_fills(self, fills: list[Fill]) -> int: ...

    async def resolve_sides(self, items: list[OrderSide]) -> int: ...

    async def insert_busts(self, busts: list[Bust]) -> tuple[int, int]: ...

    async def insert_amendments(
        self, fills: list[Fill], busts: list[Bust]
    ) -> tuple[list[Fill], list[Bust]]: ...

    async def save_markets(self, markets: list[Market]) -> int: ...

    async def save_spreads(self, definitions: list[SpreadDefinition]) -> tuple[int, int]: ...

    async def quarantine(self, records: list[Quarantined]) -> int: ...

    async def resolve_quarantined(self, ids: list[int], resolution: str) -> int: ...

    async def save_accounts(self, firm: str, accounts: list[VisibleAccount]) -> None: ...

    async def bust_missing(self, recount: OrderRecount) -> int: ...
    async def save_snapshots(self, snapshots: list[SnapshotReceived]) -> None: ...


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
        for seen in accounts:
            await self.store.save_accounts(seen.firm, list(seen.accounts))
        if kept:
            await self._keep(kept)
        if markets:
            changed = await self.store.save_markets(list(markets.values()))
            if changed:
                log.info("markets.saved", changed=changed)
        if spreads:
            # Before the fills: a leg of a spread defined in this batch is
            # placed as it is stored; those stored pending before are placed now.
            changed, placed = await self.store.save_spreads(list(spreads.values()))
            self.metrics.inc("legs.placed", placed)
            if changed or placed:
                log.info("spreads.saved", changed=changed, legs_placed=placed)
        if self.sealed_through is not None:
            await self._amend(fills, snapshot, busts)
        if fills or snapshot:
            new = await self.store.insert_fills(fills) if fills else 0
            if snapshot:
                recovered = await self.store.insert_fills(snapshot)
                self.metrics.inc("fills.recovered", recovered)
                new += recovered
            done_ns = time.monotonic_ns()
            metrics = self.metrics
            metrics.inc("fills.captured", new)
            metrics.inc("fills.duplicate", len(fills) + len(snapshot) - new)
            metrics.inc("store.commits")
            if new:
                metrics.last_capture_ns = done_ns
            for item in batch:
                if isinstance(item, FillsReceived):
                    metrics.latency.record(done_ns - item.received_ns, len(item.fills))
            log.debug("fill.captured", new=new, duplicate=len(fills) + len(snapshot) - new)
        if busts:
            # After the fills: a bust and its fill in one batch end the same
            # either way, but this way the fill counts as captured, not recovered.
            new_fills, new_busts = await self.store.insert_busts(busts)
            self.metrics.inc("fills.captured", new_fills)
            self.metrics.inc("busts.recorded", new_busts)
            if new_fills:
                self.metrics.last_capture_ns = time.monotonic_ns()
            if new_busts:
                log.info("bust.recorded", count=new_busts, fills_from_busts=new_fills)
        if sides:
            resolved = await self.store.resolve_sides(sides)
            self.metrics.inc("fills.side_resolved", resolved)
        for recount in recounts:
            # After the batch's fills: the order's trades are all stored.
            busted = await self.store.bust_missing(recount)
            if busted:
                self.metrics.inc("busts.recorded", busted)
                log.info("bust.resolved", order_id=recount.order_id, busted=busted)
        for item in released:
            # Only now that their fills are committed: a crash before this
            # leaves them quarantined, and the retry stores them once anyway.
            stored = await self.store.resolve_quarantined(list(item.stored), "stored")
            unowned = await self.store.resolve_quarantined(list(item.unowned), "unowned")
            self.metrics.inc("quarantine.released", stored)
            if stored or unowned:
                log.info("quarantine.released", stored=stored, unowned=unowned,
                         fills=len(item.fills), busts=len(item.busts))
        if snapshots:
            # Last: a batch ends at a snapshot's first frame, so every fill
            # committed so far came before it and every later one after.
            await self.store.save_snapshots(snapshots)

    async def _keep(self, records: list[Quarantined]) -> None:
        new = await self.store.quarantine(records)
        self.metrics.inc("quarantine.kept", new)
        if any(record.reason == "unknown_account" for record in records):
            for listener in self.unknown_listeners:
                listener()


    async def _amend(self, fills: list[Fill], snapshot: list[Fill], busts: list[Bust]) -> None:
        """Take out of the batch what belongs to sealed trade dates, and store it
        as amendments: logged and counted, never a silent change of a sealed day."""
        sealed = self.sealed_through
        assert sealed is not None
        late: list[Fill] = []
        for batch in (fills, snapshot):
            if any(fill.trade_date <= sealed for fill in batch):
                late.extend(fill for fill in batch if fill.trade_date <= sealed)
                batch[:] = [fill for fill in batch if fill.trade_date > sealed]
        late_busts = [bust for bust in busts if bust.fill.trade_date <= sealed]
        if late_busts:
            busts[:] = [bust for bust in busts if bust.fill.trade_date > sealed]
        if not late and not late_busts:
            return
        new_fills, new_busts = await self.store.insert_amendments(late, late_busts)
        self.metrics.inc("fills.captured", len(new_fills))
        self.metrics.inc("fills.duplicate", len(late) - len(new_fills))
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
