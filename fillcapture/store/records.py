"""The data the store takes and gives: plain records, the same for every engine.

Capture writes ``Fill``s; the query side reads ``StoredFill``s; the registry
says who owns what. Nothing here knows how an engine keeps them. Over 400
lines only because it is a flat list of small frozen records, each documented.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

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
    file system); a running daemon waits for it. Each engine maps its own
    errors to a :class:`Cause`.
    """

    def __init__(self, message: str, *, permanent: bool = False, outage: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.outage = outage


@dataclass(frozen=True, slots=True)
class Cause:
    """Why a store operation failed. ``permanent``: restarting cannot fix it
    (an operator must). ``outage``: the store cannot take writes for now (full
    disk, read-only file system) and will again once that is fixed, so a
    running daemon waits rather than exits."""

    text: str
    permanent: bool
    outage: bool = False


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
class FillPosition:
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
    next: FillPosition | None


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
    so every row after a cursor committed after every row before it. The
    numbers are the engine's; a publisher keeps a cursor, compares it
    (:meth:`lowest`), logs it (``str``) and hands it back, never reads them."""

    fills: int = 0
    busts: int = 0

    def lowest(self, other: OutboxCursor) -> OutboxCursor:
        """The earlier of the two, table by table."""
        return OutboxCursor(min(self.fills, other.fills), min(self.busts, other.busts))

    def __str__(self) -> str:
        """The place for logs, ``fills/busts``."""
        return f"{self.fills}/{self.busts}"


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

    @property
    def rewound(self) -> bool:
        """A delete took the newest rows: the publisher goes back (:meth:`resume`)."""
        return self.fills_floor is not None or self.busts_floor is not None

    def backlog(self, at: OutboxCursor) -> int:
        """How many stored fills come after ``at``."""
        return max(0, self.newest.fills - at.fills)

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


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    """One stored quarantined record. ``resolved_at`` is set once its fills are
    stored (``resolution`` ``"stored"``) or it proved to be of an account no
    user owns (``"unowned"``)."""

    id: int
    record: Quarantined
    resolved_at: datetime | None = None
    resolution: str | None = None


@dataclass(frozen=True, slots=True)
class CaptureBatch:
    """Everything one writer batch commits, applied in this order in ONE
    transaction (:meth:`~fillcapture.store.roles.Capture.capture`): all of it
    is stored, or none of it, and the batch can be retried whole.

    ``accounts``: (firm, accounts the fill user sees); ``quarantine``: records
    that could not be stored; ``markets``, ``spreads``: terms and definitions
    (before the fills, so a leg of a spread defined here is placed as stored);
    ``late_fills`` / ``late_busts``: of sealed days, stored as amendments;
    ``fills``: live; ``recovered``: from snapshots (new ones were missed);
    ``busts`` after the fills (a bust's fill then counts as captured);
    ``sides``: late order sides; ``recounts``: complete orders, after their
    fills; ``released``: (stored ids, unowned ids) of quarantined records now
    stored; ``snapshots`` last, after every fill before them.
    """

    accounts: Sequence[tuple[str, Sequence[VisibleAccount]]] = ()
    quarantine: Sequence[Quarantined] = ()
    markets: Sequence[Market] = ()
    spreads: Sequence[SpreadDefinition] = ()
    late_fills: Sequence[Fill] = ()
    late_busts: Sequence[Bust] = ()
    fills: Sequence[Fill] = ()
    recovered: Sequence[Fill] = ()
    busts: Sequence[Bust] = ()
    sides: Sequence[OrderSide] = ()
    recounts: Sequence[OrderRecount] = ()
    released: Sequence[tuple[Sequence[int], Sequence[int]]] = ()
    snapshots: Sequence[SnapshotReceived] = ()

    def __bool__(self) -> bool:
        return any((self.accounts, self.quarantine, self.markets, self.spreads,
                    self.late_fills, self.late_busts, self.fills, self.recovered, self.busts,
                    self.sides, self.recounts, self.released, self.snapshots))

    def offered_fills(self) -> list[Fill]:
        """Every fill a part may store a row of, the busts' fills included."""
        return [*self.late_fills, *(bust.fill for bust in self.late_busts), *self.fills,
                *self.recovered, *(bust.fill for bust in self.busts)]

    def counted(self, stored: int) -> dict[str, tuple[int, float]] | None:
        """:attr:`CaptureResult.by_account` from the batch itself when each of
        its ``stored`` new rows is a fill it offered, none a duplicate (the
        common case); ``None`` otherwise: the engine reads its newest
        ``stored`` fill rows back, which under the outbox lock are the batch's."""
        offered = self.offered_fills()
        return by_account(offered) if stored == len(offered) else None


def by_account(fills: Sequence[Fill]) -> dict[str, tuple[int, float]]:
    """Per account number: how many of ``fills`` are its and their newest
    exchange time (unix seconds), as :attr:`CaptureResult.by_account` gives."""
    found: dict[str, tuple[int, float]] = {}
    for fill in fills:
        count, newest = found.get(fill.account, (0, 0.0))
        found[fill.account] = (count + 1, max(newest, fill.exchange_time.timestamp()))
    return found


@dataclass(slots=True)
class CaptureResult:
    """What a :class:`CaptureBatch` changed, part by part: ``quarantined`` new
    records; ``markets`` rows new or changed; ``spreads`` definitions new or
    changed and ``legs_placed``; ``amended_fills`` / ``amended_busts`` that
    changed a sealed day; ``new_fills`` of ``fills``, ``recovered`` of
    ``recovered``; ``fills_from_busts`` and ``new_busts`` of ``busts``;
    ``sides_resolved`` rows; ``recount_busts`` per recount, in order;
    ``released`` (stored, unowned) records resolved per release, in order;
    ``by_account``: per account number, the fill rows the batch stored new
    and the newest exchange time among them (unix seconds), for the
    per-account metrics (one grouped read of the new rows, not per fill)."""

    quarantined: int = 0
    markets: int = 0
    spreads: int = 0
    legs_placed: int = 0
    amended_fills: list[Fill] = field(default_factory=list)
    amended_busts: list[Bust] = field(default_factory=list)
    new_fills: int = 0
    recovered: int = 0
    fills_from_busts: int = 0
    new_busts: int = 0
    sides_resolved: int = 0
    recount_busts: list[int] = field(default_factory=list)
    released: list[tuple[int, int]] = field(default_factory=list)
    by_account: dict[str, tuple[int, float]] = field(default_factory=dict)

    @property
    def stored_fills(self) -> int:
        """Fill rows the batch stored new, by whichever part."""
        return self.new_fills + self.recovered + self.fills_from_busts + len(self.amended_fills)


@dataclass(frozen=True, slots=True)
class MaintenancePlan:
    """The weekly upkeep to do, in this order, as of ``at``: a consistent
    online copy into ``backup_dir`` (none if ``None``) keeping the newest
    ``keep`` of the copies it made there, the engine's optimisation and
    integrity check, and the deletion of fills of trade dates before
    ``prune_before`` (none if ``None``)."""

    at: datetime
    backup_dir: Path | None = None
    keep: int = 4
    prune_before: date | None = None


@dataclass(frozen=True, slots=True)
class MaintenanceReport:
    """What :class:`MaintenancePlan` did: ``backup`` where the copy went
    (``None`` without one) and ``kept`` how many copies remain; ``findings``
    the integrity check's (``["ok"]`` for a sound store); ``pruned`` fills
    deleted; ``store`` the store described for logs (no secret)."""

    store: str
    findings: list[str]
    backup: str | None = None
    kept: int = 0
    pruned: int = 0

    @property
    def sound(self) -> bool:
        """The integrity check found nothing wrong."""
        return self.findings == ["ok"]
