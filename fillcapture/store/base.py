"""Former home of the store's records and interface, kept so old imports work.

The records are in :mod:`fillcapture.store.records`, the interface by role in
:mod:`fillcapture.store.roles`; import from :mod:`fillcapture.store`.
"""

from fillcapture.store.records import (
    AccountActivity,
    Certificate,
    DailyRow,
    DayActivity,
    FillKey,
    FillKind,
    FillPage,
    FillQuery,
    Gap,
    Lots,
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
from fillcapture.store.roles import Store

__all__ = [
    "AccountActivity", "Certificate", "DailyRow", "DayActivity", "FillKey", "FillKind",
    "FillPage", "FillQuery", "Gap", "Lots", "Outbox", "OutboxBatch", "OutboxCursor", "Owner",
    "PositionDay", "QuarantineRow", "Seal", "SealedDay", "Store", "StoreError", "StoredFill",
    "TokenHolder", "Verification",
]
