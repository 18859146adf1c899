"""The simulator's ground truth: every fill it generated, in order.

Kept in memory and, optionally, as a JSON-lines file a test may read while the server runs.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

_UTC = datetime.UTC


@dataclass(frozen=True, slots=True)
class LedgerFill:
    """One generated fill exactly as the simulator put it on the wire.

    ``price`` is the decimal text sent; ``exchange_time`` is UTC with
    microsecond precision (the wire's Timestamp round-trips it exactly);
    ``leg_index`` is ``None`` for an outright fill.
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

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data; times as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, dates as ``YYYY-MM-DD``."""
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
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LedgerFill:
        """The inverse of :meth:`to_json`."""
        leg_index = data.get("leg_index")
        exchange_time = datetime.datetime.fromisoformat(data["exchange_time"])
        if exchange_time.tzinfo is None:
            raise ValueError("exchange_time: a timezone is required")
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
            exchange_time=exchange_time.astimezone(_UTC),
            trade_date=datetime.date.fromisoformat(data["trade_date"]),
        )


def format_utc(moment: datetime.datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` for an aware datetime."""
    utc = moment.astimezone(_UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


def read_ledger(path: Path) -> list[LedgerFill]:
    """The fills in a ledger file, in generation order.

    A last line without its newline is a write still under way and is skipped,
    so the file can be read while the simulator appends to it.
    """
    fills: list[LedgerFill] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break
            if line.strip():
                fills.append(LedgerFill.from_json(json.loads(line)))
    return fills


class LedgerWriter:
    """Appends fills to a JSON-lines file; :meth:`flush` makes them visible to readers."""

    def __init__(self, path: Path) -> None:
        self._handle: IO[str] = path.open("a", encoding="utf-8")

    def write(self, fills: list[LedgerFill]) -> None:
        if fills:
            # One write per tick: a reader sees whole ticks, never half a line
            # unless it races the kernel, which read_ledger tolerates.
            self._handle.write(
                "".join(json.dumps(fill.to_json(), separators=(",", ":")) + "\n" for fill in fills)
            )

    def flush(self) -> None:
        self._handle.flush()

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.flush()
            self._handle.close()
