"""A ``sqlite:`` store URL: the file it names, and what the command line asks of it.

``sqlite:///relative/x.db`` is ``relative/x.db``, ``sqlite:////abs/x.db`` is
``/abs/x.db``. The file's path is no secret: it is the description.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fillcapture.store._sqlite.engine import SqliteStore

PREFIX = "sqlite:///"


def sqlite_file(url: str) -> Path:
    """The file ``url`` names; ``ValueError`` (one line) if it names none."""
    if not url.startswith(PREFIX) or len(url) == len(PREFIX):
        raise ValueError("must look like sqlite:///relative/path.db or sqlite:////absolute/path.db")
    return Path(url[len(PREFIX) :])


@dataclass(frozen=True, slots=True)
class SqliteLocation:
    """A store in the SQLite file ``path``."""

    path: Path

    @classmethod
    def parse(cls, url: str, password: str | None = None) -> SqliteLocation:
        if password is not None:
            raise ValueError("a sqlite store takes no password")
        return cls(sqlite_file(url))

    def describe(self) -> str:
        return str(self.path)

    def exists(self) -> bool:
        return self.path.exists()

    def reader_hint(self) -> str | None:
        # A reader that cannot create them (no write access to the directory)
        # needs the -wal and -shm files the running daemon keeps.
        if Path(f"{self.path}-shm").exists():
            return None
        return ("a reader without write access to the store's directory needs the "
                "-wal and -shm files the running daemon keeps: start the daemon first")

    def holds(self, directory: Path) -> bool:
        return directory.resolve() == self.path.parent.resolve()

    def open(self, *, readonly: bool = False) -> SqliteStore:
        return SqliteStore(self.path, readonly=readonly)
