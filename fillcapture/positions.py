"""The books recorded at each seal: a firm's open lots after a sealed trade
date, and its summary rows and per-account activity through it.

:func:`fillcapture.reports.summarize` starts from the latest recorded day
before the range it is asked for (a position opened earlier is realized
against its real opening price) and reads the recorded rows rather than
computing them again. A change to a recorded day or an earlier one (an
amendment) discards what was recorded from it on; the next seal records it
again, a calendar month at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from fillcapture.reports import DailySummary
from fillcapture.store import DayActivity, FillQuery, PositionDay, Store, StoredFill


async def record_positions(store: Store, firm: str, through: date) -> PositionDay | None:
    """Record ``firm``'s positions after its fills of ``through`` and before,
    and its summary rows through ``through``, continuing from the latest day
    recorded before it (or from the first fill). ``None`` if the fills changed
    meanwhile (an amendment): the next call starts over from before the change.

    A long stretch unrecorded (a first seal, or one after an early amendment)
    is recorded a calendar month at a time: memory holds a month of rows.
    """
    covered = await store.summary_coverage(firm)
    start = covered if covered is not None else await store.first_trade_date(firm)
    if start is not None:
        for month_end in _month_ends(start, through):
            if await _record_positions(store, firm, month_end) is None:
                return None
    return await _record_positions(store, firm, through)


def _month_ends(start: date, through: date) -> list[date]:
    """The last days of the months from ``start``'s to the one before
    ``through``'s, those from ``start`` on."""
    ends = []
    month = start.replace(day=1)
    while (month.year, month.month) < (through.year, through.month):
        following = (month + timedelta(days=31)).replace(day=1)
        end = following - timedelta(days=1)
        if end >= start:
            ends.append(end)
        month = following
    return ends


async def _record_positions(store: Store, firm: str, through: date) -> PositionDay | None:
    mark = await store.invalidation_mark()
    covered = await store.summary_coverage(firm)
    # Continue from positions whose day's rows are recorded too.
    base = None if covered is None else await store.position_day(
        firm, min(through, covered) + timedelta(days=1))
    if base is not None and base.trade_date == through:
        return base
    after = None if base is None else base.trade_date
    summary = DailySummary(since=None if after is None else after + timedelta(days=1),
                           opening=() if base is None else (base,))
    activity: dict[tuple[str, date], _Activity] = {}
    # Account by account, through the account index: the firm's other fills
    # are not read, and each account's new fills are few.
    for account in await store.fill_accounts():
        query = FillQuery(firm=firm, account=account,
                          since=None if after is None else after + timedelta(days=1),
                          until=through, include_busted=True)
        async for fill in store.fills(query):
            summary.add(fill)  # which leaves busted fills out
            counts = activity.get((fill.account, fill.trade_date))
            if counts is None:
                counts = activity[(fill.account, fill.trade_date)] = _Activity()
            counts.add(fill)
    day = summary.positions(firm, through)
    days = [DayActivity(firm, account, when, counts.fills, counts.volume, counts.busted,
                        counts.first, counts.last)
            for (account, when), counts in activity.items()]
    saved = await store.save_positions(day, mark, summary.rows(), days, after)
    return day if saved else None


@dataclass(slots=True)
class _Activity:
    """One account's fills of one trade date, being counted."""

    fills: int = 0
    volume: int = 0
    busted: int = 0
    first: datetime | None = None
    last: datetime | None = None

    def add(self, fill: StoredFill) -> None:
        if fill.busted:
            self.busted += 1
            return
        self.fills += 1
        self.volume += fill.volume
        if self.first is None:
            self.first = fill.exchange_time  # fills come in time order
        self.last = fill.exchange_time
