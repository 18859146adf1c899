"""A user's month in money, as the statement shows it (CLI and API alike).

:func:`parse_month` reads ``YYYY-MM``; :func:`month_rows` reads the store:
the daily summary of the user's live fills over the month's trade dates, in
money (:func:`fillcapture.money.summarize_money`), with the point values the
store recorded from T4's market details overridden by the configured ones
(as ``fillcapture report`` does) and the fee schedules the store keeps.
Positions are built from each account's first fill, so a position opened in
an earlier month and closed in this one realizes its P&L here.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal

from fillcapture.fees import FeeBook
from fillcapture.money import MoneyRow, summarize_money
from fillcapture.reports import point_values
from fillcapture.store import FillQuery, Store

_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


def parse_month(text: str) -> date:
    """The first day of the month ``text`` names (``2026-11``); ValueError
    with a one-line reason otherwise."""
    match = _MONTH.fullmatch(text)
    if match is None or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1:
        raise ValueError(f"month {text[:20]!r}: give YYYY-MM, e.g. 2026-11")
    return date(int(match[1]), int(match[2]), 1)


def month_end(month: date) -> date:
    """The last day of ``month``'s month."""
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


async def month_rows(store: Store, user: str, month: date, *,
                     configured: Mapping[str, Decimal],
                     currencies: Mapping[str, str]) -> list[MoneyRow]:
    """``user``'s summary rows of ``month`` in money (see the module);
    ``configured`` point values override the recorded ones."""
    values = await point_values(store, configured)
    book = FeeBook(await store.fee_schedules())
    query = FillQuery(user=user, until=month_end(month), include_busted=False)
    return await summarize_money(store, query, since=month, point_values=values,
                                 currencies=currencies, book=book)
