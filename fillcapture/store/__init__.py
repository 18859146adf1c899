"""Fill storage: one ``Store`` protocol, engines behind it, opened from a store URL.

Import from here; the modules below are the engines' private parts.
"""

from fillcapture.store.base import (
    FillQuery,
    Gap,
    Outbox,
    OutboxBatch,
    OutboxCursor,
    Owner,
    PositionDay,
    Seal,
    Store,
    StoredFill,
    StoreError,
)
from fillcapture.store.sqlite import SqliteStore
from fillcapture.store.url import open_store

__all__ = [
    "FillQuery",
    "Gap",
    "Outbox",
    "OutboxBatch",
    "OutboxCursor",
    "Owner",
    "PositionDay",
    "Seal",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoredFill",
    "open_store",
]
