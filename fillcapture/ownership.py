"""Who owns what: WhenTech end user → T4 accounts, per customer firm.

A fill is kept only if its (firm, account number) belongs to a registered user.
An entry may name the account by number, by its code, or by T4's account id;
:meth:`Ownership.resolved` gives the numbers of those seen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fillcapture.model import VisibleAccount


@dataclass(frozen=True, slots=True)
class Entry:
    """One registry row. ``firm`` None means "whichever firm this daemon serves"
    (allowed while only one firm is configured)."""

    user: str
    firm: str | None
    account: str


class Ownership:
    """An immutable snapshot of the registry, built for O(1) lookups on the
    capture path. Replace the whole object when the registry changes."""

    __slots__ = ("_any_firm", "_by_firm", "entries")

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self.entries: frozenset[Entry] = frozenset(entries)
        self._by_firm: dict[tuple[str, str], str] = {}
        self._any_firm: dict[str, str] = {}
        for entry in self.entries:
            if entry.firm:
                self._by_firm[(entry.firm, entry.account)] = entry.user
            else:
                self._any_firm[entry.account] = entry.user

    def owner(self, firm: str, account: str) -> str | None:
        """The user owning ``account`` of ``firm``, or None."""
        user = self._by_firm.get((firm, account))
        return user if user is not None else self._any_firm.get(account)

    def accounts_of(self, firm: str) -> dict[str, str]:
        """Every owned account number of ``firm`` → its user."""
        owned = dict(self._any_firm)
        owned.update({acct: user for (f, acct), user in self._by_firm.items() if f == firm})
        return owned

    def resolved(self, accounts: dict[str, dict[str, VisibleAccount]]) -> Ownership:
        """This registry with each entry naming an account by code or T4 id
        (``accounts``: by firm, then id) replaced by one naming its number."""
        resolved: list[Entry] = []
        changed = False
        for entry in self.entries:
            firms = [entry.firm] if entry.firm else list(accounts)
            numbers = [
                account.account for firm in firms for account in accounts.get(firm, {}).values()
                if account.account and account.account != entry.account and (
                    entry.account == account.code
                    or entry.account.lower() == account.account_id.lower())]
            if numbers:
                changed = True
                resolved.extend(Entry(entry.user, entry.firm, number) for number in numbers)
            else:
                resolved.append(entry)
        return Ownership(resolved) if changed else self

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ownership) and other.entries == self.entries

    def __hash__(self) -> int:
        return hash(self.entries)

    def __len__(self) -> int:
        return len(self.entries)
