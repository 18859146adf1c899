"""Fees and commissions: the schedules, and which one a fill pays.

A :class:`FeeSchedule` charges ``amount`` (in ``currency``) per contract of a
fill, for one named component (``commission``, ``exchange``, ``clearing``,
``nfa``, ...), from the trade date ``effective_from`` on. It applies to the
fills its scope names: any of ``exchange`` (T4's exchange id), ``contract``
(a contract of that exchange: together they are the market's contract root,
``CME_Eq ES``), ``account`` (the account number), ``user`` (the account's
owner) and ``side``; a scope left empty matches every fill.

For each component a fill pays the **most specific** schedule in force on its
trade date: one naming the user beats one naming the account, which beats one
naming the contract, which beats one naming only the exchange, which beats one
naming nothing; at equal scope a schedule naming the side beats one for both
sides. Among the schedules of one scope, the one with the latest
``effective_from`` not after the trade date is in force, so a new rate never
rewrites the days before it. A fill that no schedule of any component
matches has **unknown** fees (:meth:`FeeBook.rates` gives ``None``): it is
counted as such, never taken as free. An amount of zero from a date is how a
component stops being charged.

Pure: no I/O. The store keeps the schedules (``fillcapture fees``); the
summary (:mod:`fillcapture.money`) applies them.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from fillcapture.model import Side

_COMPONENT = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")

MAX_AMOUNT = Decimal("1000000")
"""No fee per contract is this large: a bigger amount is a typing mistake."""


class FeeError(ValueError):
    """A schedule that cannot be kept, with a one-line reason."""


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """``amount`` of ``currency`` per contract, for component ``component``,
    from trade date ``effective_from`` on, for the fills of its scope."""

    component: str
    amount: Decimal
    currency: str
    effective_from: date
    exchange: str | None = None
    contract: str | None = None
    account: str | None = None
    user: str | None = None
    side: Side | None = None

    def __post_init__(self) -> None:
        if not _COMPONENT.match(self.component):
            raise FeeError(f"fee component {self.component[:40]!r}: lower-case letters, "
                           "digits and _ (commission, exchange, clearing, nfa)")
        if not _CURRENCY.match(self.currency):
            raise FeeError(f"fee currency {self.currency[:12]!r}: three capital letters (USD)")
        if not self.amount.is_finite() or not 0 <= self.amount < MAX_AMOUNT:
            raise FeeError(f"fee amount {self.amount}: must be at least 0 and below "
                           f"{MAX_AMOUNT} per contract")
        if self.contract is not None and self.exchange is None:
            raise FeeError(f"fee for contract {self.contract[:40]!r}: name its exchange too")
        for name in ("exchange", "contract", "account", "user"):
            value = getattr(self, name)
            if value is not None and not value.strip():
                raise FeeError(f"fee {name}: empty; leave it out to match every {name}")

    @property
    def key(self) -> tuple[str, str, str, str, str, str, date]:
        """What identifies the schedule in the store: its component, scope and
        start (empty text for a scope left open). Setting a schedule of the
        same key replaces its amount and currency."""
        return (self.component, self.exchange or "", self.contract or "", self.account or "",
                self.user or "", "" if self.side is None else self.side.value,
                self.effective_from)

    @property
    def specificity(self) -> tuple[bool, bool, bool, bool, bool]:
        """Compared as a tuple: the most specific schedule has the greatest."""
        return (self.user is not None, self.account is not None, self.contract is not None,
                self.exchange is not None, self.side is not None)

    def matches(self, exchange: str | None, contract: str | None, account: str,
                user: str | None, side: Side) -> bool:
        return ((self.exchange is None or self.exchange == exchange)
                and (self.contract is None or self.contract == contract)
                and (self.account is None or self.account == account)
                and (self.user is None or self.user == user)
                and (self.side is None or self.side is side))

    def scope_text(self) -> str:
        """The scope in words, for listings and errors (``every fill`` if open)."""
        parts = [f"{name} {value}" for name, value in (
            ("exchange", self.exchange), ("contract", self.contract),
            ("account", self.account), ("user", self.user),
            ("side", None if self.side is None else self.side.value)) if value is not None]
        return ", ".join(parts) or "every fill"


@dataclass(frozen=True, slots=True)
class Rate:
    """What one contract pays for one component: ``amount`` of ``currency``,
    by the schedule ``schedule``."""

    component: str
    amount: Decimal
    currency: str
    schedule: FeeSchedule


class FeeBook:
    """The schedules, asked which rates a fill pays.

    The answer for a scope (exchange, contract, account, user, side) changes
    only on the start dates of the schedules that match it, so it is worked
    out once per scope and start: a summary asks about few scopes, each for
    every trade date of an account's market, and each question is then one
    lookup and one bisection.
    """

    def __init__(self, schedules: Iterable[FeeSchedule]) -> None:
        self.schedules = tuple(sorted(schedules, key=lambda s: s.key))
        by_component: dict[str, list[FeeSchedule]] = {}
        for schedule in self.schedules:
            by_component.setdefault(schedule.component, []).append(schedule)
        # Most specific first, then latest start first: the first in force wins.
        self._components = {
            component: sorted(found, key=lambda s: (s.specificity, s.effective_from),
                              reverse=True)
            for component, found in sorted(by_component.items())}
        # Per scope asked about: the start dates of its matching schedules,
        # ascending, and the answer before the first (None) and from each on.
        self._scopes: dict[tuple[str | None, str | None, str, str | None, Side],
                           tuple[list[date], list[tuple[Rate, ...] | None]]] = {}

    def __bool__(self) -> bool:
        return bool(self.schedules)

    @property
    def components(self) -> list[str]:
        """Every component a schedule names, sorted: whatever a fill pays is one of them."""
        return list(self._components)

    def rates(self, trade_date: date, exchange: str | None, contract: str | None,
              account: str, user: str | None, side: Side) -> tuple[Rate, ...] | None:
        """The rate of each component a contract of this fill pays, by
        component name; ``None`` where no schedule of any component matches
        (the fill's fees are unknown)."""
        scope = (exchange, contract, account, user, side)
        known = self._scopes.get(scope)
        if known is None:
            known = self._scopes[scope] = self._answers(exchange, contract, account, user,
                                                        side)
        starts, answers = known
        return answers[bisect_right(starts, trade_date)]

    def _answers(self, exchange: str | None, contract: str | None, account: str,
                 user: str | None, side: Side
                 ) -> tuple[list[date], list[tuple[Rate, ...] | None]]:
        matching = [found for found in (
            [s for s in schedules if s.matches(exchange, contract, account, user, side)]
            for schedules in self._components.values()) if found]
        starts = sorted({s.effective_from for found in matching for s in found})
        answers: list[tuple[Rate, ...] | None] = [None]  # before any schedule starts
        for start in starts:
            rates = []
            for schedules in matching:
                for schedule in schedules:  # most specific, then latest start, first
                    if schedule.effective_from <= start:
                        rates.append(Rate(schedule.component, schedule.amount,
                                          schedule.currency, schedule))
                        break
            answers.append(tuple(rates) if rates else None)
        return starts, answers
