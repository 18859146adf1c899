"""Every table of a store, engine-neutral: what ``fillcapture store copy`` moves.

A :class:`Table` names its columns with a neutral :class:`Kind` each, its key
(the order rows are read and written in) and, for tables whose key is a row
number, the columns that say which record a row is (``identity``): a
destination whose row under a key is another record is another store's.
Each engine reads and writes these rows as plain Python values (see
:class:`fillcapture.store.roles.Tables`): ``datetime`` (aware, UTC),
``date``, ``str``, ``int``, ``bool``, ``bytes``, ``None``.

The ``id`` of ``fills`` and ``busts`` is the row's place in commit order
(the row id, on either engine): the outbox cursors count
in it, so copied cursors mean the same rows on either engine.

Left out, with the reason: each engine's own migration record (the
destination's schema is its own engine's, current) and PostgreSQL's
``leases`` (who holds a lease is a live process of the source, not data).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from functools import cached_property
from typing import Any, TypeAlias

Row: TypeAlias = tuple[Any, ...]
"""One row: its columns' neutral values, in the table's column order."""

Key: TypeAlias = tuple[Any, ...]
"""A row's key columns' values."""


class Kind(Enum):
    """A column's neutral type."""

    TEXT = "text"
    INT = "int"
    BOOL = "bool"
    TIME = "time"
    DATE = "date"
    BYTES = "bytes"


@dataclass(frozen=True)
class Table:
    """A table: ``columns`` (name, kind) in order; ``key`` the primary key's
    columns, in the order rows are sorted by (text by its bytes, as SQLite
    sorts it); ``identity`` the record's own unique columns if the key is a
    row number; ``parent`` (column, table) where a column must name a row of
    another table (a foreign key to that table's one-column key)."""

    name: str
    columns: tuple[tuple[str, Kind], ...]
    key: tuple[str, ...]
    identity: tuple[str, ...] = ()
    parent: tuple[str, str] | None = None

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @cached_property
    def _key_positions(self) -> tuple[int, ...]:
        return tuple(self.names.index(column) for column in self.key)

    @cached_property
    def _identity_positions(self) -> tuple[int, ...]:
        return tuple(self.names.index(column) for column in self.identity or self.key)

    def key_of(self, row: Row) -> Key:
        positions = self._key_positions
        if len(positions) == 1:
            return (row[positions[0]],)
        return tuple(row[i] for i in positions)

    def identity_of(self, row: Row) -> Key:
        return tuple(row[i] for i in self._identity_positions)


def _table(name: str, key: str, columns: str, identity: str = "",
           parent: tuple[str, str] | None = None) -> Table:
    """A table from ``"name:kind name:kind ..."`` (kind one of t i b tm d by)."""
    kinds = {"t": Kind.TEXT, "i": Kind.INT, "b": Kind.BOOL, "tm": Kind.TIME, "d": Kind.DATE,
             "by": Kind.BYTES}
    parsed = tuple((part.split(":")[0], kinds[part.split(":")[1]]) for part in columns.split())
    return Table(name, parsed, tuple(key.split()), tuple(identity.split()), parent)


TABLES: tuple[Table, ...] = (
    _table("users", "name", "name:t created_at:tm"),
    _table("user_accounts", "firm account", "firm:t account:t user_name:t",
           parent=("user_name", "users")),
    _table("accounts", "firm account_id",
           "firm:t account_id:t number:t code:t name:t seen_at:tm"),
    _table("markets", "market_id",
           "market_id:t exchange_id:t contract_id:t point_value:t updated_at:tm"),
    _table("market_legs", "market_id leg_index",
           "market_id:t leg_index:i leg_market_id:t ratio:i direction:i strategy_type:i "
           "updated_at:tm"),
    _table("fee_schedules", "component exchange contract account user_name side effective_from",
           "component:t exchange:t contract:t account:t user_name:t side:t effective_from:d "
           "amount:t currency:t updated_at:tm"),
    _table("fills", "id",
           "id:i firm:t account_id:t account:t order_id:t trade_key:t leg_index:i "
           "exchange_trade_id:t sequence_order:i market_id:t side:t volume:i price:t "
           "exchange_time:tm trade_date:d busted_at:tm captured_at:tm historical:b kind:i "
           "spread_market_id:t leg_sign:i order_side:t",
           identity="firm order_id trade_key leg_index"),
    _table("busts", "id",
           "id:i firm:t account_id:t account:t order_id:t trade_key:t leg_index:i "
           "busted_at:tm captured_at:tm",
           identity="firm order_id trade_key leg_index"),
    _table("quarantine", "id",
           "id:i firm:t account_id:t account:t order_id:t reason:t detail:t kind:t raw:by "
           "digest:t side:t trade_date:d received_at:tm resolved_at:tm resolution:t",
           identity="firm digest"),
    _table("gaps", "id",
           "id:i instance:t started_at:tm ended_at:tm reason:t unrecoverable:b "
           "acknowledged_at:tm"),
    _table("sealed_days", "firm trade_date",
           "firm:t trade_date:d reconciled_at:tm sealed_at:tm verified:b reconcile_step:t "
           "unverified_reason:t"),
    _table("seals", "firm account trade_date",
           "firm:t account:t trade_date:d fills:i volume:i busted:i"),
    _table("certificates", "firm trade_date account",
           "firm:t trade_date:d account:t snapshot:i snapshot_at:tm after_snapshot:i "
           "stored:i recovered:i quarantined:i busted:i"),
    _table("amendments", "id",
           "id:i firm:t account:t trade_date:d kind:t order_id:t trade_key:t leg_index:i at:tm"),
    _table("daemon_state", "instance key", "instance:t key:t value:t"),
    _table("api_tokens", "id",
           "id:i user_name:t token_hash:t admin:b created_at:tm"),
    _table("position_days", "firm trade_date", "firm:t trade_date:d recorded_at:tm"),
    _table("positions", "firm trade_date account market_id",
           "firm:t trade_date:d account:t market_id:t lots:t"),
    _table("position_invalidations", "id", "id:i firm:t trade_date:d at:tm"),
    _table("summary_rows", "account trade_date firm market_id",
           "firm:t account:t trade_date:d market_id:t buys:i buy_volume:i buy_vwap:t "
           "sells:i sell_volume:i sell_vwap:t pnl_points:t net_position:i unknown_side:i "
           "spread_legs:i"),
    _table("summary_coverage", "firm", "firm:t through:d"),
    _table("activity_days", "account firm trade_date",
           "account:t firm:t trade_date:d fills:i volume:i busted:i first_time:tm "
           "last_time:tm"),
    _table("snapshot_counts", "firm account trade_date",
           "firm:t account:t trade_date:d account_id:t fills:i received_at:tm fills_mark:i"),
    # Last: deletes of fills and busts set the destination's floors, and the
    # source's own publishers' places and floors then replace them.
    _table("outbox", "name",
           "name:t fills:i busts:i fills_floor:i busts_floor:i saved_at:tm"),
)
"""Every copied table, in dependency order (a row's references come first)."""

BY_NAME = {table.name: table for table in TABLES}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _micros(value: datetime | None) -> int | None:
    return None if value is None else (value - _EPOCH) // _MICROSECOND


def _day(value: date | None) -> int | None:
    return None if value is None else value.toordinal()


class Digest:
    """A running SHA-256 over a table's rows in key order. Each row counts as
    the ``repr`` of its values, times as microseconds since the epoch and
    dates as day numbers (so the same value on either engine is the same
    text, whatever ``tzinfo`` object a driver gives); a row's ``repr`` is
    unambiguous, so no two different row sequences hash alike."""

    def __init__(self, table: Table) -> None:
        self._hash = hashlib.sha256()
        self._fixes: list[tuple[int, Callable[[Any], Any]]] = [
            (i, _micros if kind is Kind.TIME else _day)
            for i, (_, kind) in enumerate(table.columns) if kind in (Kind.TIME, Kind.DATE)]
        self.rows = 0

    def add(self, rows: Iterable[Sequence[Any]]) -> None:
        texts = []
        for row in rows:
            values = list(row)
            for i, fix in self._fixes:
                values[i] = fix(values[i])
            texts.append(repr(tuple(values)))
        if texts:
            self.rows += len(texts)
            self._hash.update(("\n".join(texts) + "\n").encode())

    def hexdigest(self) -> str:
        return self._hash.hexdigest()
