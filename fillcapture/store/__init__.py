"""Fill storage: one ``Store`` protocol, engines behind it, opened from a store URL.

Import from here; the modules below are the engines' private parts.
"""

from fillcapture.store._sqlite import SqliteStore
from fillcapture.store.location import StoreLocation
from fillcapture.store.moves import Change, MoveRefused
from fillcapture.store.records import (
    CaptureBatch,
    CaptureResult,
    Certificate,
    FillQuery,
    Gap,
    MaintenancePlan,
    MaintenanceReport,
    Outbox,
    OutboxBatch,
    OutboxCursor,
    Owner,
    PositionDay,
    Seal,
    SealedDay,
    StoredFill,
    StoreError,
    Verification,
)
from fillcapture.store.roles import OutboxReading, Store
from fillcapture.store.url import locate, open_store

__all__ = [
    "CaptureBatch",
    "CaptureResult",
    "Certificate",
    "Change",
    "FillQuery",
    "Gap",
    "MaintenancePlan",
    "MaintenanceReport",
    "MoveRefused",
    "Outbox",
    "OutboxBatch",
    "OutboxCursor",
    "OutboxReading",
    "Owner",
    "PositionDay",
    "Seal",
    "SealedDay",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoreLocation",
    "StoredFill",
    "Verification",
    "locate",
    "open_store",
]
