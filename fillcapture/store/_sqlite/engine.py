"""The SQLite store engine: one class composed of the role implementations.

Each role lives in a module of its name (capture, catalogue, query, registry,
fees, summaries, operations, tokens, outbox, maintenance, tables); the shared connection in
:mod:`.plumbing`. One connection serves writes and short reads; each long read
(``fills()``, ``fill_page()``) gets a read-only connection of its own.
"""

from __future__ import annotations

from fillcapture.store._sqlite.capture import CaptureRole
from fillcapture.store._sqlite.catalogue import CatalogueRole
from fillcapture.store._sqlite.fees import FeesRole
from fillcapture.store._sqlite.maintenance import MaintenanceRole
from fillcapture.store._sqlite.operations import OperationsRole
from fillcapture.store._sqlite.outbox import OutboxRole
from fillcapture.store._sqlite.query import QueryRole
from fillcapture.store._sqlite.registry import RegistryRole
from fillcapture.store._sqlite.summaries import SummariesRole
from fillcapture.store._sqlite.tables import TablesRole
from fillcapture.store._sqlite.tokens import TokensRole


class SqliteStore(CaptureRole, CatalogueRole, QueryRole, RegistryRole, FeesRole,
                  SummariesRole, OperationsRole, TokensRole, OutboxRole, MaintenanceRole,
                  TablesRole):
    """A fill store in one SQLite file. Open with ``async with SqliteStore(path) as store``.

    ``readonly`` opens the file read-only: it must exist with a current schema,
    and every write method raises :class:`StoreError`. Safe to share between
    tasks: operations on the shared connection are serialised by a lock.
    """
