"""Where a store is: what a store URL names, as its engine reads it.

``fillcapture.store.locate(url)`` gives a :class:`StoreLocation`; the command
line asks it whether the store exists and how to name it in a message,
without knowing what the engine keeps (a file, a database on a server).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from fillcapture.store.roles import Store


class StoreLocation(Protocol):
    """A store URL as its engine understands it."""

    def describe(self) -> str:
        """The store for messages and logs, with any secret masked."""
        ...

    def exists(self) -> bool:
        """The store has been created (a daemon has run against it)."""
        ...

    def reader_hint(self) -> str | None:
        """Why a read-only reader may be refused here now, if the engine sees a
        reason (SQLite: the daemon's -wal and -shm files are missing); else ``None``."""
        ...

    def holds(self, directory: Path) -> bool:
        """``directory`` is where the engine keeps the store's own files
        (backups must be kept elsewhere)."""
        ...

    def open(self, *, readonly: bool = False) -> Store:
        """The store, not yet open: use it as ``async with location.open() as store``."""
        ...
