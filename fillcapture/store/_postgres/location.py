"""A ``postgresql:`` store URL as the store's location: the database on a
server (:class:`~fillcapture.store._postgres.server.Server`), nothing on
this machine's disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fillcapture.store._postgres.engine import PostgresStore
from fillcapture.store._postgres.server import SHAPE, Server

__all__ = ["SHAPE", "PostgresLocation"]


@dataclass(frozen=True, slots=True)
class PostgresLocation:
    """A store in the database of ``server``."""

    server: Server

    @classmethod
    def parse(cls, url: str, password: str | None = None) -> PostgresLocation:
        """Read ``url`` (``password``: ``[store] password``); ``ValueError``
        (one line, no secret) if it is not a database URL."""
        return cls(Server.parse(url, password))

    def secret(self) -> str | None:
        """The password the store will connect with."""
        return self.server.secret()

    def describe(self) -> str:
        return self.server.describe()

    def exists(self) -> bool:
        # The database is the operator's to create; its schema is made by
        # the first read-write open. Nothing here may wait on the network.
        return True

    def reader_hint(self) -> str | None:
        return None

    def holds(self, directory: Path) -> bool:
        return False  # nothing kept on this machine's disk

    def open(self, *, readonly: bool = False) -> PostgresStore:
        return PostgresStore(self.server, readonly=readonly)
