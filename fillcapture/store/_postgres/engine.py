"""The PostgreSQL store engine: one class composed of the role implementations.

Each role lives in a module of its name, as in the SQLite engine (capture,
catalogue, query, registry, fees, summaries, operations, tokens, outbox,
maintenance, tables; the lease in :mod:`.lease`); the pool in :mod:`.plumbing`.
Every operation borrows a connection of the pool, so reads never wait for
the capture path's transaction.
"""

from __future__ import annotations

from fillcapture.store._postgres.capture import CaptureRole
from fillcapture.store._postgres.catalogue import CatalogueRole
from fillcapture.store._postgres.fees import FeesRole
from fillcapture.store._postgres.maintenance import MaintenanceRole
from fillcapture.store._postgres.operations import OperationsRole
from fillcapture.store._postgres.outbox import OutboxRole
from fillcapture.store._postgres.query import QueryRole
from fillcapture.store._postgres.registry import RegistryRole
from fillcapture.store._postgres.summaries import SummariesRole
from fillcapture.store._postgres.tables import TablesRole
from fillcapture.store._postgres.tokens import TokensRole


class PostgresStore(CaptureRole, CatalogueRole, QueryRole, RegistryRole, FeesRole,
                    SummariesRole, OperationsRole, TokensRole, OutboxRole, MaintenanceRole,
                    TablesRole):
    """A fill store in one PostgreSQL database. Open with ``async with``.

    ``readonly``: every transaction runs ``READ ONLY`` and the schema must be
    current; every write method raises :class:`StoreError`. Safe to share
    between tasks: each operation borrows a connection of the pool.
    """
