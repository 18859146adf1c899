"""The store interface every engine implements, and the data it takes and gives.

Capture writes ``Fill``s; the query side reads ``StoredFill``s; the registry says who owns what.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Protocol, Self

if TYPE_CHECKING:
    from fillcapture.store.moves import Change
    from fillcapture.store.quarantine import QuarantineRow

from fillcapture.model import (
    Bust,
    Fill,
    Market,
    OrderRecount,
    OrderSide,
    Quarantined,
    Side,
    SnapshotReceived,
    SpreadDefinition,
    VisibleAccount,
)

FillKind = Literal["outright", "leg", "pending_leg", "spread"]
"""What a stored fill is to positions (see :class:`StoredFill`)."""


class StoreError(Exception):
    """The store cannot do what was asked; ``str()`` says why in one line.

    ``permanent``: restarting cannot fix it (the command line exits 2).
    ``outage``: the store cannot take writes for now (full disk, read-only
    file system); a running daemon waits for it (see ``store/errors.py``).
    """

    def __init__(self, message: str, *, permanent: bool = False, outage: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.outage = outage


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
    ``market_id``, ``side``: exactly these (``side`` leaves out fills of unknown side).
    ``time_from`` / ``time_to``: exchange time from ``time_from`` on and before
    ``time_to``, so that consecutive windows neither overlap nor leave a gap.
    """

    user: str | None = None
    account: str | None = None
    since: date | None = None
    until: date | None = None
    firm: str | None = None
    include_busted: bool = True
    market_id: str | None = None
    side: Side | None = None
    time_from: datetime | None = None
    time_to: datetime | None = None


@dataclass(frozen=True, slots=True, order=True)
class FillKey:
    """A fill's place in the query order, ``(exchange_time, row)``: ``row`` is
    its row number in the store, which breaks ties between equal times. A page
    of fills ends at a key and the next page starts after it."""

    exchange_time: datetime
    row: int


@dataclass(frozen=True, slots=True)
class FillPage:
    """Up to a page of fills in query order; ``next`` is the key to read on
    from, ``None`` when no matching fill follows."""

    fills: list[StoredFill]
    next: FillKey | None


@dataclass(frozen=True, slots=True)
class DayActivity:
    """One account's fills of one trade date at one firm: live ones, their
    volume, the first and last live fill time (``None`` without any), busted ones."""

    firm: str
    account: str
    trade_date: date
    fills: int
    volume: int
    busted: int
    first_fill: datetime | None
    last_fill: datetime | None


@dataclass(frozen=True, slots=True)
class AccountActivity:
    """A user's registry entry (``firm`` ``None``: the account number at any
    firm) and the fills of it that user owns: live ones, their volume and the
    first and last exchange time (``None`` without any), and busted ones."""

    firm: str | None
    account: str
    fills: int
    volume: int
    busted: int
    first_fill: datetime | None
    last_fill: datetime | None


@dataclass(frozen=True, slots=True)
class DailyRow:
    """One account's trading in one market on one trade date: a row of the
    daily summary (``fillcapture.reports`` computes them).

    ``buy_vwap``/``sell_vwap`` are ``None`` on a day without buys/sells;
    ``pnl_currency`` is ``None`` where the market's point value is unknown.
    ``net_position`` is signed contracts (short below zero) after the day's
    last fill. ``unknown_side`` and ``spread_legs`` count fills left out.
    """

    trade_date: date
    firm: str
    account: str
    market_id: str
    buys: int
    buy_volume: int
    buy_vwap: Decimal | None
    sells: int
    sell_volume: int
    sell_vwap: Decimal | None
    pnl_points: Decimal
    pnl_currency: Decimal | None
    net_position: int
    unknown_side: int
    spread_legs: int


Lots = tuple[tuple[Decimal, int], ...]
"""A book's open lots, oldest first: (price, signed contracts), long above zero."""


@dataclass(frozen=True, slots=True)
class PositionDay:
    """``firm``'s open positions after every fill of ``trade_date`` and before:
    lots by (account, market id), flat books left out."""

    firm: str
    trade_date: date
    books: dict[tuple[str, str], Lots]


@dataclass(frozen=True, slots=True)
class TokenHolder:
    """Whom an API token belongs to: ``name`` is the user it reads for, or with
    ``admin`` an operator, who may read any user."""

    name: str
    admin: bool


@dataclass(frozen=True, slots=True)
class StoredFill:
    """One fill as stored. ``user`` is its current owner per the registry
    (``None`` if nobody owns it any more); ``price`` is the exact text T4 sent.

    ``kind``: ``outright``; ``leg``, a spread leg fill on its own contract and
    side; ``pending_leg``, a leg whose spread's definition has not arrived
    (``market_id`` the spread's, ``side`` ``None``); ``spread``, the
    spread-level trade of an order whose legs carry the position (never
    counted in positions). ``spread_market_id``: a leg's spread market."""

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
    kind: FillKind = "outright"
    spread_market_id: str | None = None

    @property
    def trade_key(self) -> str:
        """As :attr:`fillcapture.model.Fill.trade_key`: part of the fill's identity."""
        return self.exchange_trade_id or f"#{self.sequence_order}"


@dataclass(frozen=True, slots=True)
class OutboxCursor:
    """A place in the store's order of commits: the last ``fills.id`` and
    ``busts.id`` taken. Rows are numbered as they commit, one writer at a time,
    so every row after a cursor committed after every row before it."""

    fills: int = 0
    busts: int = 0

    def lowest(self, other: OutboxCursor) -> OutboxCursor:
        """The earlier of the two, table by table."""
        return OutboxCursor(min(self.fills, other.fills), min(self.busts, other.busts))


@dataclass(frozen=True, slots=True)
class Outbox:
    """A publisher's saved place, and the newest rows stored now.

    ``fills_floor`` / ``busts_floor`` are set when a delete (retention) took the
    newest rows of a table: SQLite then numbers the next rows from the newest
    remaining one, reusing ids a publisher may have passed already. A publisher
    goes back to the floor (:meth:`resume`) rather than skip those rows."""

    cursor: OutboxCursor
    newest: OutboxCursor
    fills_floor: int | None = None
    busts_floor: int | None = None

    def resume(self, at: OutboxCursor) -> OutboxCursor:
        """``at``, taken back to the floors where they are lower."""
        floor = OutboxCursor(
            at.fills if self.fills_floor is None else self.fills_floor,
            at.busts if self.busts_floor is None else self.busts_floor,
        )
        return at.lowest(floor)


@dataclass(frozen=True, slots=True)
class OutboxBatch:
    """The next stored fills, then busts (each with the busted fill and the bust
    time), in commit order; ``cursor`` is the place after all of them."""

    fills: list[StoredFill]
    busts: list[tuple[StoredFill, datetime]]
    cursor: OutboxCursor


@dataclass(frozen=True, slots=True)
class Gap:
    """A time the daemon ``instance`` did not hear T4. ``ended_at`` is None while
    it lasts; ``unrecoverable``: it covered trading of a trade date T4 has since
    forgotten, so fills may be lost for good (until acknowledged, a problem)."""

    id: int
    instance: str
    started_at: datetime
    ended_at: datetime | None
    reason: str
    unrecoverable: bool
    acknowledged_at: datetime | None


@dataclass(frozen=True, slots=True)
class Seal:
    """What one account's trade date held when it was sealed after the roll."""

    firm: str
    account: str
    trade_date: date
    fills: int
    volume: int
    busted: int
    reconciled_at: datetime | None
    sealed_at: datetime
    amendments: int


@dataclass(frozen=True, slots=True)
class Verification:
    """How a day's pre-roll reconcile ended, as its seal records it: ``verified``
    through ``step`` (``resubscribe``, ``unsubscribe_subscribe``,
    ``new_session``), or not, and ``reason`` why not."""

    verified: bool
    step: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Certificate:
    """What the seal found of one account's trade date, against T4's word.

    ``snapshot``: fills of the day in T4's last snapshot of the account
    (``None``: none was seen), received at ``snapshot_at``;
    ``after_snapshot``: of the stored fills, those T4 sent live after it
    (the reconcile runs before the close, so the day's last fills come
    after its snapshot); ``stored``: the day's fills in the store, busted
    ones included (a snapshot keeps them too); ``recovered``: of those,
    stored from the reconcile's snapshots; ``quarantined``: records of the
    day the daemon could not store; ``busted``: stored fills busted.
    """

    firm: str
    account: str
    trade_date: date
    snapshot: int | None
    snapshot_at: datetime | None
    after_snapshot: int
    stored: int
    recovered: int
    quarantined: int
    busted: int

    @property
    def difference(self) -> int | None:
        """Fills T4 reported that the store lacks (below zero: stored fills T4's
        snapshot and live feed did not report); ``None`` without a snapshot."""
        if self.snapshot is None:
            return None
        return self.snapshot + self.after_snapshot - self.stored


@dataclass(frozen=True, slots=True)
class SealedDay:
    """A sealed trade date of a firm: when, how its reconcile ended
    (``verified`` ``None``: sealed before certificates were recorded), and
    its certificates by account."""

    firm: str
    trade_date: date
    sealed_at: datetime
    reconciled_at: datetime | None
    verified: bool | None
    reconcile_step: str | None
    unverified_reason: str | None
    certificates: tuple[Certificate, ...]


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

    def lease(self, instance: str) -> AbstractAsyncContextManager[None]:
        """Hold the store's exclusive lease of firm instance ``instance`` for
        the block: one daemon per (store, instance). Raises a permanent
        :class:`StoreError` naming the holder while another process holds it;
        released when the block ends or the process dies, however it dies."""
        ...

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

    async def quarantine(self, records: Sequence[Quarantined]) -> int:
        """Keep records that could not be stored; the same record kept once."""
        ...

    async def quarantined(self, *, open_only: bool = True, reason: str | None = None,
                          limit: int | None = None) -> list[QuarantineRow]:
        """Quarantined records in arrival order (unresolved only by default)."""
        ...

    async def quarantine_counts(self) -> dict[str, int]:
        """Unresolved quarantined records by reason."""
        ...

    async def resolve_quarantined(self, ids: Sequence[int], resolution: str) -> int:
        """Mark quarantined records resolved; returns how many were open."""
        ...

    async def bust_missing(self, recount: OrderRecount) -> int:
        """Bust the order's stored fills its complete snapshot no longer lists."""
        ...

    async def save_accounts(self, firm: str, accounts: Sequence[VisibleAccount]) -> None:
        """Record what is known of accounts the fill user sees."""
        ...

    async def known_accounts(self) -> dict[str, list[VisibleAccount]]:
        """Every recorded account, by firm."""
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

    async def markets(self) -> dict[str, Market]:
        """Every market's recorded terms, by market id."""
        ...

    async def save_spreads(self, definitions: Sequence[SpreadDefinition]) -> tuple[int, int]:
        """Record spread markets' legs, and place the pending leg fills of those
        spreads on their legs' contracts and sides (a recorded day they change
        discards its recorded positions, as a late side does). Returns
        (definitions new or changed, leg fills placed)."""
        ...

    async def spreads(self) -> dict[str, SpreadDefinition]:
        """Every recorded spread definition, by spread market id."""
        ...

    # --- positions (checkpoints of the daily summary) ------------------------

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

    # --- operations -----------------------------------------------------------

    async def seal_day(self, firm: str, day: date, reconciled_at: datetime | None,
                       verification: Verification | None = None,
                       recovered: Mapping[str, int] | None = None) -> list[Seal]:
        """Seal ``day`` for ``firm``: record per account its fills, volume and busts
        now, how the reconcile ended, and a :class:`Certificate` per account
        with fills stored, in T4's last snapshot or quarantined (``recovered``:
        fills the reconcile recovered, by account). Sealing a sealed day again
        changes nothing; returns the day's seals."""
        ...

    async def save_snapshots(self, snapshots: Sequence[SnapshotReceived]) -> None:
        """Record each account's latest snapshot per trade date, in the order
        given, after every fill committed before: a snapshot's ``first`` frame
        replaces what was recorded of those dates, a later frame of the same
        snapshot updates its counts."""
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

    async def sideless_orders(self) -> set[tuple[str, str, str]]:
        """(firm, account_id, order_id) of every order with a fill of unknown side."""
        ...

    # --- ownership registry ---------------------------------------------------

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

    # --- API tokens -----------------------------------------------------------

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

    # --- query side -----------------------------------------------------------

    async def fill_page(self, query: FillQuery, after: FillKey | None, limit: int) -> FillPage:
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

    # --- outbox (publishing) --------------------------------------------------

    async def outbox(self, name: str) -> Outbox:
        """Where the publisher ``name`` saved its place (the start if never)."""
        ...

    async def outbox_batch(self, after: OutboxCursor, limit: int) -> OutboxBatch:
        """Up to ``limit`` fills and ``limit`` busts committed after ``after``, each
        fill with its current owner. A bust waits for a later batch while its
        fill is not yet in this one or an earlier one: a bust never precedes its fill."""
        ...

    async def save_outbox(self, name: str, cursor: OutboxCursor,
                          seen: Outbox | None = None) -> None:
        """Save the publisher ``name``'s place. With ``seen``, also clear the
        floors it read there, unless a later delete has lowered them again."""
        ...
