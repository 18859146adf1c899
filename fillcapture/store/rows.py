"""Kept so old imports work: the SQLite engine's row helpers (private to it)."""

from fillcapture.store._sqlite.rows import INSERT_COLUMNS, OUTRIGHT, from_micros, utc_micros

__all__ = ["INSERT_COLUMNS", "OUTRIGHT", "from_micros", "utc_micros"]
