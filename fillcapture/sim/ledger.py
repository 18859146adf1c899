"""The simulator's ground truth: every fill it generated, in order, and which were busted.

Kept in memory and, optionally, as a JSON-lines file a test may read while the server runs.

The file is append-only, so a reader never sees a line change. Each line is one
JSON object, either

- a fill, exactly :meth:`LedgerFill.to_json` as it was made (``busted_at`` null;
  files from before busts existed leave the key out), or
- a bust, ``{"kind": "bust", "firm", "account_id", "order_id",
  "exchange_trade_id", "sequence_order", "leg_index", "busted_at"}``, naming an
  earlier fill line by those fields and giving the bust time (UTC, microseconds).

:func:`read_ledger` applies the bust lines to the fills they name.
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from fillcapture.files import append_private

_UTC = datetime.UTC

LedgerKey = tuple[str, str, str, str, int, int | None]
"""A ledger fill's identity, what a bust line names it by: firm, account id,
order id, exchange trade id, sequence order and leg index."""


@dataclass(frozen=True, slots=True)
class LedgerFill:
    """One generated fill exactly as the simulator put it on the wire.

    ``price`` is the decimal text sent; ``exchange_time`` is UTC with
    microsecond precision (the wire's Timestamp round-trips it exactly);
    ``leg_index`` is ``None`` for an outright fill, else the spread leg (the
    legs of one spread fill share ``exchange_trade_id`` and ``sequence_order``);
    ``busted_at`` is when the fill was busted, ``None`` while it stands.

    ``fill_kind`` is ``outright``, ``leg`` or ``spread``. A leg's ``market_id`` and
    ``side`` are its own contract's and side (the spread order's side times
    the leg's direction) and its ``volume`` the leg's (spread contracts times
    the leg's ratio), though the wire names the spread's market and order; a
    ``spread`` entry is the spread-level trade of a spread fill (``[sim]
    spread_trades``), on the spread market, which is no position: its legs are.
    """

    firm: str
    account_id: str
    account: str
    order_id: str
    exchange_trade_id: str
    sequence_order: int
    leg_index: int | None
    market_id: str
    side: str
    volume: int
    price: str
    exchange_time: datetime.datetime
    trade_date: datetime.date
    busted_at: datetime.datetime | None = None
    fill_kind: str = "outright"

    @property
    def key(self) -> LedgerKey:
        return (
            self.firm,
            self.account_id,
            self.order_id,
            self.exchange_trade_id,
            self.sequence_order,
            self.leg_index,
        )

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data; times as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, dates as ``YYYY-MM-DD``."""
        busted_at = self.busted_at
        return {
            "firm": self.firm,
            "account_id": self.account_id,
            "account": self.account,
            "order_id": self.order_id,
            "exchange_trade_id": self.exchange_trade_id,
            "sequence_order": self.sequence_order,
            "leg_index": self.leg_index,
            "market_id": self.market_id,
            "side": self.side,
            "volume": self.volume,
            "price": self.price,
            "exchange_time": format_utc(self.exchange_time),
            "trade_date": self.trade_date.isoformat(),
            "busted_at": None if busted_at is None else format_utc(busted_at),
            "fill_kind": self.fill_kind,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LedgerFill:
        """The inverse of :meth:`to_json`; ``busted_at`` and ``fill_kind`` may
        be missing (files from before: a fill with a leg index is a leg)."""
        leg_index = data.get("leg_index")
        busted_at = data.get("busted_at")
        return cls(
            firm=str(data["firm"]),
            account_id=str(data["account_id"]),
            account=str(data["account"]),
            order_id=str(data["order_id"]),
            exchange_trade_id=str(data["exchange_trade_id"]),
            sequence_order=int(data["sequence_order"]),
            leg_index=None if leg_index is None else int(leg_index),
            market_id=str(data["market_id"]),
            side=str(data["side"]),
            volume=int(data["volume"]),
            price=str(data["price"]),
            exchange_time=parse_utc(data["exchange_time"], "exchange_time"),
            trade_date=datetime.date.fromisoformat(data["trade_date"]),
            busted_at=None if busted_at is None else parse_utc(busted_at, "busted_at"),
            fill_kind=str(data.get("fill_kind")
                          or ("outright" if leg_index is None else "leg")),
        )


def format_utc(moment: datetime.datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` for an aware datetime."""
    utc = moment.astimezone(_UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


def parse_utc(text: str, field: str) -> datetime.datetime:
    """The inverse of :func:`format_utc`; any explicit offset is accepted."""
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{field}: a timezone is required")
    return moment.astimezone(_UTC)


def bust_json(fill: LedgerFill) -> dict[str, Any]:
    """The bust line of a busted fill."""
    if fill.busted_at is None:
        raise ValueError("bust_json: the fill is not busted")
    return {
        "kind": "bust",
        "firm": fill.firm,
        "account_id": fill.account_id,
        "order_id": fill.order_id,
        "exchange_trade_id": fill.exchange_trade_id,
        "sequence_order": fill.sequence_order,
        "leg_index": fill.leg_index,
        "busted_at": format_utc(fill.busted_at),
    }


def read_ledger(path: Path) -> list[LedgerFill]:
    """The fills in a ledger file, in generation order, with their busts applied.

    A last line without its newline is a write still under way and is skipped,
    so the file can be read while the simulator appends to it. A bust line
    naming no earlier fill is an error (``ValueError``): the file is not one
    the simulator wrote.
    """
    fills: list[LedgerFill] = []
    where: dict[LedgerKey, int] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break
            if not line.strip():
                continue
            data = json.loads(line)
            if data.get("kind") != "bust":
                fill = LedgerFill.from_json(data)
                where[fill.key] = len(fills)
                fills.append(fill)
                continue
            leg_index = data["leg_index"]
            key: LedgerKey = (
                str(data["firm"]),
                str(data["account_id"]),
                str(data["order_id"]),
                str(data["exchange_trade_id"]),
                int(data["sequence_order"]),
                None if leg_index is None else int(leg_index),
            )
            index = where.get(key)
            if index is None:
                raise ValueError(f"{path}: a bust of a fill not in the ledger: {key}")
            busted_at = parse_utc(data["busted_at"], "busted_at")
            fills[index] = dataclasses.replace(fills[index], busted_at=busted_at)
    return fills


class LedgerWriter:
    """Appends fills and busts to a JSON-lines file; :meth:`flush` makes them visible to readers.

    The ledger and its ``.corrupt`` sibling are private (0600) and never a
    symbolic link (:func:`~fillcapture.files.append_private`)."""

    def __init__(self, path: Path) -> None:
        self._handle: IO[str] = io.TextIOWrapper(append_private(path), encoding="utf-8")
        self._corrupt_path = corrupt_path(path)
        self._corrupt: IO[str] | None = None

    def write_corrupt(self, records: Sequence[tuple[str, str, str]]) -> None:
        """Append corrupt records sent (account number, order id, trade id),
        one JSON list per line, to the ledger's ``.corrupt`` sibling."""
        if not records:
            return
        if self._corrupt is None:
            self._corrupt = io.TextIOWrapper(append_private(self._corrupt_path),
                                             encoding="utf-8")
        self._corrupt.write("".join(json.dumps(list(r)) + "\n" for r in records))

    def write(self, fills: Sequence[LedgerFill], busts: Sequence[LedgerFill] = ()) -> None:
        """Append ``fills`` as made, then a bust line for each of ``busts``.

        A fill busted in the same tick it was made is still written as made:
        fill lines never carry a bust, so each fact has exactly one line.
        """
        if not fills and not busts:
            return
        lines = []
        for fill in fills:
            data = fill.to_json()
            data["busted_at"] = None
            lines.append(json.dumps(data, separators=(",", ":")))
        lines.extend(json.dumps(bust_json(fill), separators=(",", ":")) for fill in busts)
        # One write per tick: a reader sees whole ticks, never half a line
        # unless it races the kernel, which read_ledger tolerates.
        self._handle.write("\n".join(lines) + "\n")

    def flush(self) -> None:
        self._handle.flush()
        if self._corrupt is not None:
            self._corrupt.flush()

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.flush()
            self._handle.close()
        if self._corrupt is not None and not self._corrupt.closed:
            self._corrupt.close()


def corrupt_path(ledger: Path) -> Path:
    """Where a ledger's corrupt records (``corrupt_fraction``) are listed."""
    return ledger.with_name(ledger.name + ".corrupt")


def read_corrupt(ledger: Path) -> list[tuple[str, str, str]]:
    path = corrupt_path(ledger)
    if not path.exists():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.endswith("]"):
            number, order_id, trade_id = json.loads(line)
            found.append((number, order_id, trade_id))
    return found
