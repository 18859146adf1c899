"""The daily summary of an account's trading: counts, volumes, VWAPs, FIFO P&L, positions.

One pass over stored fills in time order (``Store.fills()`` order). Memory holds
each (account, market)'s open lots and one row per (trade date, account,
market) reported, never the fills themselves: ``fillcapture report daily``
and the HTTP API read years of fills through it.

The rules, which the README repeats for end users:

- **Positions and P&L run per (firm, account, market)**, FIFO: a sell closes
  the oldest open buys first, a buy the oldest open sells. Closing ``q``
  contracts bought at ``b`` with a sell at ``s`` realizes ``(s - b) * q``
  price points; closing a short sold at ``s`` with a buy at ``b`` the same. A
  fill larger than the opposite position closes all of it and opens the rest
  on its own side (long 2, sell 5: 2 closed, short 3). Realized P&L belongs to
  the trade date of the closing fill. Each fill counts on its own trade date,
  so markets whose trade dates roll at different times mix freely; a row's
  position is the one after its last fill in time order.
- **Lots carry across trade dates**, so a summary from ``since`` must start
  from the account's open lots before it: a position opened before ``since``
  and closed after it is realized against its real opening price. Those lots
  come from the positions recorded at each seal
  (:func:`fillcapture.positions.record_positions`:
  the books after a sealed day, kept until a change to that day or an
  earlier one discards them), or else from every earlier fill. Rows before
  ``since`` are simply not reported. The seal records the days' rows too,
  and :func:`summarize` reads those rather than computing them again. Both
  rely on each market's trade dates following its fills' time order, as
  T4's do.
- **Busted fills never happened**: they are skipped, neither counted nor matched.
- **Fills of unknown side** (their order was never seen) cannot be placed in a
  position: they are left out and counted in the row's ``unknown_side``. A row
  with any is incomplete, and so may be the positions after it.
- **Spread leg fills** count like any fill, on their own contract and side:
  the capture places each leg by its spread's definition (a calendar spread
  bought buys one month and sells the other; see
  :mod:`fillcapture.feeds.t4.legs`). A leg whose spread's definition has not
  arrived yet (``pending_leg``: the spread's market, no side) is left out and
  counted in ``spread_legs``, on the spread market's row. The spread-level
  trade of an order with legs (``spread``) is never counted: its legs carry
  the position, so nothing counts twice. A trade of a spread market whose
  order has no legs is an ordinary fill of the spread market.
- **Amounts are exact decimals.** Counts, volumes, P&L and positions are exact.
  A VWAP is rounded half to even to four decimals beyond the finest price that
  went into it, then trailing zeros down to that price's own decimals are
  dropped (6012.25 and 6012.50 give 6012.375; 1.08500, 1.08505 and 1.08505
  give 1.085033333).
- **Currency P&L** is P&L in points times the market's point value (currency
  per point per contract), where one is known; else ``None``. The daemon
  records each market's point value from T4's market details (the
  ``markets`` table); configured values (``[api] point_values``, or
  ``--point-value``) take precedence, for markets T4 never described and
  for corrections. See :func:`point_values`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Context, Decimal, Inexact, InvalidOperation
from fractions import Fraction

from fillcapture.model import Side
from fillcapture.store import (
    DailyRow,
    FillQuery,
    PositionDay,
    Store,
    StoredFill,
)

VWAP_EXTRA_DECIMALS = 4
"""Decimals a VWAP keeps beyond the finest price it averages."""

# Sums and products of prices never round: T4 prices have at most 36 digits,
# and a result needing more than this many raises rather than rounds.
_EXACT = Context(prec=200, traps=[Inexact, InvalidOperation])
# Bound once: the summary does a few of each per fill.
_add, _multiply, _subtract = _EXACT.add, _EXACT.multiply, _EXACT.subtract
_ZERO = Decimal(0)


@dataclass(slots=True)
class _Lot:
    """Contracts opened by one fill (or by adjacent fills at one price), still open."""

    price: Decimal
    volume: int


@dataclass(slots=True)
class _Book:
    """One (firm, account, market)'s open lots, oldest first, all on the side of
    ``net`` (signed contracts: long above zero, short below)."""

    lots: deque[_Lot] = field(default_factory=deque)
    net: int = 0


@dataclass(slots=True)
class _Day:
    """One row being accumulated."""

    buys: int = 0
    buy_volume: int = 0
    buy_notional: Decimal = _ZERO
    buy_decimals: int = 0
    sells: int = 0
    sell_volume: int = 0
    sell_notional: Decimal = _ZERO
    sell_decimals: int = 0
    pnl: Decimal = _ZERO
    net: int = 0
    unknown_side: int = 0
    spread_legs: int = 0


_Key = tuple[str, str, str]  # firm, account, market_id

PRICES_KEPT = 4096
"""Parsed prices a summary keeps (by their text), so that a year's summary
holds no more of them than a day's."""


class DailySummary:
    """Feed it fills in time order with :meth:`add`; :meth:`rows` gives the summary.

    ``since``: report trade dates from this one on (earlier fills still build
    the positions). ``point_values``: currency per price point and contract,
    by market id, for the markets where it is known.
    """

    def __init__(self, *, since: date | None = None,
                 point_values: Mapping[str, Decimal] | None = None,
                 opening: Sequence[PositionDay] = ()) -> None:
        self._since = since
        self._point_values = dict(point_values or {})
        self._books: dict[_Key, _Book] = {}
        self._days: dict[tuple[date, str, str, str], _Day] = {}
        self._prices: dict[str, tuple[Decimal, int]] = {}  # price text: value, decimals
        # Per firm, the day whose positions the books start from: fills of it
        # and earlier are already in them.
        self._opened: dict[str, date] = {}
        for day in opening:
            self._opened[day.firm] = day.trade_date
            for (account, market_id), lots in day.books.items():
                self._books[(day.firm, account, market_id)] = _Book(
                    deque(_Lot(price, abs(volume)) for price, volume in lots),
                    sum(volume for _, volume in lots))

    def add(self, fill: StoredFill) -> None:
        if fill.busted:
            return
        opened = self._opened.get(fill.firm)
        if opened is not None and fill.trade_date <= opened:
            return
        kind = fill.kind
        if kind == "spread":
            return
        key = (fill.firm, fill.account, fill.market_id)
        book = self._books.get(key)
        if book is None:
            book = self._books[key] = _Book()
        day = self._day(fill.trade_date, key, book.net)
        if kind == "pending_leg":
            if day is not None:
                day.spread_legs += 1
            return
        if fill.side is None:
            if day is not None:
                day.unknown_side += 1
            return
        parsed = self._prices.get(fill.price)
        if parsed is None:  # a day's fills trade at few prices
            if len(self._prices) >= PRICES_KEPT:
                self._prices.clear()
            number = Decimal(fill.price)
            parsed = self._prices[fill.price] = (number, _decimals(number))
        price, decimals = parsed
        realized = _trade(book, fill.side, fill.volume, price)
        if day is None:
            return
        notional = _multiply(price, fill.volume)
        if fill.side is Side.BUY:
            day.buys += 1
            day.buy_volume += fill.volume
            day.buy_notional = _add(day.buy_notional, notional)
            day.buy_decimals = max(day.buy_decimals, decimals)
        else:
            day.sells += 1
            day.sell_volume += fill.volume
            day.sell_notional = _add(day.sell_notional, notional)
            day.sell_decimals = max(day.sell_decimals, decimals)
        day.pnl = _add(day.pnl, realized)
        day.net = book.net

    def positions(self, firm: str, trade_date: date) -> PositionDay:
        """``firm``'s open lots now, as positions of ``trade_date``."""
        return PositionDay(firm, trade_date, {
            (account, market_id): tuple((lot.price, lot.volume if book.net > 0 else -lot.volume)
                                        for lot in book.lots)
            for (book_firm, account, market_id), book in self._books.items()
            if book_firm == firm and book.lots})

    def rows(self) -> list[DailyRow]:
        """The rows so far, by trade date, firm, account and market."""
        return [self._row(when, (firm, account, market_id), day)
                for (when, firm, account, market_id), day in sorted(self._days.items())]

    def _day(self, when: date, key: _Key, net: int) -> _Day | None:
        """The row of ``key`` on ``when``, created with the position so far
        (``net``); ``None`` before ``since``."""
        if self._since is not None and when < self._since:
            return None
        firm, account, market_id = key
        day = self._days.get((when, firm, account, market_id))
        if day is None:
            day = _Day(net=net)
            self._days[(when, firm, account, market_id)] = day
        return day

    def _row(self, when: date, key: _Key, day: _Day) -> DailyRow:
        firm, account, market_id = key
        point_value = self._point_values.get(market_id)
        return DailyRow(
            trade_date=when,
            firm=firm,
            account=account,
            market_id=market_id,
            buys=day.buys,
            buy_volume=day.buy_volume,
            buy_vwap=_vwap(day.buy_notional, day.buy_volume, day.buy_decimals),
            sells=day.sells,
            sell_volume=day.sell_volume,
            sell_vwap=_vwap(day.sell_notional, day.sell_volume, day.sell_decimals),
            pnl_points=day.pnl,
            pnl_currency=None if point_value is None else _EXACT.multiply(day.pnl, point_value),
            net_position=day.net,
            unknown_side=day.unknown_side,
            spread_legs=day.spread_legs,
        )


async def point_values(store: Store, *overrides: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Point values by market id: those recorded from T4's market details,
    then each of ``overrides`` in turn replacing them market by market."""
    values = {market_id: market.point_value for market_id, market in
              (await store.markets()).items()}
    for override in overrides:
        values.update(override)
    return values


async def summarize(store: Store, query: FillQuery, *, since: date | None = None,
                    point_values: Mapping[str, Decimal] | None = None) -> list[DailyRow]:
    """The daily summary of ``query``'s live fills (its ``since`` ignored), rows
    of trade dates ``since`` to ``query.until``.

    Per firm, rows of the days the seal job recorded are read as recorded; the
    later days' rows are computed from the fills after the latest positions
    recorded before them (or, with none, from the account's first fill). The
    rows are the same either way.
    """
    values = dict(point_values or {})
    until = query.until
    rows: list[DailyRow] = []
    accounts: list[str] | None = None
    if query.account is not None:
        accounts = [query.account]
    elif query.user is not None:
        accounts = [owner.account for owner in await store.user_accounts(query.user) or []]
    for firm in await store.fill_firms():
        if query.firm is not None and firm != query.firm:
            continue
        scoped = replace(query, firm=firm, include_busted=False)
        covered = await store.summary_coverage(firm)
        live_from = since
        if covered is not None and (since is None or since <= covered):
            last = covered if until is None else min(until, covered)
            rows.extend(_priced(row, values) for row in
                        await store.summary_rows(scoped, since, last))
            live_from = covered + timedelta(days=1)
        if until is not None and live_from is not None and live_from > until:
            continue
        opening: tuple[PositionDay, ...] = ()
        start = None
        if live_from is not None:
            day = await store.position_day(firm, live_from, accounts)
            if day is not None:
                opening = (day,)
                start = day.trade_date + timedelta(days=1)
        summary = DailySummary(since=live_from, point_values=values, opening=opening)
        async for fill in store.fills(replace(scoped, since=start)):
            summary.add(fill)
        rows.extend(summary.rows())
    rows.sort(key=lambda row: (row.trade_date, row.firm, row.account, row.market_id))
    return rows


def _priced(row: DailyRow, point_values: Mapping[str, Decimal]) -> DailyRow:
    point_value = point_values.get(row.market_id)
    if point_value is None:
        return row
    # Built positionally: dataclasses.replace costs 20 us a row, a month's
    # summary of a busy user over 1,300 rows.
    return DailyRow(row.trade_date, row.firm, row.account, row.market_id, row.buys,
                    row.buy_volume, row.buy_vwap, row.sells, row.sell_volume, row.sell_vwap,
                    row.pnl_points, _EXACT.multiply(row.pnl_points, point_value),
                    row.net_position, row.unknown_side, row.spread_legs)


REPORT_COLUMNS = (
    "trade_date", "firm", "account", "market_id", "buys", "buy_volume", "buy_vwap", "sells",
    "sell_volume", "sell_vwap", "pnl_points", "pnl_currency", "net_position", "unknown_side",
    "spread_legs",
)


def report_row(row: DailyRow) -> dict[str, str | int | None]:
    """``row`` in :data:`REPORT_COLUMNS` order, JSON-ready: decimals as exact
    strings (JSON numbers would turn them into floats), counts as integers.
    Spelled out field by field: a month's summary has thousands of rows."""
    buy_vwap, sell_vwap, pnl_currency = row.buy_vwap, row.sell_vwap, row.pnl_currency
    return {
        "trade_date": row.trade_date.isoformat(),
        "firm": row.firm,
        "account": row.account,
        "market_id": row.market_id,
        "buys": row.buys,
        "buy_volume": row.buy_volume,
        "buy_vwap": None if buy_vwap is None else f"{buy_vwap:f}",
        "sells": row.sells,
        "sell_volume": row.sell_volume,
        "sell_vwap": None if sell_vwap is None else f"{sell_vwap:f}",
        "pnl_points": f"{row.pnl_points:f}",
        "pnl_currency": None if pnl_currency is None else f"{pnl_currency:f}",
        "net_position": row.net_position,
        "unknown_side": row.unknown_side,
        "spread_legs": row.spread_legs,
    }


def decimal_text(value: Decimal) -> str:
    """Plain decimal notation, never an exponent (``0.0000005``, not ``5E-7``)."""
    return f"{value:f}"


def _trade(book: _Book, side: Side, volume: int, price: Decimal) -> Decimal:
    """Apply one fill to ``book``; return the P&L it realizes, in price points."""
    sign = 1 if side is Side.BUY else -1
    realized = _ZERO
    while volume and book.net * sign < 0:  # the fill closes the opposite side first
        lot = book.lots[0]
        closed = min(volume, lot.volume)
        sold, bought = (price, lot.price) if side is Side.SELL else (lot.price, price)
        realized = _add(realized, _multiply(_subtract(sold, bought), closed))
        lot.volume -= closed
        volume -= closed
        book.net += sign * closed
        if not lot.volume:
            book.lots.popleft()
    if volume:  # what is left opens (or adds to) a position on the fill's side
        if book.lots and book.lots[-1].price == price:
            book.lots[-1].volume += volume
        else:
            book.lots.append(_Lot(price, volume))
        book.net += sign * volume
    return realized


def _decimals(price: Decimal) -> int:
    exponent = price.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _vwap(notional: Decimal, volume: int, decimals: int) -> Decimal | None:
    """``notional / volume`` rounded as the module says; ``None`` for no volume."""
    if not volume:
        return None
    places = decimals + VWAP_EXTRA_DECIMALS
    # Fraction rounds half to even, exactly; Decimal division would round twice.
    units = int(round(Fraction(notional) / volume, places) * 10**places)
    while places > decimals and units % 10 == 0:
        units //= 10
        places -= 1
    return Decimal(f"{units}E-{places}")
