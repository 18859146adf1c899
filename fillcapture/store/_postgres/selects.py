"""How the engine reads fills: the owner of a fill, the WHERE terms of a
:class:`FillQuery`, and the SELECTs built from them (those of
:mod:`fillcapture.store._sqlite.selects`, with numbered parameters).
"""

from __future__ import annotations

from typing import Any

from fillcapture.store._postgres.rows import SELECT_COLUMNS, aware
from fillcapture.store.records import FillPosition, FillQuery

# The owner of a fill f: the entry naming its firm, else the firm-less entry;
# the SQL form of fillcapture.store.rules.owners_of. Joined, not a subquery
# per row: the registry's owned numbers are few, so the planner hashes them
# once per query instead of scanning them for every fill (a page of 500
# fills took over 100 ms that way). Each join side has one row per (firm,
# account): two entries can resolve to one number (one by the account's
# code, made before the account was seen, one by its number), and joined
# as they are they read each such fill twice; ``min`` keeps one owner, as
# a subquery's first row did.
OWNED = (
    " LEFT JOIN (SELECT firm, account, min(user_name) AS user_name FROM owned_numbers"
    " GROUP BY firm, account) o1 ON o1.firm = f.firm AND o1.account = f.account"
    " LEFT JOIN (SELECT account, min(user_name) AS user_name FROM owned_numbers"
    " WHERE firm = '' GROUP BY account) o2 ON o2.account = f.account"
)
OWNER = "COALESCE(o1.user_name, o2.user_name)"
"""The owner, in a query whose FROM has ``fills f`` followed by :data:`OWNED`."""

FILL_COLUMNS = ", ".join(f"f.{column}" for column in SELECT_COLUMNS)


class Args:
    """Query parameters in the order their ``$n`` appear."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def select(query: FillQuery) -> tuple[str, list[Any]]:
    """The SELECT for ``query``: the owner, then :data:`SELECT_COLUMNS`."""
    args = Args()
    where = conditions(query, args)
    sql = f"SELECT {OWNER}, {FILL_COLUMNS} FROM fills f{OWNED}"  # noqa: S608 - fixed text
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + " ORDER BY f.exchange_time, f.id", args.values


def page_select(query: FillQuery, after: FillPosition | None, limit: int
                ) -> tuple[str, list[Any]]:
    """As :func:`select`, led by the row id, from after ``after`` (a keyset:
    the row-value comparison follows the ORDER BY exactly), ``limit`` rows.

    In two steps: the page's row ids are chosen first, where the terms the
    API uses (account, trade dates, owner's firm, bust mark, the keyset) are
    answered by ``fills_account_date`` alone, and only the page's rows are
    then read from the table (migration 0002 says what that saves)."""
    args = Args()
    where = conditions(query, args)
    if after is not None:
        where.append(f"(f.exchange_time, f.id) > ({args(aware(after.exchange_time))}, "
                     f"{args(after.row)})")
    ids = f"SELECT f.id FROM fills f{OWNED}"  # noqa: S608 - fixed text
    if where:
        ids += " WHERE " + " AND ".join(where)
    ids += f" ORDER BY f.exchange_time, f.id LIMIT {args(limit)}"
    sql = (f"SELECT f.id, {OWNER}, {FILL_COLUMNS} FROM ({ids}) page "  # noqa: S608
           f"JOIN fills f ON f.id = page.id{OWNED} ORDER BY f.exchange_time, f.id")
    return sql, args.values


def conditions(query: FillQuery, args: Args) -> list[str]:
    """``query``'s WHERE terms (to be joined with AND), their values added to ``args``."""
    where: list[str] = []
    if query.user is not None:
        # The IN narrows to the user's account numbers through the account
        # index; the owner test then applies firm-specific precedence.
        user = args(query.user)
        where.append(
            f"f.account IN (SELECT account FROM owned_numbers WHERE user_name = {user}) "  # noqa: S608
            f"AND {OWNER} = {user}")
    if query.account is not None:
        where.append(f"f.account = {args(query.account)}")
    if query.firm is not None:
        where.append(f"f.firm = {args(query.firm)}")
    if query.since is not None:
        where.append(f"f.trade_date >= {args(query.since)}")
    if query.until is not None:
        where.append(f"f.trade_date <= {args(query.until)}")
    if not query.include_busted:
        where.append("f.busted_at IS NULL")
    if query.market_id is not None:
        where.append(f"f.market_id = {args(query.market_id)}")
    if query.side is not None:
        where.append(f"f.side = {args(query.side.value)}")
    if query.time_from is not None:
        where.append(f"f.exchange_time >= {args(aware(query.time_from))}")
    if query.time_to is not None:
        where.append(f"f.exchange_time < {args(aware(query.time_to))}")
    return where
