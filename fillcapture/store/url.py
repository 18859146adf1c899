"""Which store engine a store URL names: each engine parses its own URLs.

Adding an engine is one entry in :data:`ENGINES`: its URL scheme and the
function that reads such a URL into a :class:`StoreLocation`.
"""

from __future__ import annotations

from collections.abc import Callable

from fillcapture.store._postgres.server import SHAPE as POSTGRES_SHAPE
from fillcapture.store._sqlite.location import SqliteLocation
from fillcapture.store.location import StoreLocation
from fillcapture.store.records import StoreError
from fillcapture.store.roles import Store
from fillcapture.urls import masked


def _postgres(url: str, password: str | None) -> StoreLocation:
    # Imported here: the driver is loaded only where a store is on PostgreSQL.
    from fillcapture.store._postgres.location import PostgresLocation

    return PostgresLocation.parse(url, password)


ENGINES: dict[str, tuple[Callable[[str, str | None], StoreLocation], str]] = {
    "sqlite": (SqliteLocation.parse,
               "sqlite:///relative/path.db or sqlite:////absolute/path.db"),
    "postgresql": (_postgres, POSTGRES_SHAPE),
    "postgres": (_postgres, POSTGRES_SHAPE),
}
"""URL scheme -> the engine's parser of a URL and the password configured
beside it (``ValueError`` for a URL it cannot read), and the shape of its
URLs for messages."""


def locate(url: str, *, password: str | None = None) -> StoreLocation:
    """Where ``url``'s store is (``password``: ``[store] password``, for an
    engine on a server). ``ValueError`` with a one-line message naming the URL
    (its secrets masked) if no engine understands it."""
    try:
        return _parse(url, password)
    except ValueError as exc:
        raise ValueError(f"store url {masked(url)!r}: {exc}") from None


def url_problem(url: str) -> str | None:
    """Why no engine can open ``url`` (one line, without the URL itself, for
    a message that names the key instead), or ``None`` if one can."""
    try:
        _parse(url, None)
    except ValueError as exc:
        return str(exc)
    return None


def _parse(url: str, password: str | None) -> StoreLocation:
    scheme = url.split(":", 1)[0] if ":" in url else url
    engine = ENGINES.get(scheme)
    if engine is None:
        expected = " or ".join(dict.fromkeys(shape for _, shape in ENGINES.values()))
        raise ValueError(f"must look like {expected} (unsupported scheme {scheme!r})")
    parse, _ = engine
    return parse(url, password)


def open_store(url: str, *, readonly: bool = False, password: str | None = None) -> Store:
    """The store ``url`` names, not yet open: use it as ``async with open_store(url) as store``.

    Raises :class:`StoreError` for a URL no engine understands.
    """
    try:
        location = locate(url, password=password)
    except ValueError as exc:
        raise StoreError(str(exc)) from None
    return location.open(readonly=readonly)
