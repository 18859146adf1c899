"""How the engine reads fills: the owner of a fill, the WHERE terms of a
:class:`FillQuery`, and the SELECTs built from them.
"""

from __future__ import annotations

from typing import Any

from fillcapture.store._sqlite.rows import utc_micros
from fillcapture.store.columns import SELECT_COLUMNS
from fillcapture.store.records import (
    FillPosition,
    FillQuery,
)

# The owner of a fill: the entry naming its firm, else the firm-less entry;
# the SQL form of fillcapture.store.rules.owners_of.
OWNER = (
    "COALESCE("
    "(SELECT o.user_name FROM owned_numbers o WHERE o.firm = f.firm AND o.account = f.account), "
    "(SELECT o.user_name FROM owned_numbers o WHERE o.firm = '' AND o.account = f.account))"
)


FILL_COLUMNS = ", ".join(f"f.{column}" for column in SELECT_COLUMNS)

# The same owner, for a query that reads many fills: the registry's owned
# numbers are read once into a temporary table (MATERIALIZED), one row per
# (firm, account), which SQLite indexes for the two joins. :data:`OWNER`
# evaluates the view twice for every fill, and twice again where a query
# tests it: reading a user's 2,496 fills of a day took 70 ms that way (200
# registry entries, 10 million fills), 20 ms this way. ``min`` keeps one
# owner where two entries resolve to one number, as the subquery did.
OWNERS = ("WITH owners AS MATERIALIZED (SELECT firm, account, min(user_name) AS user_name "
          "FROM owned_numbers GROUP BY firm, account) ")
OWNED = (" LEFT JOIN owners o1 ON o1.firm = f.firm AND o1.account = f.account"
         " LEFT JOIN owners o2 ON o2.firm = '' AND o2.account = f.account")
JOINED_OWNER = "COALESCE(o1.user_name, o2.user_name)"
"""The owner, in a query led by :data:`OWNERS` whose FROM is ``fills f`` and :data:`OWNED`."""


def select(query: FillQuery) -> tuple[str, dict[str, Any]]:
    """The SELECT for ``query``: the owner, then :data:`SELECT_COLUMNS`."""
    where, params = conditions(query, JOINED_OWNER)
    sql = (f"{OWNERS}SELECT {JOINED_OWNER}, {FILL_COLUMNS} "  # noqa: S608 - fixed text
           f"FROM fills f{OWNED}")
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + " ORDER BY f.exchange_time, f.id", params


def page_select(query: FillQuery, after: FillPosition | None, limit: int
                 ) -> tuple[str, dict[str, Any]]:
    """As :func:`select`, led by the row id, from after ``after`` (a keyset:
    the row-value comparison follows the ORDER BY exactly), ``limit`` rows."""
    where, params = conditions(query, JOINED_OWNER)
    if after is not None:
        where.append("(f.exchange_time, f.id) > (:after_time, :after_row)")
        params["after_time"] = utc_micros(after.exchange_time)
        params["after_row"] = after.row
    sql = (f"{OWNERS}SELECT f.id, {JOINED_OWNER}, {FILL_COLUMNS} "  # noqa: S608 - fixed text
           f"FROM fills f{OWNED}")
    if where:
        sql += " WHERE " + " AND ".join(where)
    params["limit"] = limit
    return sql + " ORDER BY f.exchange_time, f.id LIMIT :limit", params


def conditions(query: FillQuery, owner: str = OWNER) -> tuple[list[str], dict[str, Any]]:
    """``query``'s WHERE terms (to be joined with AND) and their parameters;
    ``owner`` is the query's expression of a fill's owner."""
    where: list[str] = []
    params: dict[str, Any] = {}
    if query.user is not None:
        # The IN narrows to the user's account numbers through the account
        # index; the owner test then applies firm-specific precedence.
        where.append(
            "f.account IN (SELECT account FROM owned_numbers WHERE user_name = :user) "  # noqa: S608
            f"AND {owner} = :user"
        )
        params["user"] = query.user
    if query.account is not None:
        where.append("f.account = :account")
        params["account"] = query.account
    if query.firm is not None:
        where.append("f.firm = :firm")
        params["firm"] = query.firm
    if query.since is not None:
        where.append("f.trade_date >= :since")
        params["since"] = query.since.isoformat()
    if query.until is not None:
        where.append("f.trade_date <= :until")
        params["until"] = query.until.isoformat()
    if query.account is not None and query.since is not None:
        # Implied by the terms above, but it lets an account's fills be read
        # in time order (fills_account_time) from the first one of those
        # trade dates, found among a few index entries per day, instead of
        # from the account's first fill ever.
        last = " AND trade_date <= :until" if query.until is not None else ""
        where.append(
            "f.exchange_time >= (SELECT min(exchange_time) FROM fills "  # noqa: S608 - constant
            "INDEXED BY fills_account_date WHERE account = :account "
            f"AND trade_date >= :since{last})")
        if query.until is not None:
            # And to the last of them, not on through the account's later fills.
            where.append(
                "f.exchange_time <= (SELECT max(exchange_time) FROM fills "
                "INDEXED BY fills_account_date WHERE account = :account "
                "AND trade_date >= :since AND trade_date <= :until)")
    if not query.include_busted:
        where.append("f.busted_at IS NULL")
    if query.market_id is not None:
        where.append("f.market_id = :market_id")
        params["market_id"] = query.market_id
    if query.side is not None:
        where.append("f.side = :side")
        params["side"] = query.side.value
    if query.time_from is not None:
        where.append("f.exchange_time >= :time_from")
        params["time_from"] = utc_micros(query.time_from)
    if query.time_to is not None:
        where.append("f.exchange_time < :time_to")
        params["time_to"] = utc_micros(query.time_to)
    return where, params
