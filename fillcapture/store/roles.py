"""The store interface, split by role: one small protocol per concern.

An engine implements them all (:class:`Store` is their union); a part of the
daemon that needs one concern asks for that role only. Every write is one
transaction; every read sees committed data only. Over 400 lines only
because it is the whole interface: method signatures and their contracts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from types import TracebackType
from typing import Protocol, Self

from fillcapture.fees import FeeSchedule
from fillcapture.model import (
    Bust,
    Fill,
    Market,
    OrderSide,
    Quarantined,
    SnapshotReceived,
    SpreadDefinition,
    VisibleAccount,
)
from fillcapture.store.lease import LeaseHeld, Waiting
from fillcapture.store.moves import Change
from fillcapture.store.records import (
    AccountActivity,
    CaptureBatch,
    CaptureResult,
    DailyRow,
    DayActivity,
    FillPage,
    FillPosition,
    FillQuery,
    Gap,
    MaintenancePlan,
    MaintenanceReport,
    Outbox,
    OutboxBatch,
    OutboxCursor,
    Owner,
    PositionDay,
    QuarantineRow,
    Seal,
    SealedDay,
    StoredFill,
    TokenHolder,
    Verification,
)
from fillcapture.store.tables import Key, Row, Table


class Lease(Protocol):
    """The store's exclusive lease per firm instance: one daemon per
    (store, instance), the rest standbys (see :mod:`fillcapture.store.lease`)."""

    def lease(self, instance: str, *, waiting: Waiting | None = None,
              check_seconds: float = 1.0) -> AbstractAsyncContextManager[LeaseHeld]:
        """Hold the store's exclusive lease of firm instance ``instance`` for
        the block. While another process holds it: without ``waiting``, a
        permanent :class:`StoreError` naming the holder; with it, wait for
        the lease, telling ``waiting`` who holds it. Released when the block
        ends or the process dies, however it dies. A lease that can be lost
        while held is checked every ``check_seconds`` (a check taking longer
        counts as lost)."""
        ...


class Capture(Protocol):
    """The capture path's writes: what the writer commits, each call one transaction."""

    async def capture(self, batch: CaptureBatch) -> CaptureResult:
        """Commit everything of one writer batch in ONE transaction, in the order
        :class:`CaptureBatch` states: all of it is stored or none of it, so a
        failed batch is retried whole (every part is idempotent). Each method
        below is this with one part."""
        ...

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

    async def quarantine(self, records: Sequence[Quarantined]) -> int:
        """Keep records that could not be stored; the same record kept once."""
        ...

    async def save_accounts(self, firm: str, accounts: Sequence[VisibleAccount]) -> None:
        """Record what is known of accounts the fill user sees."""
        ...

    async def insert_amendments(
        self, fills: Sequence[Fill], busts: Sequence[Bust]
    ) -> tuple[list[Fill], list[Bust]]:
        """Store fills and busts of sealed days like ``insert_fills`` and
        ``insert_busts``, recording each one that changed a day as an
        amendment; return those."""
        ...

    async def save_markets(self, markets: Sequence[Market]) -> int:
        """Record markets' terms, replacing what was known of each; return how
        many rows were new or changed."""
        ...

    async def save_spreads(self, definitions: Sequence[SpreadDefinition]) -> tuple[int, int]:
        """Record spread markets' legs, and place the pending leg fills of those
        spreads on their legs' contracts and sides (a recorded day they change
        discards its recorded positions, as a late side does). Returns
        (definitions new or changed, leg fills placed)."""
        ...

    async def save_snapshots(self, snapshots: Sequence[SnapshotReceived]) -> None:
        """Record each account's latest snapshot per trade date, in the order
        given, after every fill committed before: a snapshot's ``first`` frame
        replaces what was recorded of those dates, a later frame of the same
        snapshot updates its counts."""
        ...


class Catalogue(Protocol):
    """What capture recorded besides fills, read back: busts, quarantine,
    accounts, markets, spreads."""

    async def count_busts(self) -> int:
        """How many busts are recorded."""
        ...

    async def quarantined(self, *, open_only: bool = True, reason: str | None = None,
                          limit: int | None = None) -> list[QuarantineRow]:
        """Quarantined records in arrival order (unresolved only by default)."""
        ...

    async def quarantine_counts(self) -> dict[str, int]:
        """Unresolved quarantined records by reason."""
        ...

    async def known_accounts(self) -> dict[str, list[VisibleAccount]]:
        """Every recorded account, by firm."""
        ...

    async def markets(self) -> dict[str, Market]:
        """Every market's recorded terms, by market id."""
        ...

    async def spreads(self) -> dict[str, SpreadDefinition]:
        """Every recorded spread definition, by spread market id."""
        ...

    async def sideless_orders(self) -> set[tuple[str, str, str]]:
        """(firm, account_id, order_id) of every order with a fill of unknown side."""
        ...


class Query(Protocol):
    """The query side: stored fills read in order, streamed or by page."""

    async def fill_page(self, query: FillQuery, after: FillPosition | None, limit: int) -> FillPage:
        """Up to ``limit`` matching fills in :meth:`fills` order, those after
        ``after`` (from the first if ``None``)."""
        ...

    async def account_activity(self, name: str) -> list[AccountActivity]:
        """Per registry entry of ``name``: the fills of it that ``name`` owns."""
        ...

    def fills(self, query: FillQuery) -> AsyncIterator[StoredFill]:
        """Stream matching fills in (exchange_time, id) order, in constant memory."""
        ...

    async def count_fills(self) -> int:
        """How many fills are stored, busted ones included."""
        ...


class Registry(Protocol):
    """The ownership registry: which user owns which (firm, account)."""

    async def seed_registry(self, owners: Sequence[Owner], *,
                            force: bool = False) -> list[Change]:
        """Add the users and accounts not registered yet; never remove or reassign.
        :class:`~fillcapture.store.moves.MoveRefused` (nothing changed) if a new
        entry would move fills between users, unless ``force``; returns what
        changed hands."""
        ...

    async def registry(self) -> list[Owner]:
        """Every (user, firm, account) row, as committed now."""
        ...

    async def add_user(self, name: str, accounts: Sequence[str], firm: str | None = None, *,
                       force: bool = False) -> list[Change]:
        """Create ``name`` if needed and give it ``accounts``; raise
        :class:`~fillcapture.store.moves.MoveRefused` (nothing changed) if that
        would move fills between users, unless ``force``; returns what changed hands."""
        ...

    async def remove_user(self, name: str, *, force: bool = False) -> list[Change] | None:
        """Remove ``name`` and its accounts; ``None`` if there was no such user.
        :class:`~fillcapture.store.moves.MoveRefused` (nothing changed) if that
        would hand fills to another user, unless ``force``; returns what changed hands."""
        ...

    async def users(self) -> dict[str, list[Owner]]:
        """Every user with its account rows (an empty list for a user with none)."""
        ...

    async def user_accounts(self, name: str) -> list[Owner] | None:
        """``name``'s account rows (``[]`` for none); ``None`` if there is no such user."""
        ...


class Fees(Protocol):
    """Fee and commission schedules (:mod:`fillcapture.fees`), by
    :attr:`~fillcapture.fees.FeeSchedule.key`. A summary applies them when it
    is read, so a change here needs no recorded summary discarded."""

    async def fee_schedules(self) -> list[FeeSchedule]:
        """Every schedule, sorted by key; amounts the exact decimals stored.
        A stored row that is no schedule is a permanent :class:`StoreError`
        naming it."""
        ...

    async def set_fee_schedule(self, schedule: FeeSchedule) -> bool:
        """Insert ``schedule``, or replace the amount and currency of the
        schedule of its key; ``True`` if that changed anything."""
        ...

    async def remove_fee_schedule(
            self, schedule_key: tuple[str, str, str, str, str, str, date]) -> bool:
        """Remove the schedule of this key; ``True`` if there was one."""
        ...

    async def seed_fee_schedules(self, schedules: Sequence[FeeSchedule]) -> int:
        """Insert those of ``schedules`` whose key is absent, never replacing
        a stored one (changed since with ``fillcapture fees``); how many were added."""
        ...


class Summaries(Protocol):
    """Recorded checkpoints of the daily summary (positions, rows, activity)
    and what they are computed over."""

    async def position_day(self, firm: str, before: date,
                           accounts: Sequence[str] | None = None) -> PositionDay | None:
        """``firm``'s latest recorded positions of a trade date before ``before``
        (books of ``accounts`` only, if given); ``None`` if none is recorded."""
        ...

    async def summary_coverage(self, firm: str) -> date | None:
        """The trade date through which ``firm``'s daily summary rows are recorded."""
        ...

    async def summary_rows(self, query: FillQuery, since: date | None,
                           until: date | None) -> list[DailyRow]:
        """Recorded summary rows of trade dates ``since`` to ``until`` (inclusive,
        open ends unbounded), of the accounts, firm and market ``query`` names
        (its other criteria ignored); ``pnl_currency`` is ``None``."""
        ...

    async def invalidation_mark(self) -> int:
        """The store's count of position invalidations so far: read it before
        reading what positions are computed from, give it to :meth:`save_positions`."""
        ...

    async def save_positions(self, day: PositionDay, mark: int, rows: Sequence[DailyRow],
                             activity: Sequence[DayActivity], rows_after: date | None) -> bool:
        """Record ``day`` (replacing a record of the same day) and ``day.firm``'s
        summary rows and activity of the trade dates after ``rows_after`` (all
        if ``None``) through ``day.trade_date``, replacing those recorded, and
        so they cover ``day.trade_date``; unless a change to ``day.firm``'s fills of
        that date or earlier was made since the invalidation mark was
        ``mark``: then record nothing and return ``False``. Such a change (an
        amendment of a sealed day, a late side) deletes the positions and
        rows recorded of its date and later."""
        ...

    async def fill_firms(self) -> list[str]:
        """Every firm with a stored fill."""
        ...

    async def fill_accounts(self) -> list[str]:
        """Every account number with a stored fill, at any firm."""
        ...

    async def first_trade_date(self, firm: str) -> date | None:
        """The earliest trade date of ``firm``'s stored fills; ``None`` without any."""
        ...


class Operations(Protocol):
    """The daemon's own records: seals and certificates, gaps, state, recovery counts."""

    async def seal_day(self, firm: str, day: date, reconciled_at: datetime | None,
                       verification: Verification | None = None,
                       recovered: Mapping[str, int] | None = None) -> list[Seal]:
        """Seal ``day`` for ``firm``: record per account its fills, volume and busts
        now, how the reconcile ended, and a :class:`Certificate` per account
        with fills stored, in T4's last snapshot or quarantined (``recovered``:
        fills the reconcile recovered, by account). Sealing a sealed day again
        changes nothing; returns the day's seals."""
        ...

    async def quarantined_counts(self, firm: str, day: date) -> dict[str, int]:
        """Per account number: records of ``firm``'s trade date ``day`` in quarantine."""
        ...

    async def sealed_days(self, since: date | None = None, until: date | None = None, *,
                          latest: bool = False) -> list[SealedDay]:
        """Sealed days from ``since`` through ``until`` (inclusive, open ends
        unbounded), oldest first, with their certificates; with ``latest``,
        of those only each firm's latest sealed day."""
        ...

    async def sealed_through(self, firm: str) -> date | None:
        """The latest trade date sealed for ``firm``."""
        ...

    async def seals(self, since: date | None = None) -> list[Seal]:
        """Seals from ``since`` on, with the amendments each day received."""
        ...

    async def open_gap(self, instance: str, started_at: datetime, reason: str) -> int:
        """Record the start of a gap; return its id."""
        ...

    async def close_gap(self, gap_id: int, ended_at: datetime, unrecoverable: bool) -> None:
        ...

    async def gaps(self, *, open_only: bool = False) -> list[Gap]:
        """Gaps, newest first; ``open_only``: unrecoverable and not acknowledged."""
        ...

    async def acknowledge_gap(self, gap_id: int) -> bool:
        """Acknowledge an unrecoverable gap; False if there is no such gap."""
        ...

    async def recovered_since(self, firm: str, accounts: Sequence[str], day: date,
                              since: datetime) -> dict[str, int]:
        """Per account: fills of ``day`` stored from snapshots since ``since``
        (those T4 had and the store lacked); accounts with none are left out."""
        ...

    async def last_fills(self, accounts: Sequence[str]) -> dict[str, tuple[datetime, date, int]]:
        """Per account number: newest fill time, latest trade date, its live fill count."""
        ...

    async def set_state(self, instance: str, values: dict[str, str]) -> None:
        """Record what a daemon says about itself (status)."""
        ...

    async def state(self) -> dict[str, dict[str, str]]:
        """Every daemon's recorded state, by instance."""
        ...


class Tokens(Protocol):
    """API tokens, kept by hash."""

    async def issue_token(self, name: str, token_hash: str, *, admin: bool) -> None:
        """Record a token by its hash, replacing ``name``'s previous token of the
        same kind. A user's token (not ``admin``) needs the user registered,
        else :class:`StoreError`; removing the user removes its tokens."""
        ...

    async def revoke_tokens(self, name: str) -> int:
        """Remove every token of ``name`` (user and operator); return how many."""
        ...

    async def token_holder(self, token_hash: str) -> TokenHolder | None:
        """Whose token has this hash; ``None`` if none has."""
        ...


class OutboxReading(Protocol):
    """Reading the outbox. The engine's promise: rows come back in commit order,
    so every row after a cursor committed after every row before it, and a
    publisher that moves its cursor only past what it delivered passes over
    nothing. The cursor is the engine's: a publisher only keeps, compares
    (``lowest``) and hands it back."""

    async def outbox(self, name: str) -> Outbox:
        """Where the publisher ``name`` saved its place (the start if never)."""
        ...

    async def outbox_batch(self, after: OutboxCursor, limit: int) -> OutboxBatch:
        """Up to ``limit`` fills and ``limit`` busts committed after ``after``, each
        fill with its current owner. A bust waits for a later batch while its
        fill is not yet in this one or an earlier one: a bust never precedes its fill."""
        ...


class OutboxStore(OutboxReading, Protocol):
    """The publishers' outbox: stored rows in commit order and each publisher's saved place."""

    async def save_outbox(self, name: str, cursor: OutboxCursor,
                          seen: Outbox | None = None) -> None:
        """Save the publisher ``name``'s place. With ``seen``, also clear the
        floors it read there, unless a later delete has lowered them again."""
        ...

    def outbox_reader(self) -> AbstractAsyncContextManager[OutboxReading]:
        """A reader of the outbox for the block, which never holds up capture
        (for SQLite, a read-only connection of its own)."""
        ...


class Maintenance(Protocol):
    """Upkeep: a cheap call every minute, and the weekly plan in one call, so
    that nothing outside the engine knows how it keeps its data."""

    async def housekeeping(self) -> None:
        """The per-minute upkeep (for SQLite, the WAL checkpoint that frees its
        space); quick, and a no-op where the engine needs none."""
        ...

    async def maintain(self, plan: MaintenancePlan) -> MaintenanceReport:
        """Do ``plan``'s backup, optimisation, integrity check and retention,
        in that order; an integrity problem is a finding, not an exception."""
        ...


class Tables(Protocol):
    """Every table's rows as engine-neutral values (:mod:`fillcapture.store.tables`),
    for copying a whole store to another, of either engine. Reads see
    committed rows; each write is one transaction."""

    async def read_rows(self, table: Table, after: Key | None, limit: int) -> list[Row]:
        """Up to ``limit`` rows of ``table`` in key order, those after the key
        ``after`` (from the first if ``None``)."""
        ...

    async def write_rows(self, table: Table, rows: Sequence[Row]) -> None:
        """Store ``rows``, each replacing the row of its key if there is one
        (so writing the same rows again changes nothing); the engine's
        counters (row numbers, commit order) then continue after them."""
        ...

    async def append_rows(self, table: Table, rows: Sequence[Row]) -> None:
        """Store ``rows``, whose keys are all greater than every key ``table``
        holds, the quickest way the engine has (PostgreSQL: ``COPY``); a key
        or record held already is a :class:`StoreError`, nothing written."""
        ...

    async def delete_rows(self, table: Table, keys: Sequence[Key]) -> None:
        """Remove the rows of these keys."""
        ...

    async def count_rows(self, table: Table) -> int:
        """How many rows ``table`` holds."""
        ...

    async def last_row(self, table: Table) -> Row | None:
        """The row of the greatest key; ``None`` if the table is empty."""
        ...

    async def find_row(self, table: Table, key: Key) -> Row | None:
        """The row of ``key``; ``None`` if there is none."""
        ...


class Store(Lease, Capture, Catalogue, Query, Registry, Fees, Summaries, Operations, Tokens,
            OutboxStore, Maintenance, Tables, Protocol):
    """A fill store: every role. Open it with ``async with``; every write is one transaction."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def close(self) -> None: ...
