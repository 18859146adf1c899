"""Fill storage: one ``Store`` protocol, engines behind it, opened from a store URL.

Import from here; the modules below are the engines' private parts.
"""

from fillcapture.store.lease import LeaseHeld
from fillcapture.store.location import StoreLocation
from fillcapture.store.moves import Change, MoveRefused
from fillcapture.store.records import (
    AccountActivity,
    CaptureBatch,
    CaptureResult,
    Certificate,
    DailyRow,
    DayActivity,
    FillKind,
    FillPage,
    FillPosition,
    FillQuery,
    Gap,
    Lots,
    MaintenancePlan,
    MaintenanceReport,
    Outbox,
    OutboxBatch,
    OutboxCursor,
    Owner,
    PositionDay,
    QuarantineRow,
    Seal,
    SealedDay,
    StoredFill,
    StoreError,
    TokenHolder,
    Verification,
)
from fillcapture.store.roles import OutboxReading, Store
from fillcapture.store.url import locate, open_store, url_problem

__all__ = [
    "AccountActivity",
    "CaptureBatch",
    "CaptureResult",
    "Certificate",
    "Change",
    "DailyRow",
    "DayActivity",
    "FillKind",
    "FillPage",
    "FillPosition",
    "FillQuery",
    "Gap",
    "LeaseHeld",
    "Lots",
    "MaintenancePlan",
    "MaintenanceReport",
    "MoveRefused",
    "Outbox",
    "OutboxBatch",
    "OutboxCursor",
    "OutboxReading",
    "Owner",
    "PositionDay",
    "QuarantineRow",
    "Seal",
    "SealedDay",
    "Store",
    "StoreError",
    "StoreLocation",
    "StoredFill",
    "TokenHolder",
    "Verification",
    "locate",
    "open_store",
    "url_problem",
]
