"""Kept so old imports work: :class:`QuarantineRow` is in :mod:`fillcapture.store.records`."""

from fillcapture.store.records import QuarantineRow

__all__ = ["QuarantineRow"]
