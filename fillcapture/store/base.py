"""The store interface every engine implements, and the data it takes and gives.

Capture writes ``Fill``s; the query side reads ``StoredFill``s; the registry says who owns what.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Protocol, Self

from fillcapture.model import Bust, Fill, OrderSide, Side


class StoreError(Exception):
    """The store cannot do what was asked; ``str()`` says why in one line."""


@dataclass(frozen=True, slots=True)
class Owner:
    """One registry row: ``user`` owns ``account`` at ``firm``.

    ``firm`` ``None`` means the account number at any firm; an entry naming the
    firm takes precedence over a firm-less one for the same account number.
    """

    user: str
    firm: str | None
    account: str


@dataclass(frozen=True, slots=True)
class FillQuery:
    """Which stored fills to read. Every criterion given must hold.

    ``user``: fills whose (firm, account) that user owns now, per the registry.
    ``since`` / ``until``: inclusive bounds on the trade date.
    ``include_busted``: busted fills too (marked ``busted``), else only live ones.
    """

    user: str | None = None
    account: str | None = None
    since: date | None = None
    until: date | None = None
    firm: str | None = None
    include_busted: bool = True


@dataclass(frozen=True, slots=True)
class StoredFill:
    """One fill as stored. ``user`` is its current owner per the registry
    (``None`` if nobody owns it any more); ``price`` is the exact text T4 sent."""

    user: str | None
    firm: str
    account: str
    account_id: str
    order_id: str
    exchange_trade_id: str
    sequence_order: int
    leg_index: int | None
    market_id: str
    side: Side | None
    volume: int
    price: str
    exchange_time: datetime
    trade_date: date
    busted: bool
    captured_at: datetime


class Store(Protocol):
    """A fill store. Open it with ``async with``; every write is one transaction."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def close(self) -> None: ...

    # --- capture path ---------------------------------------------------------

    async def insert_fills(self, fills: Sequence[Fill]) -> int:
        """Store ``fills`` in one transaction, ignoring those already stored
        (same identity); return how many were new. A duplicate with a side
        fills in a stored fill's missing side without counting as new."""
        ...

    async def resolve_sides(self, items: Sequence[OrderSide]) -> int:
        """Set the side of every side-less fill of each order; return rows changed."""
        ...

    async def insert_busts(self, busts: Sequence[Bust]) -> tuple[int, int]:
        """Record ``busts`` in one transaction: each busted fill is stored if it
        was not yet and marked busted, and each bust is its own record. Returns
        (new fills, new busts); a bust seen before changes nothing."""
        ...

    async def count_busts(self) -> int:
        """How many busts are recorded."""
        ...

    async def sideless_orders(self) -> set[tuple[str, str, str]]:
        """(firm, account_id, order_id) of every order with a fill of unknown side."""
        ...

    # --- ownership registry ---------------------------------------------------

    async def seed_registry(self, owners: Sequence[Owner]) -> None:
        """Add the users and accounts not registered yet; never remove or reassign."""
        ...

    async def registry(self) -> list[Owner]:
        """Every (user, firm, account) row, as committed now."""
        ...

    async def add_user(self, name: str, accounts: Sequence[str], firm: str | None = None) -> None:
        """Create ``name`` if needed and give it ``accounts``; raise
        :class:`StoreError` if another user owns one of them (same firm key)."""
        ...

    async def remove_user(self, name: str) -> bool:
        """Remove ``name`` and its accounts; ``False`` if there was no such user."""
        ...

    async def users(self) -> dict[str, list[Owner]]:
        """Every user with its account rows (an empty list for a user with none)."""
        ...

    # --- query side -----------------------------------------------------------

    def fills(self, query: FillQuery) -> AsyncIterator[StoredFill]:
        """Stream matching fills in (exchange_time, id) order, in constant memory."""
        ...

    async def count_fills(self) -> int:
        """How many fills are stored, busted ones included."""
        ...
