"""The store's business rules, stated once, above the engines.

Every engine follows these; where an engine must say a rule in its own query
language (SQL), its text names the function here that it restates, and these
functions are what the Python side of every engine calls.

- Ownership (:func:`owners_of`, :func:`firms_owned`): a fill belongs to the
  registry entry naming its firm and account number, else to the firm-less
  entry of its account number.
- Invalidation (:func:`covered_after_change`): a change to a firm's fills of a
  trade date (a late side, a late bust, an amendment of a sealed day) makes
  what was recorded of that date and every later one stale.
- Side fill-in (:func:`order_side_of`, :func:`leg_side`): a duplicate that
  knows the side fills in a stored fill's missing one; a leg's own side
  follows from its order's side and the leg's direction.
- Busts after their fill (:func:`publishable`): a consumer never sees a bust
  before the fill it busts.
- Names (:func:`check_names`): a user name or account number is neither
  blank nor padded. A quarantined record is kept once per firm and bytes
  (:func:`quarantine_digest`). Recorded positions (:data:`POSITIONS_KEPT_DAYS`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import TypeVar

from fillcapture.model import Fill, Side
from fillcapture.store.records import StoreError

T = TypeVar("T")

POSITIONS_KEPT_DAYS = 31
"""Recorded positions of the days this close to the newest are all kept;
before them, only each month's last."""


def check_names(user: str, accounts: Iterable[str]) -> None:
    """:class:`StoreError` for a blank or padded user name or account number."""
    for text, what in [(user, "user name"), *((account, "account number") for account in accounts)]:
        if not text or text != text.strip():
            raise StoreError(f"{what} {text!r} is blank or padded")


def quarantine_digest(raw: bytes) -> str:
    """What a quarantined record is kept once by (with its firm): its bytes' SHA-256."""
    return hashlib.sha256(raw).hexdigest()


def owners_of(by_firm: Mapping[str, Iterable[str]], any_firm: Iterable[str],
              firm: str | None) -> tuple[str, ...]:
    """The users owning an account number's fills at ``firm``: those whose
    entries name that firm, else those with a firm-less entry (``firm`` None:
    a firm no entry names). Sorted; empty if nobody owns them."""
    users = set(by_firm.get(firm, ())) if firm is not None else set()
    return tuple(sorted(users or set(any_firm)))


def firms_owned(entry_firm: str | None, firms: Iterable[str],
                claimed: Iterable[str]) -> list[str]:
    """Of ``firms``, those whose fills of an account number an entry owns: an
    entry naming its firm owns that firm's; a firm-less one every firm no
    entry of the number names (``claimed``)."""
    if entry_firm:
        return [entry_firm]
    taken = set(claimed)
    return [firm for firm in firms if firm not in taken]


def covered_after_change(changed: date) -> date:
    """Through which trade date a firm's recorded summaries still hold after
    a change to its fills of ``changed``: the day before. Recorded positions,
    summary rows and activity of ``changed`` and later are discarded."""
    return changed - timedelta(days=1)


def opposite(side: Side) -> Side:
    """The other side."""
    return Side.SELL if side is Side.BUY else Side.BUY


def leg_side(order_side: Side, leg_sign: int | None) -> Side | None:
    """A leg's own side: its order's side for a leg bought with the spread
    (``leg_sign`` 1), the opposite for one sold (-1); ``None`` while the leg
    is pending (its direction not known yet)."""
    if leg_sign == 1:
        return order_side
    if leg_sign == -1:
        return opposite(order_side)
    return None


def order_side_of(fill: Fill) -> Side | None:
    """The side of ``fill``'s order: a leg's ``order_side``, or for a leg not
    placed that carries none, the side it carries (a leg from before legs were
    placed, or from another source, has its spread order's side)."""
    if fill.leg_index is None:
        return fill.side
    if fill.order_side is None and fill.leg_sign is None:
        return fill.side
    return fill.order_side


def publishable(busts: Sequence[tuple[int, T]], last_fill: int) -> list[T]:
    """The busts that may go out now, of ``busts`` in commit order as (position
    of the busted fill, bust): those up to the first whose fill lies beyond
    ``last_fill``, the last fill delivered by now or in the same batch. That
    one and every later bust wait: a bust never precedes its fill."""
    found: list[T] = []
    for fill_position, bust in busts:
        if fill_position > last_fill:
            break
        found.append(bust)
    return found
