"""The feed adapter interface and how adapters are found.

An adapter is an async iterator of :mod:`fillcapture.model` feed events; it
is looked up by name in the ``fillcapture.feeds`` entry-point group. A third
party's adapter factory may declare the model of its own configuration
section as its ``settings_model`` attribute; the configuration validates
``[<adapter name>]`` with it and the factory finds the result in
``settings.adapter_section`` (:mod:`fillcapture.config.adapters`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from fillcapture.config.adapters import load_factory
from fillcapture.model import FeedEvent
from fillcapture.ownership import Ownership

if TYPE_CHECKING:
    from fillcapture.config import Settings
    from fillcapture.metrics import Metrics


class FeedError(Exception):
    """A feed cannot go on; the daemon stops."""


class LoginRefused(FeedError):
    """T4 refused the login for a reason retrying will not fix (exit code 3)."""

    def __init__(self, result: str, message: str) -> None:
        super().__init__(f"T4 refused the login: {result}" + (f" ({message})" if message else ""))
        self.result = result


ReconcileStep = Literal["resubscribe", "unsubscribe_subscribe", "new_session"]
"""What brought the fresh snapshots: subscribing again; unsubscribing, then
subscribing; a new session (its login and subscription)."""


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """How a reconcile ended. ``verified``: a fresh snapshot of every
    subscribed owned account arrived, the last of them through ``step``;
    otherwise ``reason`` says why not and ``missing`` names the account
    numbers (ids where the number is unknown) still without one.
    ``supported`` is False for a feed that has no snapshots at all (MQTT):
    nothing was asked, so nothing is verified."""

    verified: bool
    step: ReconcileStep | None = None
    accounts: int = 0
    reason: str | None = None
    missing: tuple[str, ...] = ()
    supported: bool = True


class FeedAdapter(Protocol):
    """One source of fills. ``events()`` runs until ``close()``; it reconnects on
    its own and reports each session with ``Connected``/``Disconnected``."""

    def events(self) -> AsyncIterator[FeedEvent]: ...

    async def registry_changed(self) -> None:
        """The ownership registry changed: subscribe to newly owned accounts."""
        ...

    async def reconcile(self, step_seconds: float) -> Reconciliation:
        """Have the source send again what it still has of the day (T4: fresh
        snapshots of every subscribed owned account), escalating as it must,
        each step waiting up to ``step_seconds``; say how it ended."""
        ...

    async def close(self) -> None: ...


class AdapterFactory(Protocol):
    def __call__(
        self, settings: Settings, ownership: Callable[[], Ownership], metrics: Metrics
    ) -> FeedAdapter: ...


def load_adapter(name: str) -> AdapterFactory:
    """The factory registered under ``name`` in the ``fillcapture.feeds`` group."""
    try:
        factory: AdapterFactory = load_factory(name)
    except LookupError:
        raise FeedError(f"no feed adapter named {name!r} is installed") from None
    return factory
