"""Kept so old imports work: the SQLite engine's schema migrations (private to it)."""

from fillcapture.store._sqlite.migrations import LATEST, MIGRATIONS, Migration, migrate

__all__ = ["LATEST", "MIGRATIONS", "Migration", "migrate"]
