"""The feed adapter interface and how adapters are found.

An adapter is an async iterator of :mod:`fillcapture.model` feed events; it
is looked up by name in the ``fillcapture.feeds`` entry-point group.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Protocol

from fillcapture.model import FeedEvent
from fillcapture.ownership import Ownership

if TYPE_CHECKING:
    from fillcapture.config import Settings
    from fillcapture.metrics import Metrics

ENTRY_POINT_GROUP = "fillcapture.feeds"


class FeedError(Exception):
    """A feed cannot go on; the daemon stops."""


class LoginRefused(FeedError):
    """T4 refused the login for a reason retrying will not fix (exit code 3)."""

    def __init__(self, result: str, message: str) -> None:
        super().__init__(f"T4 refused the login: {result}" + (f" ({message})" if message else ""))
        self.result = result


class FeedAdapter(Protocol):
    """One source of fills. ``events()`` runs until ``close()``; it reconnects on
    its own and reports each session with ``Connected``/``Disconnected``."""

    def events(self) -> AsyncIterator[FeedEvent]: ...

    async def registry_changed(self) -> None:
        """The ownership registry changed: subscribe to newly owned accounts."""
        ...

    async def reconcile(self) -> bool:
        """Ask the source to send again what it still has of the day (T4: fresh
        snapshots of the subscribed accounts); False if not connected."""
        ...

    async def close(self) -> None: ...


class AdapterFactory(Protocol):
    def __call__(
        self, settings: Settings, ownership: Callable[[], Ownership], metrics: Metrics
    ) -> FeedAdapter: ...


def load_adapter(name: str) -> AdapterFactory:
    """The factory registered under ``name`` in the ``fillcapture.feeds`` group."""
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            factory: AdapterFactory = entry.load()
            return factory
    raise FeedError(f"no feed adapter named {name!r} is installed")
