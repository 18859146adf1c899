"""The PostgreSQL schema as ordered plain-SQL files, and the code that brings
a database up to date.

``migrations/NNNN_name.sql`` are applied in order, each in one transaction
together with its row in ``schema_migrations``: a migration is applied whole
or not at all. A transaction-level advisory lock serialises processes that
open a fresh database at once, so each file runs exactly once. A read-only
open only checks that the schema is current.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

from fillcapture.store._postgres import locks
from fillcapture.store.records import StoreError

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_RECORD = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    """The SQL that takes the schema from ``version - 1`` to ``version``."""

    version: int
    name: str
    sql: str


def load() -> tuple[Migration, ...]:
    """Every shipped migration, in order; their versions are 1, 2, ... without a gap."""
    found = []
    for entry in resources.files(__package__).joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda migration: migration.version)
    if [migration.version for migration in found] != list(range(1, len(found) + 1)):
        raise RuntimeError("PostgreSQL migrations must be numbered 0001, 0002, ... without gaps")
    return tuple(found)


MIGRATIONS = load()
LATEST = MIGRATIONS[-1].version


async def schema_version(conn: asyncpg.Connection) -> int | None:
    """The version recorded in the database; ``None`` if it has no record at all."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return None
    version = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations")
    return int(version)


def _check_not_newer(version: int, where: str) -> None:
    if version > LATEST:
        raise StoreError(
            f"{where}: store schema is version {version}, newer than this fillcapture "
            f"understands (up to {LATEST}); upgrade fillcapture", permanent=True)


async def migrate(conn: asyncpg.Connection, where: str) -> int:
    """Apply every pending migration (``where``: the store, for messages);
    return the version reached."""
    version = await schema_version(conn) or 0
    _check_not_newer(version, where)
    for migration in MIGRATIONS[version:]:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1, $2)",
                               locks.NAMESPACE, locks.MIGRATIONS)
            # Read again under the lock: another process may have migrated.
            current = await schema_version(conn)
            if current is None:
                if await conn.fetchval(
                        "SELECT EXISTS (SELECT 1 FROM pg_tables "
                        "WHERE schemaname = current_schema())"):
                    raise StoreError(f"{where}: the database holds tables, but is not a "
                                     "fillcapture store", permanent=True)
                await conn.execute(_RECORD)
                current = 0
            _check_not_newer(current, where)
            if current >= migration.version:
                continue
            await conn.execute(migration.sql)
            await conn.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                               migration.version, migration.name)
            version = migration.version
    return max(version, await schema_version(conn) or 0)


async def require_current(conn: asyncpg.Connection, where: str) -> None:
    """For a read-only store, which must not migrate: the schema must be current."""
    version = await schema_version(conn)
    if version is None or version == 0:
        raise StoreError(f"{where}: no fillcapture schema in this database yet; "
                         "run the daemon once to create it", permanent=True)
    _check_not_newer(version, where)
    if version < LATEST:
        raise StoreError(
            f"{where}: store schema is version {version}, this fillcapture needs {LATEST}; "
            "run the daemon once to migrate it", permanent=True)
