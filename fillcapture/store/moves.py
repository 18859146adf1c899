"""Registry changes that hand an account's fills from one user to another.

A fill belongs to the registry entry naming its firm and account number, else
to the firm-less entry of its number (the store's owner rule). So a change to
the registry can move history between users without saying so: a new
firm-specific entry takes that firm's fills from a firm-less owner, removing it
hands them back, a same-key entry replaces the owner outright. And a new
firm-less entry does not take a firm another user's entry names, whatever the
operator meant. :func:`changes` compares the registry before and after a
change (in account numbers) and names each such case; the store refuses a
change with any unless forced.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from fillcapture.errors import ConfigError
from fillcapture.store.records import Owner, StoreError
from fillcapture.store.rules import owners_of


@dataclass(frozen=True, slots=True)
class Change:
    """``account`` at ``firm`` (None: any firm no entry names) is owned by
    ``before``, then ``after``; ``shadowed`` names a user whose new firm-less
    entry does not reach this firm (``before == after``)."""

    account: str
    firm: str | None
    before: tuple[str, ...]
    after: tuple[str, ...]
    shadowed: str | None = None

    def __str__(self) -> str:
        where = f"{self.account} ({self.firm or 'any firm'})"
        if self.shadowed is not None:
            return (f"{where}: stays {'/'.join(self.before)}'s, not {self.shadowed}'s "
                    "(an entry naming the firm wins)")
        return f"{where}: {'/'.join(self.before)} -> {'/'.join(self.after)}"


class MoveRefused(StoreError, ConfigError):
    """A registry change refused because of ``changes``; ``str()`` is one line
    naming each account and its owner, prefixed by ``key`` (where the change
    came from, e.g. ``users`` for the configuration's [[users]])."""

    def __init__(self, changes: Sequence[Change], key: str = "") -> None:
        self.changes = tuple(changes)
        lead = f"{key}: " if key else ""
        super().__init__(
            f"{lead}refused, it would move fills between users: "
            + "; ".join(str(change) for change in self.changes)
            + " (--force to do it)", permanent=True)


@dataclass(slots=True)
class _Account:
    by_firm: dict[str, set[str]] = field(default_factory=dict)
    any_firm: set[str] = field(default_factory=set)

    def owners(self, firm: str | None) -> tuple[str, ...]:
        return owners_of(self.by_firm, self.any_firm, firm)


def _accounts(owners: Iterable[Owner]) -> dict[str, _Account]:
    found: dict[str, _Account] = {}
    for owner in owners:
        account = found.setdefault(owner.account, _Account())
        if owner.firm:
            account.by_firm.setdefault(owner.firm, set()).add(owner.user)
        else:
            account.any_firm.add(owner.user)
    return found


def changes(before: Iterable[Owner], after: Iterable[Owner]) -> list[Change]:
    """Where the registry ``after`` a change gives an owned account's fills to
    someone else than ``before`` did, or a new firm-less entry stays shadowed
    by another user's firm-specific one. Accounts nobody owned before, and
    accounts left to nobody, are no one's loss: not listed."""
    old, new = _accounts(before), _accounts(after)
    found: list[Change] = []
    for number in sorted(old.keys() | new.keys()):
        was, now = old.get(number, _Account()), new.get(number, _Account())
        firms: list[str | None] = [*sorted(was.by_firm.keys() | now.by_firm.keys()), None]
        for firm in firms:
            owners_before, owners_after = was.owners(firm), now.owners(firm)
            if owners_before and owners_after and owners_before != owners_after:
                found.append(Change(number, firm, owners_before, owners_after))
        for user in sorted(now.any_firm - was.any_firm):
            for firm, users in sorted(now.by_firm.items()):
                if user not in users and was.by_firm.get(firm) == users:
                    found.append(Change(number, firm, tuple(sorted(users)),
                                        tuple(sorted(users)), shadowed=user))
    return found
