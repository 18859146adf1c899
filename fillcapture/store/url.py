"""Which store engine a store URL names, and the store object for it.

``sqlite:///relative.db`` and ``sqlite:////absolute.db`` are SQLite; the URL grammar is config's.
"""

from __future__ import annotations

from fillcapture.config import sqlite_path
from fillcapture.store._sqlite import SqliteStore
from fillcapture.store.records import StoreError
from fillcapture.store.roles import Store
from fillcapture.urls import masked


def open_store(url: str, *, readonly: bool = False) -> Store:
    """The store ``url`` names, not yet open: use it as ``async with open_store(url) as store``.

    Raises :class:`StoreError` for a URL no engine understands.
    """
    if url.startswith("sqlite:"):
        try:
            path = sqlite_path(url)
        except ValueError as exc:
            raise StoreError(f"store url {masked(url)!r}: {exc}") from None
        return SqliteStore(path, readonly=readonly)
    scheme = url.split(":", 1)[0] if ":" in url else url
    raise StoreError(f"store url {masked(url)!r}: unsupported scheme {scheme!r} (expected sqlite:///...)")
