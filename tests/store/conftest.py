"""Fixtures for the store tests: a real store of each engine, opened and closed.

No mocks: every test talks to a real engine through the store protocol. The
``store`` fixture runs each test once per engine in :data:`ENGINES`; adding an
engine is one line there (its URL for a test, from ``tmp_path`` or a fixture).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from fillcapture.store import Store, open_store
from fillcapture.store._sqlite import SqliteStore

ENGINES: dict[str, Callable[[pytest.FixtureRequest, Path], str]] = {
    "sqlite": lambda request, tmp_path: f"sqlite:///{tmp_path / 'state' / 'fills.db'}",
    # A fresh empty database on the session's throwaway cluster (tests/pgcluster.py).
    "postgresql": lambda request, tmp_path: str(request.getfixturevalue("postgres_url")),
}
"""Engine name -> the URL of a fresh store of it for a test (its request and ``tmp_path``)."""


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """The SQLite engine's file (tests of SQLite itself): the ``sqlite`` store's."""
    return tmp_path / "state" / "fills.db"


@pytest.fixture(params=sorted(ENGINES))
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store's URL, once per engine."""
    return ENGINES[request.param](request, tmp_path)


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    async with open_store(store_url) as opened:
        yield opened


@pytest.fixture
async def sqlite_store(db_path: Path) -> AsyncIterator[SqliteStore]:
    """The SQLite engine's store in :func:`db_path`, for the tests of SQLite itself."""
    async with SqliteStore(db_path) as opened:
        yield opened
