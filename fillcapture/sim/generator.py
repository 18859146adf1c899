"""The seeded fill generator: orders for random firm accounts, filled in 1 to 5 parts,
some of them orders of spread markets, and now and then a bust of an earlier fill.

Every fill and bust is recorded in the book and the ledger the moment it is made,
listened to or not.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from collections.abc import Callable, Container, Sequence
from random import Random

from fillcapture.sim import wire
from fillcapture.sim.book import LEG_MARKETS, MARKETS, SPREADS, Book, Market, Order, SimAccount
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
    clock, so two runs with one seed produce the same orders, prices and ids.

    Which fills are busted comes from a stream of its own, so busts never
    change the fills a seed makes; so does which new orders are announced only
    after their first fill (``fill_before_order_fraction``, a fault)."""

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
        self._prices = {market.market_id: market.start_ticks
                        for market in MARKETS + LEG_MARKETS}
        self._open: list[Order] = []
        # (account, market) pairs whose market details went out live: T4
        # describes a market before the first order of it a session sees
        # (a session subscribing later finds them in its snapshot).
        self._described: set[tuple[str, str]] = set()
        self._multi = not config.top_level_updates
        self._trade_frames = wire.TradeFrames(self._multi)
        self._leg_frames = wire.TradeLegFrames(self._multi)
        self._trade_id_prefix = f"{config.seed}-"
        self._firm = config.firm
        self._spread_fraction = config.spread_fraction
        self._spread_trades = config.spread_trades
        self._late_definitions = config.late_definitions
        self._bust_fraction = config.bust_fraction
        self._bust_rng = Random(f"{config.seed}/busts")
        self._late_fraction = config.fill_before_order_fraction
        self._late_rng = Random(f"{config.seed}/late-orders")
        # The plain path, tuned for 100k fills/s, knows nothing of the rest.
        self._plain = not (self._bust_fraction or self._spread_fraction or self._late_fraction)
        # Today's fills not yet busted, as (order, index into its fills, index into the ledger).
        self._bustable: list[tuple[Order, int, int]] = []
        self.book = Book(trade_date)
        self.ledger: list[LedgerFill] = []
        self.busts: list[LedgerFill] = []  # busted fills, in bust order

    def roll(self, trade_date: datetime.date) -> None:
        """A new trade day: the book empties and working orders are forgotten,
        as they are at T4 (day orders expire at the roll); the old day's fills
        can no longer be busted."""
        self.book.roll(trade_date)
        self._open.clear()
        self._bustable.clear()

    def add_account(self, account: SimAccount) -> None:
        """Trade ``account`` too from now on."""
        self._accounts.append(account)

    def generate(self, count: int, listened: Container[str]) -> list[Frame]:
        """Make ``count`` fills; return the live frames for accounts in ``listened``
        (frames nobody would receive are not built)."""
        frames: list[Frame] = []
        if self._plain:
            for _ in range(count):
                order = self._next_order(frames, listened)
                self._fill(order, frames, listened)
            return frames
        for _ in range(count):
            self._step(frames, listened)
        return frames

    def _step(self, frames: list[Frame], listened: Container[str]) -> None:
        """One fill (or spread fill) with everything the plain path leaves out."""
        mark = len(frames)
        order = self._next_order(frames, listened)
        announced = len(frames) > mark
        announcement = len(frames) - 1  # the order's own frame, behind any market details
        first_index, first_ledger = len(order.fills), len(self.ledger)
        if order.legs == 1:
            self._fill(order, frames, listened)
        else:
            self._fill_spread(order, frames, listened)
        if announced and self._late_fraction and self._late_rng.random() < self._late_fraction:
            frames.append(frames.pop(announcement))  # the order's announcement after its first fill
        if self._bust_fraction:
            if self._bust_rng.random() < self._bust_fraction:
                self._bust(frames, listened)
            # Only now bustable: a bust is always of an earlier fill.
            self._bustable.extend(
                (order, index, first_ledger + index - first_index)
                for index in range(first_index, len(order.fills))
            )

    def _next_order(self, frames: list[Frame], listened: Container[str]) -> Order:
        open_orders = self._open
        random = self._rng.random
        if not open_orders or (
            len(open_orders) < _MAX_OPEN_ORDERS and random() < _NEW_ORDER_CHANCE
        ):
            order = self._new_order()
            number = order.account.number
            if number in listened:
                if not (order.market.legs and self._late_definitions):
                    self._describe(number, order.market, frames)
                frames.append((number, wire.order_submitted(order, self._multi)))
            return order
        return open_orders[int(random() * len(open_orders))]

    def _describe(self, number: str, market: Market, frames: list[Frame]) -> None:
        """``market``'s details (a spread's legs' first) for ``number``, once."""
        for each in (*(leg.market for leg in market.legs), market):
            described = (number, each.market_id)
            if described not in self._described:
                self._described.add(described)
                frames.append((number, wire.market_details(each)))

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
        # Drawn only when spreads are on, so without them a seed makes what it always made.
        if self._spread_fraction and random() < self._spread_fraction:
            market = SPREADS[int(random() * len(SPREADS))]
        order = Order(
            unique_id,
            account,
            market,
            side,
            planned,
            self._clock_ns() // 1000,
            self.book.trade_date,
        )
        order.trade_date_ticks += self._config.trade_date_offset_ticks  # a fault, if set
        self.book.add(order)
        self._open.append(order)
        return order

    def _walk(self, market: Market) -> int:
        """The market's next price in ticks: a random walk of up to 2 ticks a fill."""
        ticks = self._prices[market.market_id] + int(self._rng.random() * 5) - 2
        if ticks * 2 < market.start_ticks:  # keep the walk well away from zero
            ticks += 2
        self._prices[market.market_id] = ticks
        return ticks

    def _fill(self, order: Order, frames: list[Frame], listened: Container[str]) -> None:
        market = order.market
        ticks = self._walk(market)
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
        order.filled_after.append(order.filled)
        self.ledger.append(fill)
        if sequence == len(order.planned):
            self._open.remove(order)
        if account.number in listened:
            frames.append((account.number, self._trade_frames.build(order)))

    def _fill_spread(self, order: Order, frames: list[Frame], listened: Container[str]) -> None:
        """One fill of a spread order: with ``spread_trades`` its spread-level
        trade, then a leg fill per leg, all of one exchange trade id and
        sequence. Each leg trades its own contract at its own price, on the
        order's side times its direction, its volume times its ratio; the
        spread-level trade is at the legs' prices so combined."""
        market = order.market
        legs = market.legs
        leg_ticks = [self._walk(leg.market) for leg in legs]
        first = len(order.fills)
        sequence = first // (order.legs + self._spread_trades) + 1
        volume = order.planned[sequence - 1]
        micros = self._clock_ns() // 1000
        account = order.account
        exchange_trade_id = f"{self._trade_id_prefix}{len(self.ledger) + 1}"
        made = LedgerFill(
            firm=self._firm,
            account_id=account.account_id,
            account=account.number,
            order_id=order.unique_id,
            exchange_trade_id=exchange_trade_id,
            sequence_order=sequence,
            leg_index=None,
            market_id=market.market_id,
            side="BUY" if order.side > 0 else "SELL",
            volume=volume,
            price=market.price_text(sum(leg.direction * leg.ratio * ticks
                                        for leg, ticks in zip(legs, leg_ticks, strict=True))),
            exchange_time=_EPOCH + datetime.timedelta(microseconds=micros),
            trade_date=order.trade_date,
            fill_kind="spread",
        )
        entries = [made] if self._spread_trades else []
        for leg_index, (leg, ticks) in enumerate(zip(legs, leg_ticks, strict=True)):
            entries.append(dataclasses.replace(
                made, leg_index=leg_index, market_id=leg.market.market_id,
                side="BUY" if order.side * leg.direction > 0 else "SELL",
                volume=volume * leg.ratio, price=leg.market.price_text(ticks), fill_kind="leg"))
        order.filled += volume
        for fill in entries:
            order.fills.append(fill)
            order.fill_micros.append(micros)
            order.filled_after.append(order.filled)
            self.ledger.append(fill)
        if sequence == len(order.planned):
            self._open.remove(order)
        number = account.number
        if number in listened:
            for index in range(first, len(order.fills)):
                if order.fills[index].leg_index is None:
                    frames.append((number, self._trade_frames.build(order, index)))
                else:
                    frames.append((number, self._leg_frames.build(order, index)))
            if self._late_definitions:
                self._describe(number, market, frames)

    def _bust(self, frames: list[Frame], listened: Container[str]) -> None:
        """Bust one random fill of today not yet busted: the ledger entry is
        replaced, the order keeps the fill and records the bust."""
        bustable = self._bustable
        if not bustable:
            return
        pick = int(self._bust_rng.random() * len(bustable))
        bustable[pick], bustable[-1] = bustable[-1], bustable[pick]
        order, index, ledger_index = bustable.pop()
        micros = self._clock_ns() // 1000
        order.busts.append((index, micros))
        busted = dataclasses.replace(
            self.ledger[ledger_index],
            busted_at=_EPOCH + datetime.timedelta(microseconds=micros),
        )
        self.ledger[ledger_index] = busted
        self.busts.append(busted)
        if order.account.number in listened:
            frames.append((order.account.number,
                           wire.bust(order, index, micros, self._multi)))
