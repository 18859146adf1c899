"""The domain model: fills, busts and the events a feed adapter yields.

Plain frozen dataclasses; this module imports nothing from the rest of the package.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple


class Side(enum.Enum):
    """Side of a fill. T4 puts the side on the order, not on the fill."""

    BUY = "BUY"
    SELL = "SELL"


@dataclass(frozen=True, slots=True)
class FillIdentity:
    """Identity of one fill (T4_API_V1 §8), qualified by firm.

    ``trade_key`` is the exchange trade id, or ``#<sequence_order>`` where T4
    sent none. ``leg_index`` is ``None`` for an outright (non-spread) fill.
    """

    firm: str
    account_id: str
    order_id: str
    trade_key: str
    leg_index: int | None


OUTRIGHT, LEG, SPREAD_TRADE = 0, 1, 2
"""``Fill.kind``: a fill of its own market, a spread leg fill, a spread-level trade."""


class Fill(NamedTuple):
    """One execution as T4 reported it, normalized.

    ``price`` is the exact decimal T4 sent; ``price_text`` is its original text,
    kept so the store can print the price exactly as sent. A named tuple rather
    than a frozen dataclass: it is as immutable and is built three times faster,
    which matters at 100,000 fills a second on the capture path.
    """

    firm: str
    account_id: str
    account: str
    order_id: str
    exchange_trade_id: str
    sequence_order: int
    leg_index: int | None
    market_id: str
    side: Side | None
    volume: int
    price: Decimal
    price_text: str
    exchange_time: datetime
    trade_date: date
    historical: bool = False
    kind: int = 0
    spread_market_id: str | None = None
    leg_sign: int | None = None
    order_side: Side | None = None

    @property
    def trade_key(self) -> str:
        return self.exchange_trade_id or f"#{self.sequence_order}"

    @property
    def key(self) -> FillIdentity:
        """The fill's identity: the same for every delivery of it."""
        return FillIdentity(self.firm, self.account_id, self.order_id, self.trade_key,
                            self.leg_index)


@dataclass(frozen=True, slots=True)
class Bust:
    """T4 busted (cancelled) ``fill`` at ``busted_at``.

    The bust message carries the busted fill's own fields, so ``fill`` is
    complete: a bust whose fill was never seen (it came and went while the
    daemon was away) still stores that fill, marked busted.
    """

    fill: Fill
    busted_at: datetime


@dataclass(frozen=True, slots=True)
class VisibleAccount:
    """An account the fill user can see. ``account_id`` is T4's GUID, by which
    fills are attributed; ``account`` its number (the login's
    ``account_number``, an order's ``account_number``); ``code`` the short
    name an account is created with (``AccountDetails.account``, e.g.
    ``jsmith01``), which may differ from the number; ``name`` its long name."""

    account_id: str
    account: str
    name: str = ""
    code: str = ""

    def merged(self, newer: VisibleAccount) -> VisibleAccount:
        """This account with what ``newer`` says of it, where it says anything."""
        return VisibleAccount(self.account_id, newer.account or self.account,
                              newer.name or self.name, newer.code or self.code)


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A record T4 sent that could not be stored correctly, kept rather than lost.

    ``raw`` is a serialized ``ServerMessage`` holding just this record inside
    its enclosing block (an ``OrderUpdateMulti`` with the block's ids, an order
    with only the offending trade), or the whole frame where it did not decode
    at all: feeding ``raw`` to the decoder again reproduces the record, so a
    later version (or a registry that now knows the account) can store it.
    ``reason`` is a short stable code (``invalid_price``, ``unknown_account``,
    ``undecodable``, ...), ``detail`` a human line. ``account`` is the account
    number where known, else ``""``.
    """

    firm: str
    account_id: str
    account: str
    order_id: str
    reason: str
    detail: str
    kind: str
    raw: bytes
    trade_date: date | None
    received_at: datetime
    # The record's order side where the decoder knew it: a lone fill message
    # carries none, so a retry needs the side the order had said.
    side: Side | None = None


@dataclass(frozen=True, slots=True)
class Market:
    """A market's terms as T4's market details give them. ``point_value`` is
    currency per whole price point and contract: realized P&L in points times
    it is P&L in the account's currency."""

    market_id: str
    exchange_id: str
    contract_id: str
    point_value: Decimal


@dataclass(frozen=True, slots=True)
class SpreadLeg:
    """One leg of a spread market: its contract, its ratio (contracts of the
    leg per contract of the spread) and its ``direction``: +1 when the leg
    trades on the spread order's side, -1 when against it."""

    market_id: str
    ratio: int
    direction: int


@dataclass(frozen=True, slots=True)
class SpreadDefinition:
    """A strategy (spread) market's legs as T4's market details give them, in
    ``leg_index`` order. ``strategy_type`` is T4's ``StrategyType`` number
    (1 calendar spread, 4 butterfly, ...)."""

    market_id: str
    strategy_type: int
    legs: tuple[SpreadLeg, ...]


# --- Feed events: what a feed adapter yields, in order. ---------------------


@dataclass(frozen=True, slots=True)
class Connected:
    """Logged in. ``accounts`` are those the fill user can see.

    ``lists_accounts`` is False for a source that cannot say which accounts it
    will carry (an MQTT feed brings whatever its publishers send): no owned
    account is then taken for invisible, since none is known to be.
    ``price_format`` is how the session's prices are written (T4's
    ``PriceFormat``: ``decimal``, ``real``, ``clearing_decimal``), if the
    source says.
    """

    firm: str
    username: str
    accounts: tuple[VisibleAccount, ...]
    risk_manager: bool
    lists_accounts: bool = True
    price_format: str | None = None


@dataclass(frozen=True, slots=True)
class AccountsSeen:
    """Accounts that became known during the session (from snapshots), beyond
    those listed at login: in Risk Manager mode, the firm's accounts."""

    firm: str
    accounts: tuple[VisibleAccount, ...]


@dataclass(frozen=True, slots=True)
class MarketsSeen:
    """Market details received during the session, new or changed since last reported."""

    markets: tuple[Market, ...]


@dataclass(frozen=True, slots=True)
class SpreadsSeen:
    """Spread definitions received during the session, new or changed since
    last reported: the store places the pending legs of these spreads."""

    definitions: tuple[SpreadDefinition, ...]


@dataclass(frozen=True, slots=True)
class Subscribed:
    """T4 accepted a subscription: fills flow from here (snapshot first)."""

    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The session ended; the adapter will reconnect unless it is closing."""

    reason: str


@dataclass(frozen=True, slots=True)
class FillsReceived:
    """Fills decoded from one frame. ``received_ns`` is ``time.monotonic_ns()``
    at frame receipt, used to measure receipt-to-commit latency."""

    fills: tuple[Fill, ...]
    received_ns: int


@dataclass(frozen=True, slots=True)
class BustsReceived:
    """Busts decoded from one frame."""

    busts: tuple[Bust, ...]


@dataclass(frozen=True, slots=True)
class OrderSide:
    """The side of an order whose fills were stored before the order was seen."""

    firm: str
    account_id: str
    order_id: str
    side: Side


@dataclass(frozen=True, slots=True)
class AccountConflict:
    """T4 gave an account number that contradicts what it said before: an id
    whose number changed, or a number already on another id. Nothing is
    re-attributed; an operator must look."""

    firm: str
    account_id: str
    number: str
    known_number: str | None
    number_held_by: str | None


@dataclass(frozen=True, slots=True)
class RecordsQuarantined:
    """Records of one frame that could not be stored (see :class:`Quarantined`)."""

    records: tuple[Quarantined, ...]


@dataclass(frozen=True, slots=True)
class Released:
    """Quarantined records that now decode: their owned fills and busts, to be
    stored; the quarantine ids to mark resolved once they are (``stored``), and
    those that proved to be of no user's account (``unowned``)."""

    fills: tuple[Fill, ...]
    busts: tuple[Bust, ...]
    stored: tuple[int, ...]
    unowned: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class OrderRecount:
    """A snapshot's complete list of an order's live trades (its trades add up
    to the order's ``total_fill_volume``), for an order with a bust that named
    no trade: a stored trade of the order missing from ``trades`` is the one
    busted at ``busted_at``. ``trades`` are (trade key, leg index) pairs."""

    firm: str
    account_id: str
    order_id: str
    trades: frozenset[tuple[str, int | None]]
    busted_at: datetime


@dataclass(frozen=True, slots=True)
class SnapshotReceived:
    """A frame of T4's snapshot of one account: the day's whole book as T4 has it.

    T4 (and the simulator) may spread one account's snapshot over several
    frames; ``first`` marks the frame that began it. ``trade_dates`` are the
    fills counted so far in this snapshot, per trade date, frames up to this
    one included (busted fills too: a snapshot keeps them among their order's
    trades); ``busts`` counts its bust records likewise. ``account`` is the
    account number, ``""`` where T4 has not said it.
    """

    firm: str
    account_id: str
    account: str
    trade_dates: tuple[tuple[date, int], ...]
    busts: int
    first: bool

    @property
    def fills(self) -> int:
        """Fills in the snapshot so far, all trade dates."""
        return sum(count for _, count in self.trade_dates)


FeedEvent = (
    Connected | Subscribed | AccountsSeen | MarketsSeen | SpreadsSeen | Disconnected
    | FillsReceived | BustsReceived | OrderSide | RecordsQuarantined | AccountConflict
    | SnapshotReceived | OrderRecount
)
