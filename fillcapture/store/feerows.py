"""Fee schedules as both engines keep them, a row per :attr:`FeeSchedule.key`.

A scope left open is empty text (so the primary key covers the whole key),
the amount exact decimal text as given (``'1.25'``, never a float). A row
that :class:`FeeSchedule` refuses (edited by hand, or by a newer release) is
a :class:`StoreError` naming its key, not a crash of whoever reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from fillcapture.fees import FeeError, FeeSchedule
from fillcapture.model import Side
from fillcapture.store.records import StoreError

COLUMNS = ("component", "exchange", "contract", "account", "user_name", "side",
           "effective_from", "amount", "currency")
"""A row's columns, in order: the key's seven, then what a schedule charges."""

KEY = COLUMNS[:7]


def encode(schedule: FeeSchedule) -> tuple[str, str, str, str, str, str, date, str, str]:
    """``schedule`` as a row of :data:`COLUMNS` (its date a ``date``)."""
    return (*schedule.key, str(schedule.amount), schedule.currency)


def decode(row: Sequence[Any]) -> FeeSchedule:
    """A stored row of :data:`COLUMNS` (its date a ``date`` or ISO text) back
    into its schedule; :class:`StoreError` naming the row if it is not one."""
    component, exchange, contract, account, user, side, start, amount, currency = row
    try:
        value = Decimal(amount)
    except (InvalidOperation, TypeError):
        raise _bad(row, f"amount {str(amount)[:40]!r} is not a number") from None
    try:
        day = start if isinstance(start, date) else date.fromisoformat(start)
        return FeeSchedule(component, value, currency, day, exchange or None,
                           contract or None, account or None, user or None,
                           Side(side) if side else None)
    except (FeeError, ValueError, TypeError) as exc:
        raise _bad(row, str(exc) or type(exc).__name__) from None


def _bad(row: Sequence[Any], reason: str) -> StoreError:
    shown = ", ".join(str(value) for value in row[:7])
    return StoreError(f"fee_schedules row ({shown}): {reason}", permanent=True)
