"""The SQLite engine's maintenance: backup with rotation, WAL checkpoint,
optimize, integrity check, retention.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, date
from pathlib import Path

from fillcapture.files import private_dirs
from fillcapture.store._sqlite.connection import (
    BUSY_TIMEOUT_MS,
    CHECKPOINT_BUSY_MS,
)
from fillcapture.store._sqlite.plumbing import Plumbing
from fillcapture.store.records import MaintenancePlan, MaintenanceReport

BACKUP_NAME = re.compile(r"fills-\d{8}T\d{6}Z\.db")
"""The names the weekly backup gives its copies, and the only ones its rotation deletes."""


def ours(backup_dir: Path) -> list[Path]:
    """The backups in ``backup_dir`` the weekly job made, oldest first: whatever
    else an operator keeps there is never rotated away."""
    return sorted(path for path in backup_dir.iterdir()
                  if BACKUP_NAME.fullmatch(path.name) and not path.is_symlink())


class MaintenanceRole(Plumbing):
    """Upkeep of the file."""

    async def housekeeping(self) -> None:
        """Every minute: the WAL checkpoint (see :meth:`checkpoint`)."""
        await self.checkpoint()

    async def maintain(self, plan: MaintenancePlan) -> MaintenanceReport:
        """The weekly plan: backup and rotation, optimize, integrity check, prune."""
        backup: str | None = None
        kept = 0
        if plan.backup_dir is not None:
            private_dirs(plan.backup_dir)
            destination = plan.backup_dir / f"fills-{plan.at.astimezone(UTC):%Y%m%dT%H%M%SZ}.db"
            await self.backup(destination)
            backups = ours(plan.backup_dir)
            for old in backups[: max(0, len(backups) - plan.keep)]:
                old.unlink()
            backup, kept = str(destination), min(len(backups), plan.keep)
        await self.optimize()
        findings = await self.integrity_check()
        pruned = 0 if plan.prune_before is None else await self.prune(plan.prune_before)
        return MaintenanceReport(str(self.path), findings, backup, kept, pruned)

    async def backup(self, destination: Path) -> None:
        """An online, consistent copy of the store, in steps on a connection of
        its own: the daemon keeps committing meanwhile (:mod:`.backup`)."""
        from fillcapture.store._sqlite.backup import backup

        await backup(self.path, destination)

    async def checkpoint(self) -> bool:
        """Copy the WAL into the database file and truncate it to nothing
        (``wal_checkpoint(TRUNCATE)``), freeing its space; True if it did.
        Waits only briefly for a reader in the way (the API's): the capture
        path shares this connection, and the next call tries again."""
        self._check_writable()
        async with self._reading() as conn:
            await conn.execute(f"PRAGMA busy_timeout = {CHECKPOINT_BUSY_MS:d}")
            try:
                rows = list(await conn.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)"))
            finally:
                await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
        return bool(rows) and rows[0][0] == 0

    async def optimize(self) -> None:
        async with self._reading() as conn:
            await conn.execute("PRAGMA optimize")

    async def integrity_check(self) -> list[str]:
        """SQLite's findings; ``["ok"]`` for a sound file. Damage bad enough to
        stop the check itself is a finding too, not an exception."""
        async with self._reading() as conn:
            try:
                rows = await conn.execute_fetchall("PRAGMA integrity_check")
            except sqlite3.DatabaseError as exc:
                return [f"integrity_check failed: {exc}"]
            return [str(row[0]) for row in rows]

    async def prune(self, before: date) -> int:
        """Delete fills and busts of trade dates before ``before`` (retention); return
        how many fills went."""
        async with self._writing() as conn:
            cursor = await conn.execute(
                "DELETE FROM fills WHERE trade_date < ?", (before.isoformat(),))
            await conn.execute(
                "DELETE FROM snapshot_counts WHERE trade_date < ?", (before.isoformat(),))
            await conn.execute(
                "DELETE FROM busts WHERE NOT EXISTS (SELECT 1 FROM fills f WHERE "
                "f.firm = busts.firm AND f.order_id = busts.order_id "
                "AND f.trade_key = busts.trade_key AND f.leg_index = busts.leg_index)")
            return int(cursor.rowcount)
