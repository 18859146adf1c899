"""The PostgreSQL engine's registry role: users and the accounts they own.

The rules are the SQLite engine's (:mod:`fillcapture.store._sqlite.registry`):
the store is the authority once seeded, and a change that would move fills
between users is refused (:mod:`fillcapture.store.moves`) unless forced.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import structlog

from fillcapture.store._postgres.plumbing import Plumbing
from fillcapture.store._postgres.shared import count
from fillcapture.store.moves import Change, MoveRefused, changes
from fillcapture.store.records import Owner
from fillcapture.store.rules import check_names

log = structlog.get_logger(__name__)

_ADD_USER = "INSERT INTO users (name, created_at) VALUES ($1, now()) ON CONFLICT DO NOTHING"


class RegistryRole(Plumbing):
    """The ownership registry."""

    async def seed_registry(self, owners: Sequence[Owner], *,
                            force: bool = False) -> list[Change]:
        """Add users and accounts not registered yet; an account registered to
        another user keeps that owner (logged). An entry that would move fills
        between users is refused with :class:`MoveRefused` (key ``users``),
        nothing changed, unless ``force``; returns what changed hands."""
        for owner in owners:
            check_names(owner.user, [owner.account])
        async with self.transaction() as conn:
            before = await _owned(conn)
            existing = {(row[0], row[1]): row[2] for row in await conn.fetch(
                "SELECT firm, account, user_name FROM user_accounts")}
            await conn.executemany(
                _ADD_USER, [(name,) for name in dict.fromkeys(owner.user for owner in owners)])
            await conn.executemany(
                "INSERT INTO user_accounts (firm, account, user_name) VALUES ($1, $2, $3) "
                "ON CONFLICT DO NOTHING",
                [(owner.firm or "", owner.account, owner.user) for owner in owners])
            found = await _moved(conn, before, force, "users")
        for owner in owners:
            holder = existing.get((owner.firm or "", owner.account))
            if holder is not None and holder != owner.user:
                log.warning("store.registry_seed_conflict", account=owner.account,
                            firm=owner.firm, configured_user=owner.user,
                            registered_user=holder)
        return found

    async def registry(self) -> list[Owner]:
        """Every (user, firm, account) row, as committed now, and for a row
        naming an account by code or T4 id, the same row with its number."""
        rows = await self._all(
            "SELECT DISTINCT user_name, firm, account FROM owned_numbers "
            "ORDER BY user_name, firm, account")
        return [Owner(row[0], row[1] or None, row[2]) for row in rows]

    async def add_user(self, name: str, accounts: Sequence[str], firm: str | None = None, *,
                       force: bool = False) -> list[Change]:
        """Create ``name`` if needed and give it ``accounts`` (at ``firm``, or at
        any firm); :class:`MoveRefused`, changing nothing, if that would move
        fills between users, unless ``force``; returns what changed hands."""
        check_names(name, accounts)
        key = firm or ""
        wanted = list(dict.fromkeys(accounts))
        async with self.transaction() as conn:
            before = await _owned(conn)
            await conn.execute(_ADD_USER, name)
            await conn.executemany(
                "INSERT INTO user_accounts (firm, account, user_name) VALUES ($1, $2, $3) "
                "ON CONFLICT (firm, account) DO UPDATE SET user_name = excluded.user_name",
                [(key, account, name) for account in wanted])
            return await _moved(conn, before, force)

    async def remove_user(self, name: str, *, force: bool = False) -> list[Change] | None:
        """Remove ``name`` and its accounts (ON DELETE CASCADE) and its user
        tokens (trigger); ``None`` if there was no such user. :class:`MoveRefused`,
        changing nothing, if that hands fills to another user, unless ``force``."""
        async with self.transaction() as conn:
            before = await _owned(conn)
            if not count(await conn.execute("DELETE FROM users WHERE name = $1", name)):
                return None
            return await _moved(conn, before, force)

    async def users(self) -> dict[str, list[Owner]]:
        """Every user with its account rows; a user with no accounts maps to ``[]``."""
        rows = await self._all(
            "SELECT u.name, a.firm, a.account FROM users u "
            "LEFT JOIN user_accounts a ON a.user_name = u.name "
            "ORDER BY u.name, a.firm, a.account")
        found: dict[str, list[Owner]] = {}
        for name, firm, account in rows:
            owned = found.setdefault(name, [])
            if account is not None:
                owned.append(Owner(name, firm or None, account))
        return found

    async def user_accounts(self, name: str) -> list[Owner] | None:
        """``name``'s account rows (``[]`` for none), an account named by code
        or T4 id as its number once seen; ``None`` if there is no such user."""
        async with self.reading() as conn:
            return await owners_of(conn, name)


async def owners_of(conn: asyncpg.Connection, name: str) -> list[Owner] | None:
    """``name``'s account rows in account numbers; ``None`` if no such user."""
    rows = await conn.fetch(
        "SELECT DISTINCT u.name, a.firm, a.account FROM users u "
        "LEFT JOIN owned_numbers a ON a.user_name = u.name "
        "WHERE u.name = $1 ORDER BY a.firm, a.account", name)
    if not rows:
        return None
    return [Owner(name, firm or None, account) for _, firm, account in rows
            if account is not None]


async def _owned(conn: asyncpg.Connection) -> list[Owner]:
    """The registry in account numbers (``owned_numbers``), within ``conn``'s transaction."""
    rows = await conn.fetch("SELECT DISTINCT user_name, firm, account FROM owned_numbers")
    return [Owner(row[0], row[1] or None, row[2]) for row in rows]


async def _moved(conn: asyncpg.Connection, before: list[Owner], force: bool,
                 key: str = "") -> list[Change]:
    """What the transaction's change handed from one user to another; raises
    :class:`MoveRefused` (rolling it back) if anything and not ``force``."""
    found = changes(before, await _owned(conn))
    if found and not force:
        raise MoveRefused(found, key)
    return found
