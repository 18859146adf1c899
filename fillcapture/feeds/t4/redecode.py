"""Quarantined T4 records decoded again, with what is known now.

A record is quarantined when it cannot be stored correctly as it came: an
account not known yet, a field our decoder refuses. Once the account is known
(a later login, account details), the registry changed, or a newer version
reads what an older one refused, the same bytes go through the same decoder
again; what passes is stored, by its identity, so exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from google.protobuf.message import DecodeError

from fillcapture.feeds.t4.decode import Decoder
from fillcapture.feeds.t4.proto import service_pb2
from fillcapture.metrics import Metrics
from fillcapture.model import Bust, Fill, OrderSide, Quarantined, Released, VisibleAccount
from fillcapture.ownership import Ownership


class Kept(Protocol):
    """A quarantined record as it was kept: its id and what arrived (the
    store's quarantine rows have this shape; a feed never imports the store)."""

    @property
    def id(self) -> int: ...

    @property
    def record(self) -> Quarantined: ...


@dataclass(slots=True)
class Outcome:
    """What decoding quarantined rows again gave: ``released`` for the writer,
    and the rows still refused with their (possibly new) reason."""

    released: Released
    still: list[tuple[int, str]] = field(default_factory=list)


def redecode(rows: Sequence[Kept], accounts: Mapping[str, Iterable[VisibleAccount]],
             ownership: Ownership) -> Outcome:
    """Decode ``rows`` again knowing ``accounts`` (by firm) and ``ownership``.

    A row passes when its record now decodes whole: its fills and busts of
    owned accounts are released for storing, and a row whose every fill is of
    an account no user owns is resolved as unowned (dropped, as live).
    """
    decoders: dict[str, Decoder] = {}
    fills: list[Fill] = []
    busts: list[Bust] = []
    stored: list[int] = []
    unowned: list[int] = []
    still: list[tuple[int, str]] = []
    for row in rows:
        record = row.record
        decoder = decoders.get(record.firm)
        if decoder is None:
            decoder = decoders[record.firm] = Decoder(record.firm, Metrics())
            for account in accounts.get(record.firm, ()):
                decoder.learn_account(account.account_id, account.account, account.code,
                                      account.name)
        if record.side is not None and record.order_id:
            decoder.sides[record.order_id] = record.side
        try:
            message = service_pb2.ServerMessage.FromString(record.raw)
        except DecodeError:
            still.append((row.id, record.reason))
            continue
        kind = message.WhichOneof("payload")
        found: list[Fill] = []
        found_busts: list[Bust] = []
        sides: list[OrderSide] = []
        if kind is not None:
            decoder.handle(kind, message, found, sides, found_busts)
        decoder.new_accounts.clear()
        decoder.new_markets.clear()
        decoder.new_spreads.clear()
        if decoder.quarantined or kind is None:
            reason = decoder.quarantined[0].reason if decoder.quarantined else record.reason
            decoder.quarantined.clear()
            still.append((row.id, reason))
            continue
        owner = ownership.owner
        mine = [f for f in found if owner(f.firm, f.account) is not None]
        mine_busts = [b for b in found_busts if owner(b.fill.firm, b.fill.account) is not None]
        if (found or found_busts) and not mine and not mine_busts:
            unowned.append(row.id)
            continue
        fills.extend(mine)
        busts.extend(mine_busts)
        stored.append(row.id)
    return Outcome(Released(tuple(fills), tuple(busts), tuple(stored), tuple(unowned)), still)
