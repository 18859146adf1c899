"""The seeded fill generator: orders for random firm accounts, filled in 1 to 5 parts.

Every fill is recorded in the book and the ledger the moment it is made, listened to or not.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Container, Sequence
from random import Random

from fillcapture.sim import wire
from fillcapture.sim.book import MARKETS, Book, Order, SimAccount
from fillcapture.sim.config import SimConfig
from fillcapture.sim.ledger import LedgerFill

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_MAX_OPEN_ORDERS = 6  # enough working orders at once that their fills interleave
_NEW_ORDER_CHANCE = 0.35
_MAX_FILLS_PER_ORDER = 5
# Version 4 and the RFC 4122 variant, as uuid.UUID(int=..., version=4) sets them.
_GUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_GUID_SET = (0x4000 << 64) | (0x8000 << 48)


def _guid(bits: int) -> str:
    """A version-4 GUID string from 128 random bits (what ``uuid.UUID`` would print,
    at a third of its cost: one is made for every order)."""
    bits = (bits & _GUID_CLEAR) | _GUID_SET
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


Frame = tuple[str, bytes]
"""A live frame and the account number it concerns (who may receive it)."""


class FillGenerator:
    """Makes fills on demand. ``random.Random(seed)`` drives everything but the
    clock, so two runs with one seed produce the same orders, prices and ids."""

    def __init__(
        self,
        config: SimConfig,
        accounts: Sequence[SimAccount],
        trade_date: datetime.date,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._config = config
        self._accounts = list(accounts)
        self._rng = Random(config.seed)
        self._clock_ns = clock_ns
        self._prices = {market.market_id: market.start_ticks for market in MARKETS}
        self._open: list[Order] = []
        self._trade_frames = wire.TradeFrames()
        self._trade_id_prefix = f"{config.seed}-"
        self._firm = config.firm
        self.book = Book(trade_date)
        self.ledger: list[LedgerFill] = []

    def roll(self, trade_date: datetime.date) -> None:
        """A new trade day: the book empties and working orders are forgotten,
        as they are at T4 (day orders expire at the roll)."""
        self.book.roll(trade_date)
        self._open.clear()

    def add_account(self, account: SimAccount) -> None:
        """Trade ``account`` too from now on."""
        self._accounts.append(account)

    def generate(self, count: int, listened: Container[str]) -> list[Frame]:
        """Make ``count`` fills; return the live frames for accounts in ``listened``
        (frames nobody would receive are not built)."""
        frames: list[Frame] = []
        for _ in range(count):
            order = self._next_order(frames, listened)
            self._fill(order, frames, listened)
        return frames

    def _next_order(self, frames: list[Frame], listened: Container[str]) -> Order:
        open_orders = self._open
        random = self._rng.random
        if not open_orders or (
            len(open_orders) < _MAX_OPEN_ORDERS and random() < _NEW_ORDER_CHANCE
        ):
            order = self._new_order()
            if order.account.number in listened:
                frames.append((order.account.number, wire.order_submitted(order)))
            return order
        return open_orders[int(random() * len(open_orders))]

    def _new_order(self) -> Order:
        rng = self._rng
        random = rng.random
        account = self._accounts[int(random() * len(self._accounts))]
        market = MARKETS[int(random() * len(MARKETS))]
        side = 1 if random() < 0.5 else -1
        parts = 1 + int(random() * _MAX_FILLS_PER_ORDER)
        # Mostly small clips, now and then a larger one.
        planned = [1 + int(random() * random() * 10) for _ in range(parts)]
        unique_id = _guid(rng.getrandbits(128))
        order = Order(
            unique_id,
            account,
            market,
            side,
            planned,
            self._clock_ns() // 1000,
            self.book.trade_date,
        )
        self.book.add(order)
        self._open.append(order)
        return order

    def _fill(self, order: Order, frames: list[Frame], listened: Container[str]) -> None:
        random = self._rng.random
        market = order.market
        ticks = self._prices[market.market_id] + int(random() * 5) - 2
        if ticks * 2 < market.start_ticks:  # keep the walk well away from zero
            ticks += 2
        self._prices[market.market_id] = ticks
        sequence = len(order.fills) + 1
        volume = order.planned[sequence - 1]
        micros = self._clock_ns() // 1000
        account = order.account
        fill = LedgerFill(
            firm=self._firm,
            account_id=account.account_id,
            account=account.number,
            order_id=order.unique_id,
            exchange_trade_id=f"{self._trade_id_prefix}{len(self.ledger) + 1}",
            sequence_order=sequence,
            leg_index=None,
            market_id=market.market_id,
            side="BUY" if order.side > 0 else "SELL",
            volume=volume,
            price=market.price_text(ticks),
            exchange_time=_EPOCH + datetime.timedelta(microseconds=micros),
            trade_date=order.trade_date,
        )
        order.fills.append(fill)
        order.fill_micros.append(micros)
        order.filled += volume
        self.ledger.append(fill)
        if sequence == len(order.planned):
            self._open.remove(order)
        if account.number in listened:
            frames.append((account.number, self._trade_frames.build(order)))
