"""T4's account snapshots as the reconcile sees them: how many fills each
holds per trade date, which frames make up one snapshot, and which accounts
a reconcile still waits for.

The decoder tallies a snapshot's fills per trade date as it decodes them
(:class:`~fillcapture.feeds.t4.decode.SnapshotTally`); the records it
quarantined are counted here too: a certificate says how many fills T4
reported, whatever became of them after.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fillcapture.feeds.t4.decode import SnapshotTally
from fillcapture.feeds.t4.proto import orderrouting_pb2
from fillcapture.feeds.t4.tradedate import ticks_trade_date, trade_date_of
from fillcapture.model import SnapshotReceived

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BUSTED = orderrouting_pb2.ORDER_CHANGE_TRADE_BUSTED


# Times outside these (seconds since the epoch) are no fill's: the decoder
# quarantines such a record, and it has no trade date to be counted under.
_EARLIEST = int((datetime(2000, 1, 1, tzinfo=UTC) - _EPOCH).total_seconds())
_LATEST = int((datetime(2100, 1, 1, tzinfo=UTC) - _EPOCH).total_seconds())


def _trade_date(trade: Any) -> date | None:
    """A fill message's trade date, as the decoder takes it: T4's ticks, else
    the CME date of its exchange time (its T4 time where that is unset);
    None where neither is usable."""
    ticks = ticks_trade_date(trade.trade_date)
    if ticks is not None:
        return ticks
    stamp = trade.exchange_time if trade.exchange_time.seconds else trade.time
    if not _EARLIEST <= stamp.seconds < _LATEST:
        return None
    return trade_date_of(trade.trade_date, _EPOCH + timedelta(seconds=stamp.seconds))


def count_record(kind: str, record: Any, fills: Counter[date]) -> int:
    """Count one record the decoder quarantined in ``fills`` (per trade date
    where it has one usable); 1 if it is a live bust, else 0.

    T4 reported it, whatever became of it: a certificate counts it as the
    fills it would have been. An ``order_update`` counts each of its
    ``trades`` and ``trade_legs``; an ``order_update_trade(_leg)`` is one
    fill, or one bust (``ORDER_CHANGE_TRADE_BUSTED``), which names a fill the
    snapshot also keeps among its order's trades.
    """
    if kind == "order_update":
        for trade in (*record.trades, *record.trade_legs):
            if (day := _trade_date(trade)) is not None:
                fills[day] += 1
        return 0
    if record.change == _BUSTED:
        return 1
    if (day := _trade_date(record)) is not None:
        fills[day] += 1
    return 0


def _has_details(snapshot: Any) -> bool:
    return any(item.WhichOneof("payload") == "account_details" for item in snapshot.messages)


class SnapshotTracker:
    """The t4 adapter's view of the snapshots it receives, across sessions.

    One account's snapshot may come as several consecutive frames; a frame
    begins a new snapshot when it carries the account's ``account_details``
    (T4 and the simulator put them in the first) or names another account
    than the frame before it. :meth:`expect` names the accounts a reconcile
    waits for: each is done once a snapshot of it *begins* after the call.
    """

    def __init__(self) -> None:
        self._current: tuple[str, Counter[date], int] | None = None
        self._waiting: set[str] = set()
        self._done = asyncio.Event()
        self._done.set()

    def new_session(self) -> None:
        """A new session: no snapshot is under way."""
        self._current = None

    def received(self, firm: str, numbers: Mapping[str, str], snapshot: Any,
                 tally: SnapshotTally) -> SnapshotReceived:
        """Take one ``account_snapshot`` frame and the decoder's ``tally`` of
        it; ``numbers`` are account numbers by id."""
        fills = tally.fills
        busts = tally.busts
        for kind, record in tally.quarantined:
            busts += count_record(kind, record, fills)
        account_id: str = snapshot.account_id
        current = self._current
        first = current is None or current[0] != account_id or _has_details(snapshot)
        if not first and current is not None:
            fills.update(current[1])
            busts += current[2]
        self._current = (account_id, fills, busts)
        if first and account_id in self._waiting:
            self._waiting.discard(account_id)
            if not self._waiting:
                self._done.set()
        return SnapshotReceived(firm, account_id, numbers.get(account_id, ""),
                                tuple(sorted(fills.items())), busts, first)

    def expect(self, account_ids: Iterable[str]) -> None:
        """From now on, wait for a fresh snapshot of each of ``account_ids``."""
        self._waiting = set(account_ids)
        self._done = asyncio.Event()
        if not self._waiting:
            self._done.set()

    async def wait(self, seconds: float) -> bool:
        """Whether every expected account's snapshot began within ``seconds``."""
        try:
            async with asyncio.timeout(seconds):
                await self._done.wait()
        except TimeoutError:
            return False
        return True

    @property
    def missing(self) -> frozenset[str]:
        """The expected accounts whose fresh snapshot has not begun yet."""
        return frozenset(self._waiting)
