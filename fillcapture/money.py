"""Gross and net: the daily summary's rows in money, with fees, per currency.

The summary (:mod:`fillcapture.reports`) gives each (trade date, account,
market) row its P&L in price points and, where the point value is known, in
money (``gross``). This module adds what a broker's statement shows beside it:

- **The market's currency**, from configuration (``[money] currencies``, by
  exchange id or by contract root ``"<exchange> <contract>"``, the contract
  root winning). T4's market details carry no currency (the official
  ``MarketDetails`` has none), so a market configured nowhere has an
  **unknown** currency: its amounts are shown, marked so, and never added to
  any currency's total.
- **Fees**, per component, from the schedules in force on the row's trade
  date (:mod:`fillcapture.fees`): the row's buy contracts at the buy rates
  plus its sell contracts at the sell rates, in each schedule's currency. A
  row's fills are of one account, market and day, so they all pay the same
  rates. Fills whose fees cannot be known are counted in ``fees_unknown``:
  those no schedule matches, those of unknown side (which rate?) and spread
  legs still waiting for their spread's definition (which contract?).
- **Net** = gross - fees, where all of it is known and in one currency: a
  row with a fill of unknown fees, an unknown point value or currency, or a
  fee in another currency than the market's has no net (``None``), never a
  net that takes unknown fees as free.

Fees are computed when a summary is read, from the recorded volumes, not
recorded with it: a schedule changed for past dates (``fillcapture fees set
--from DATE``) changes every summary from that date the next time it is
read, and nothing recorded has to be discarded. Totals (:func:`totals`) are
per currency; amounts of different currencies are never added.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Context, Decimal, Inexact, InvalidOperation, localcontext
from typing import NamedTuple

from fillcapture.fees import FeeBook, Rate
from fillcapture.model import Market, Side
from fillcapture.reports import decimal_text, summarize
from fillcapture.store import DailyRow, FillQuery, Owner, Store
from fillcapture.store.rules import owners_of

_EXACT = Context(prec=200, traps=[Inexact, InvalidOperation])
_ZERO = Decimal(0)


class FeeAmount(NamedTuple):
    """One component's fees on a row: ``amount`` of ``currency``. A named
    tuple, not a dataclass: a month's summary makes one per component and row,
    and a tuple is made four times faster."""

    component: str
    amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class MoneyRow:
    """A summary row with its currency, fees and net (see the module)."""

    row: DailyRow
    user: str | None
    currency: str | None
    gross: Decimal | None
    fees: tuple[FeeAmount, ...]
    fees_unknown: int
    net: Decimal | None

    @property
    def fees_total(self) -> Decimal | None:
        """The fees in the market's currency, if every one is in it."""
        if self.currency is None or any(f.currency != self.currency for f in self.fees):
            return None
        return sum((f.amount for f in self.fees), _ZERO)


def currency_of(market: Market | None, currencies: Mapping[str, str]) -> str | None:
    """``market``'s currency: its contract root's, else its exchange's, else unknown."""
    if market is None:
        return None
    root = currencies.get(f"{market.exchange_id} {market.contract_id}")
    return root if root is not None else currencies.get(market.exchange_id)


class Owners:
    """Who owns an account number at a firm, by the registry's precedence."""

    def __init__(self, registry: Iterable[Owner]) -> None:
        self._by_firm: dict[str, dict[str, list[str]]] = {}
        self._any: dict[str, list[str]] = {}
        for owner in registry:
            if owner.firm:
                self._by_firm.setdefault(owner.account, {}).setdefault(
                    owner.firm, []).append(owner.user)
            else:
                self._any.setdefault(owner.account, []).append(owner.user)

    def __call__(self, firm: str, account: str) -> str | None:
        users = owners_of(self._by_firm.get(account, {}), self._any.get(account, ()), firm)
        return users[0] if len(users) == 1 else None


_Plan = tuple[tuple[tuple[str, str, Decimal | None, Decimal | None], ...], frozenset[str]]
"""How a pair of rate tuples (buy, sell) charges a row: per (component,
currency), in that order, the buy and the sell rate (``None``: that side pays
none of it); and the currencies charged."""


def _plan(buy: tuple[Rate, ...] | None, sell: tuple[Rate, ...] | None) -> _Plan:
    charges: dict[tuple[str, str], list[Decimal | None]] = {}
    for at, rates in ((0, buy), (1, sell)):
        for rate in rates or ():
            charges.setdefault((rate.component, rate.currency), [None, None])[at] = rate.amount
    return (tuple((component, currency, pair[0], pair[1])
                  for (component, currency), pair in sorted(charges.items())),
            frozenset(currency for _, currency in charges))


def priced(rows: Sequence[DailyRow], book: FeeBook, markets: Mapping[str, Market],
           currencies: Mapping[str, str], owner: Owners | None = None) -> list[MoneyRow]:
    """``rows`` with their currency, fees and net. ``owner`` names each row's
    user, for fees scoped by user (none: such fees match no row)."""
    found = []
    users: dict[tuple[str, str], str | None] = {}
    kinds: dict[str, str | None] = {}  # each market's currency
    # By the identity of the (buy, sell) rate tuples, which the book keeps
    # (one tuple per scope and start date): most rows share a handful.
    plans: dict[tuple[int, int], _Plan] = {}
    buy, sell = Side.BUY, Side.SELL
    with localcontext(_EXACT):  # exact arithmetic, or an error
        for row in rows:
            market = markets.get(row.market_id)
            user = None
            if owner is not None:
                held = (row.firm, row.account)
                if held not in users:
                    users[held] = owner(row.firm, row.account)
                user = users[held]
            exchange = None if market is None else market.exchange_id
            contract = None if market is None else market.contract_id
            unknown = row.unknown_side + row.spread_legs
            buy_rates = sell_rates = None
            if row.buys:
                buy_rates = book.rates(row.trade_date, exchange, contract, row.account, user,
                                       buy)
                if buy_rates is None:
                    unknown += row.buys
            if row.sells:
                sell_rates = book.rates(row.trade_date, exchange, contract, row.account, user,
                                        sell)
                if sell_rates is None:
                    unknown += row.sells
            key = (id(buy_rates), id(sell_rates))
            plan = plans.get(key)
            if plan is None:
                plan = plans[key] = _plan(buy_rates, sell_rates)
            charges, charged_in = plan
            bought, sold = row.buy_volume, row.sell_volume
            fees = tuple(FeeAmount(component, (_ZERO if on_buy is None else on_buy * bought)
                                   + (_ZERO if on_sell is None else on_sell * sold), currency)
                         for component, currency, on_buy, on_sell in charges)
            if row.market_id not in kinds:
                kinds[row.market_id] = currency_of(market, currencies)
            currency = kinds[row.market_id]
            gross = row.pnl_currency
            net = None
            if (gross is not None and currency is not None and not unknown
                    and charged_in <= {currency}):
                net = gross - sum(fee.amount for fee in fees)
            found.append(MoneyRow(row, user, currency, gross, fees, unknown, net))
    return found


@dataclass(slots=True)
class CurrencyTotals:
    """One currency's totals over some rows: gross P&L of the markets in it,
    fees charged in it (by component), and net of the rows that have one.
    ``rows_without_net`` counts its markets' rows left out of ``net``."""

    currency: str
    gross: Decimal = _ZERO
    fees: dict[str, Decimal] = field(default_factory=dict)
    net: Decimal = _ZERO
    rows_without_net: int = 0

    @property
    def fees_total(self) -> Decimal:
        return sum(self.fees.values(), _ZERO)


@dataclass(slots=True)
class Totals:
    """Totals per currency, and what no currency's total can hold: rows of a
    market whose currency or point value is unknown, and fills of unknown fees."""

    by_currency: dict[str, CurrencyTotals] = field(default_factory=dict)
    unknown_currency_rows: int = 0
    unknown_gross_rows: int = 0
    fees_unknown: int = 0


def totals(rows: Iterable[MoneyRow]) -> Totals:
    """Per-currency totals of ``rows`` (see :class:`CurrencyTotals`)."""
    found = Totals()

    def of(currency: str) -> CurrencyTotals:
        entry = found.by_currency.get(currency)
        if entry is None:
            entry = found.by_currency[currency] = CurrencyTotals(currency)
        return entry

    with localcontext(_EXACT):  # exact arithmetic, or an error
        for row in rows:
            found.fees_unknown += row.fees_unknown
            for fee in row.fees:
                entry = of(fee.currency)
                entry.fees[fee.component] = entry.fees.get(fee.component, _ZERO) + fee.amount
            if row.currency is None:
                found.unknown_currency_rows += 1
                continue
            entry = of(row.currency)
            if row.gross is None:
                found.unknown_gross_rows += 1
            else:
                entry.gross += row.gross
            if row.net is None:
                entry.rows_without_net += 1
            else:
                entry.net += row.net
    found.by_currency = dict(sorted(found.by_currency.items()))
    return found


async def summarize_money(store: Store, query: FillQuery, *, since: date | None,
                          point_values: Mapping[str, Decimal], currencies: Mapping[str, str],
                          book: FeeBook) -> list[MoneyRow]:
    """The daily summary of ``query`` (as :func:`fillcapture.reports.summarize`),
    each row with its currency, fees and net. Each row's owner, for fees
    scoped by user, is the registry's owner of its (firm, account)."""
    rows = await summarize(store, query, since=since, point_values=point_values)
    owner = Owners(await store.registry()) if any(s.user for s in book.schedules) else None
    return priced(rows, book, await store.markets(), currencies, owner)


MONEY_COLUMNS = ("currency", "gross", "fees", "net", "fees_unknown")
"""What a money row adds to :data:`fillcapture.reports.REPORT_COLUMNS`, in
order, before one ``fee_<component>`` column per component of the fee book
(:attr:`fillcapture.fees.FeeBook.components`), the same for every row."""


def money_fields(row: MoneyRow, names: Sequence[str]) -> dict[str, str | int | None]:
    """``row``'s :data:`MONEY_COLUMNS` and ``fee_<name>`` for each of ``names``,
    as exact text. A fee charged in a currency other than the market's says
    its currency (``"2.50 EUR"``); one not charged is ``None``."""
    currency, gross, net, total = row.currency, row.gross, row.net, row.fees_total
    fields: dict[str, str | int | None] = {
        "currency": currency,
        "gross": None if gross is None else f"{gross:f}",
        "fees": None if total is None else f"{total:f}",
        "net": None if net is None else f"{net:f}",
        "fees_unknown": row.fees_unknown,
    }
    charged = {fee.component: fee for fee in row.fees}
    for name in names:
        fee = charged.get(name)
        if fee is None:
            fields[f"fee_{name}"] = None
        elif fee.currency == currency:
            fields[f"fee_{name}"] = f"{fee.amount:f}"
        else:
            fields[f"fee_{name}"] = f"{fee.amount:f} {fee.currency}"
    return fields


def totals_object(found: Totals) -> dict[str, object]:
    """:class:`Totals` as JSON-ready data, amounts as exact text."""
    return {
        "currencies": [
            {"currency": entry.currency, "gross": _text(entry.gross),
             "fees": {name: _text(amount) for name, amount in sorted(entry.fees.items())},
             "fees_total": _text(entry.fees_total), "net": _text(entry.net),
             "rows_without_net": entry.rows_without_net}
            for entry in found.by_currency.values()],
        "unknown_currency_rows": found.unknown_currency_rows,
        "unknown_gross_rows": found.unknown_gross_rows,
        "fees_unknown": found.fees_unknown,
    }


def unknown_fees(rows: Iterable[MoneyRow]) -> list[tuple[str, str, str, int]]:
    """(firm, account, market id, fills) of the rows with fills of unknown
    fees, to name them."""
    found: dict[tuple[str, str, str], int] = {}
    for row in rows:
        if row.fees_unknown:
            key = (row.row.firm, row.row.account, row.row.market_id)
            found[key] = found.get(key, 0) + row.fees_unknown
    return [(*key, count) for key, count in sorted(found.items())]


def _text(value: Decimal | None) -> str | None:
    """:func:`~fillcapture.reports.decimal_text`; ``None`` stays ``None``."""
    return None if value is None else decimal_text(value)


def money_notes(rows: Sequence[MoneyRow]) -> list[str]:
    """What a reader of a summary must be told beside its rows, one line
    each: the totals per currency, and what they leave out (fills of unknown
    side or pending legs, fills of unknown fees by account and market, rows
    of a market whose currency or point value is unknown)."""
    found = totals(rows)
    lines = []
    for entry in found.by_currency.values():
        parts = ", ".join(f"{name} {_text(amount)}" for name, amount in sorted(entry.fees.items()))
        detail = f" ({parts})" if parts else ""
        line = (f"total {entry.currency}: gross {_text(entry.gross)}, fees "
                f"{_text(entry.fees_total)}{detail}, net {_text(entry.net)}")
        if entry.rows_without_net:
            line += f" ({entry.rows_without_net} row(s) without a net left out of it)"
        lines.append(line)
    unknown = sum(row.row.unknown_side for row in rows)
    legs = sum(row.row.spread_legs for row in rows)
    if unknown or legs:
        lines.append(f"left out of volumes, P&L and positions: {unknown} fill(s) of unknown "
                     f"side, {legs} spread leg fill(s) whose spread is not defined yet "
                     "(columns unknown_side, spread_legs)")
    named = unknown_fees(rows)
    if named:
        shown = "; ".join(f"account {account} ({firm}) {market}: {count}"
                          for firm, account, market, count in named[:10])
        more = f"; and {len(named) - 10} more" if len(named) > 10 else ""
        lines.append(f"fees unknown for {found.fees_unknown} fill(s), so those rows have no "
                     f"net (no fee schedule matches, or side or contract unknown): {shown}{more}")
    if found.unknown_currency_rows:
        lines.append(f"{found.unknown_currency_rows} row(s) of markets of unknown currency "
                     "are in no total (set [money] currencies)")
    if found.unknown_gross_rows:
        lines.append(f"{found.unknown_gross_rows} row(s) of markets of unknown point value "
                     "have no gross in money (set [api] point_values)")
    return lines
