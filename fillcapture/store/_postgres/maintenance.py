"""The PostgreSQL engine's maintenance: backup with rotation, statistics,
integrity check, retention.

The server does its own per-minute upkeep (autovacuum, checkpoints), so
:meth:`MaintenanceRole.housekeeping` has nothing to do. The weekly backup is
``pg_dump --format=custom`` (restore with ``pg_restore``): a consistent
online copy that holds up no writer, written to a private staging file and
renamed into place; the password reaches ``pg_dump`` in its environment,
never its command line. The integrity check is amcheck's where the
database has that extension (``CREATE EXTENSION amcheck``, by a superuser):
every B-tree index of the store checked against its table; without it, every
table of the store read through, which finds pages the server cannot read.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from datetime import UTC, date
from pathlib import Path

from fillcapture.files import private_dirs, staged
from fillcapture.store._postgres.errors import ERRORS
from fillcapture.store._postgres.plumbing import Plumbing
from fillcapture.store._postgres.shared import count
from fillcapture.store.records import MaintenancePlan, MaintenanceReport, StoreError
from fillcapture.urls import masked

BACKUP_NAME = re.compile(r"fills-\d{8}T\d{6}Z\.pgdump")
"""The names the weekly backup gives its copies, and the only ones its rotation deletes."""

_TABLES = (
    "SELECT c.oid::regclass::text FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = current_schema() AND c.relkind = 'r' ORDER BY 1"
)
_INDEXES = (
    "SELECT c.oid::regclass::text FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am a ON a.oid = c.relam "
    "WHERE n.nspname = current_schema() AND c.relkind = 'i' AND a.amname = 'btree' "
    "ORDER BY 1"
)


def ours(backup_dir: Path) -> list[Path]:
    """The backups in ``backup_dir`` the weekly job made, oldest first: whatever
    else an operator keeps there is never rotated away."""
    return sorted(path for path in backup_dir.iterdir()
                  if BACKUP_NAME.fullmatch(path.name) and not path.is_symlink())


class MaintenanceRole(Plumbing):
    """Upkeep of the database."""

    async def housekeeping(self) -> None:
        """Nothing: the server's autovacuum and checkpoints do it."""

    async def maintain(self, plan: MaintenancePlan) -> MaintenanceReport:
        """The weekly plan: backup and rotation, ANALYZE, integrity check, prune."""
        backup: str | None = None
        kept = 0
        if plan.backup_dir is not None:
            private_dirs(plan.backup_dir)
            name = f"fills-{plan.at.astimezone(UTC):%Y%m%dT%H%M%SZ}.pgdump"
            destination = plan.backup_dir / name
            await self.backup(destination)
            backups = ours(plan.backup_dir)
            for old in backups[: max(0, len(backups) - plan.keep)]:
                old.unlink()
            backup, kept = str(destination), min(len(backups), plan.keep)
        await self.optimize()
        findings = await self.integrity_check()
        pruned = 0 if plan.prune_before is None else await self.prune(plan.prune_before)
        return MaintenanceReport(self.where, findings, backup, kept, pruned)

    async def backup(self, destination: Path) -> None:
        """A consistent online copy of the database as ``destination`` (0600),
        by ``pg_dump --format=custom``."""
        program = shutil.which("pg_dump")
        if program is None:
            raise StoreError(f"{self.where}: backup needs pg_dump (PostgreSQL's client "
                             "programs), which is not installed", permanent=True)
        environment = dict(os.environ)
        secret = self.location.secret()
        if secret is not None:
            environment["PGPASSWORD"] = secret
        with staged(destination) as partial:
            process = await asyncio.create_subprocess_exec(
                program, "--format=custom", "--no-password", f"--file={partial}",
                f"--dbname={self.location.dsn}", env=environment,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE)
            _, errors = await process.communicate()
            if process.returncode != 0:
                lines = errors.decode(errors="replace").strip().splitlines()
                cause = masked(lines[-1] if lines else f"exit status {process.returncode}")
                raise StoreError(f"{self.where}: backup to {destination} failed: {cause}")

    async def optimize(self) -> None:
        """Fresh planner statistics (``ANALYZE``) of the store's tables."""
        self._check_writable()
        async with self.reading() as conn:
            await conn.execute("ANALYZE")

    async def integrity_check(self) -> list[str]:
        """amcheck's findings (or a read of every table without it); ``["ok"]``
        for a sound store. A check that cannot run is a finding, not an exception."""
        findings: list[str] = []
        async with self.reading() as conn:
            amcheck = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'amcheck')")
            names = await conn.fetch(_INDEXES if amcheck else _TABLES)
            for (name,) in names:
                try:
                    if amcheck:
                        await conn.execute("SELECT bt_index_check($1::regclass, true)", name)
                    else:
                        await conn.fetchval(f"SELECT count(*) FROM {name}")  # noqa: S608 - catalog names
                except ERRORS as exc:  # any failure of the check is a finding
                    findings.append(f"{name}: {masked(str(exc).splitlines()[0])}")
        return findings or ["ok"]

    async def prune(self, before: date) -> int:
        """Delete fills and busts of trade dates before ``before`` (retention);
        return how many fills went."""
        async with self.transaction() as conn:
            pruned = count(await conn.execute("DELETE FROM fills WHERE trade_date < $1", before))
            await conn.execute("DELETE FROM snapshot_counts WHERE trade_date < $1", before)
            await conn.execute(
                "DELETE FROM busts b WHERE NOT EXISTS (SELECT 1 FROM fills f WHERE "
                "f.firm = b.firm AND f.order_id = b.order_id "
                "AND f.trade_key = b.trade_key AND f.leg_index = b.leg_index)")
            return pruned
