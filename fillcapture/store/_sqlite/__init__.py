"""The SQLite engine, private: reach it through :func:`fillcapture.store.open_store`."""

from fillcapture.store._sqlite.engine import SqliteStore

__all__ = ["SqliteStore"]
