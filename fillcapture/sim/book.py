"""The simulator's top-day order book: markets, accounts, orders and their fills.

T4 keeps the current trade day only; this book is what an account snapshot serves.
"""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from fillcapture.sim.ledger import LedgerFill

CHICAGO = ZoneInfo("America/Chicago")
_TICKS_PER_DAY = 864_000_000_000  # .NET ticks are 100 ns
_DOTNET_EPOCH = datetime.date(1, 1, 1)
_ROLL_HOUR = 17


def cme_trade_date(moment: datetime.datetime) -> datetime.date:
    """The CME trade date of ``moment``: from 17:00 Chicago time it is the next
    business day, and a weekend date moves on to Monday."""
    local = moment.astimezone(CHICAGO)
    day = local.date()
    if local.hour >= _ROLL_HOUR:
        day += datetime.timedelta(days=1)
    while day.weekday() >= 5:
        day += datetime.timedelta(days=1)
    return day


def dotnet_ticks(day: datetime.date) -> int:
    """``trade_date`` as T4 puts it on the wire: .NET ticks of the date's midnight."""
    return (day - _DOTNET_EPOCH).days * _TICKS_PER_DAY


@dataclass(frozen=True, slots=True)
class Market:
    """A futures contract, or a spread of them. Prices are whole ticks;
    ``tick_units`` is the tick in units of ``10**-decimals``, so price text is
    exact integer arithmetic. ``point_value`` is currency per whole price point
    and contract. A spread market has ``legs`` (its definition, sent in
    ``MarketDetails.legs``) and T4's ``strategy_type``; its price is the
    legs' prices times their ratios and directions, summed."""

    market_id: str
    exchange_id: str
    contract_id: str
    decimals: int
    tick_units: int
    start_ticks: int
    point_value: str
    legs: tuple[SpreadLeg, ...] = ()
    strategy_type: int = 0

    def price_text(self, ticks: int) -> str:
        """The decimal text of ``ticks`` ticks, with the tick's number of decimals
        (a spread's price may be negative)."""
        units = ticks * self.tick_units
        if not self.decimals:
            return str(units)
        whole, fraction = divmod(abs(units), 10**self.decimals)
        return f"{'-' if units < 0 else ''}{whole}.{fraction:0{self.decimals}d}"


@dataclass(frozen=True, slots=True)
class SpreadLeg:
    """A leg of a spread market: ``ratio`` contracts of ``market`` per spread
    contract, bought with the spread (``direction`` +1) or sold (-1)."""

    market: Market
    ratio: int
    direction: int


def _market(market_id: str, tick: str, start: str, point_value: str) -> Market:
    tick_value = Decimal(tick)
    decimals = -int(tick_value.as_tuple().exponent)
    tick_units = int(tick_value.scaleb(decimals))
    start_units = int(Decimal(start).scaleb(decimals))
    exchange_id, _, rest = market_id.partition("_")
    contract_id = rest.split(" ")[1]
    return Market(market_id, exchange_id, contract_id, decimals, tick_units,
                  start_units // tick_units, point_value)


# Point values are the exchanges' contract multipliers (6E: 125,000 euros
# at a price in dollars per euro; ZC: 5,000 bushels at cents per bushel).
MARKETS: tuple[Market, ...] = (
    _market("XCME_Eq ES (Z26)", "0.25", "6000.00", "50"),
    _market("XCME_Eq NQ (Z26)", "0.25", "21000.00", "20"),
    _market("XNYM_En CL (F27)", "0.01", "70.00", "1000"),
    _market("XCEC_Mt GC (G27)", "0.1", "2600.0", "100"),
    _market("XCME_FX 6E (Z26)", "0.00005", "1.08500", "125000"),
    _market("XCBT_Ag ZC (Z26)", "0.25", "450.00", "50"),
)
"""The outright markets orders trade."""

LEG_MARKETS: tuple[Market, ...] = (
    _market("XCME_Eq ES (H27)", "0.25", "6040.00", "50"),
    _market("XNYM_En CL (G27)", "0.01", "70.20", "1000"),
    _market("XNYM_En CL (H27)", "0.01", "70.35", "1000"),
)
"""Contracts traded only as spread legs."""


def _spread(market_id: str, strategy_type: int, point_value: str,
            *legs: tuple[str, int]) -> Market:
    by_id = {market.market_id: market for market in MARKETS + LEG_MARKETS}
    first = by_id[legs[0][0]]
    spread = _market(market_id, f"{first.tick_units}E-{first.decimals}", "0", point_value)
    return dataclasses.replace(
        spread, legs=tuple(SpreadLeg(by_id[leg], abs(signed), 1 if signed > 0 else -1)
                           for leg, signed in legs), strategy_type=strategy_type)


SPREADS: tuple[Market, ...] = (
    # A calendar spread (StrategyType 1): buying it buys Z26 and sells H27.
    _spread("XCME_Eq ES (Z26-H27)", 1, "50", ("XCME_Eq ES (Z26)", 1), ("XCME_Eq ES (H27)", -1)),
    # A butterfly (StrategyType 4): one contract of it trades two of the middle leg.
    _spread("XNYM_En CL (F27-G27-H27)", 4, "1000", ("XNYM_En CL (F27)", 1),
            ("XNYM_En CL (G27)", -2), ("XNYM_En CL (H27)", 1)),
)
"""The spread markets spread orders trade (``[sim] spread_fraction``)."""


@dataclass(frozen=True, slots=True)
class SimAccount:
    number: str
    account_id: str
    name: str


class Order:
    """One order of the day: its fixed terms, the fills it has had so far and their busts.

    ``fills`` holds every ledger fill as made (a spread fill is its
    spread-level trade, with ``[sim] spread_trades``, then one leg fill per
    leg) with ``fill_micros`` and ``filled_after`` (the order's volume filled
    once that entry was made) beside it; ``busts`` holds ``(index into fills,
    bust time)`` in bust order. All only ever grow, so two prefix lengths are
    a consistent view of the order at an earlier moment (what a snapshot keeps)."""

    __slots__ = (
        "account",
        "busts",
        "fill_micros",
        "filled",
        "filled_after",
        "fills",
        "legs",
        "market",
        "planned",
        "side",
        "submit_micros",
        "trade_date",
        "trade_date_ticks",
        "unique_id",
        "volume",
    )

    def __init__(
        self,
        unique_id: str,
        account: SimAccount,
        market: Market,
        side: int,
        planned: list[int],
        submit_micros: int,
        trade_date: datetime.date,
    ) -> None:
        self.unique_id = unique_id
        self.account = account
        self.market = market
        self.side = side  # BuySell on the wire: 1 buy, -1 sell
        self.planned = planned  # volume of each fill, in order (of a spread: spread contracts)
        self.legs = len(market.legs) or 1  # 1 for an outright order, else the spread's legs
        self.volume = sum(planned)
        self.submit_micros = submit_micros
        self.trade_date = trade_date
        self.trade_date_ticks = dotnet_ticks(trade_date)
        self.fills: list[LedgerFill] = []
        self.fill_micros: list[int] = []
        self.filled_after: list[int] = []
        self.busts: list[tuple[int, int]] = []
        self.filled = 0  # volume filled; of a spread, spread contracts (not leg volumes)


OrderView = tuple[Order, int, int]
"""An order as it stood when a snapshot was taken: the order, its fill count and bust count then."""


class Book:
    """Orders of the current trade day, per account number, in submission order."""

    def __init__(self, trade_date: datetime.date) -> None:
        self.trade_date = trade_date
        self._orders: dict[str, list[Order]] = {}

    def add(self, order: Order) -> None:
        orders = self._orders.get(order.account.number)
        if orders is None:
            orders = self._orders[order.account.number] = []
        orders.append(order)

    def snapshot(self, account_number: str) -> list[OrderView]:
        """The account's book at this instant; O(orders), no copying of fills."""
        return [
            (order, len(order.fills), len(order.busts))
            for order in self._orders.get(account_number, ())
        ]

    def roll(self, trade_date: datetime.date) -> None:
        """Start a new trade day: T4 forgets the old day's orders."""
        self.trade_date = trade_date
        self._orders = {}

    def fill_count(self, account_number: str) -> int:
        return sum(len(order.fills) for order in self._orders.get(account_number, ()))
