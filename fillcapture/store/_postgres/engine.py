"""The PostgreSQL store engine: one class composed of the role implementations.

Each role lives in a module of its name, as in the SQLite engine; the pool
in :mod:`.plumbing`. Every operation borrows a connection of the pool, so
reads never wait for the capture path's transaction.
"""

from __future__ import annotations

from fillcapture.store._postgres.capture import CaptureRole
from fillcapture.store._postgres.catalogue import CatalogueRole
from fillcapture.store._postgres.outbox import OutboxRole
from fillcapture.store._postgres.query import QueryRole


class PostgresStore(CaptureRole, CatalogueRole, QueryRole, OutboxRole):
    """A fill store in one PostgreSQL database. Open with ``async with``.

    ``readonly``: every transaction runs ``READ ONLY`` and the schema must be
    current; every write method raises :class:`StoreError`.
    """
