"""Which store engine a store URL names: each engine parses its own URLs.

Adding an engine is one entry in :data:`ENGINES`: its URL scheme and the
function that reads such a URL into a :class:`StoreLocation`.
"""

from __future__ import annotations

from collections.abc import Callable

from fillcapture.store._sqlite.location import SqliteLocation
from fillcapture.store.location import StoreLocation
from fillcapture.store.records import StoreError
from fillcapture.store.roles import Store
from fillcapture.urls import masked

ENGINES: dict[str, tuple[Callable[[str], StoreLocation], str]] = {
    "sqlite": (SqliteLocation.parse, "sqlite:///..."),
}
"""URL scheme -> the engine's parser (``ValueError`` for a URL it cannot
read) and the shape of its URLs for messages."""


def locate(url: str) -> StoreLocation:
    """Where ``url``'s store is. ``ValueError`` with a one-line message naming
    the URL (its secrets masked) if no engine understands it."""
    scheme = url.split(":", 1)[0] if ":" in url else url
    engine = ENGINES.get(scheme)
    if engine is None:
        expected = " or ".join(shape for _, shape in ENGINES.values())
        raise ValueError(f"store url {masked(url)!r}: unsupported scheme {scheme!r} "
                         f"(expected {expected})")
    parse, _ = engine
    try:
        return parse(url)
    except ValueError as exc:
        raise ValueError(f"store url {masked(url)!r}: {exc}") from None


def open_store(url: str, *, readonly: bool = False) -> Store:
    """The store ``url`` names, not yet open: use it as ``async with open_store(url) as store``.

    Raises :class:`StoreError` for a URL no engine understands.
    """
    try:
        location = locate(url)
    except ValueError as exc:
        raise StoreError(str(exc)) from None
    return location.open(readonly=readonly)
