"""The daemon's T4 session as it stands, and who hears of each change.

:class:`FeedStatus` is a value; :class:`StatusBoard` holds the current one and
calls its listeners (systemd, the metrics gauge, the recorded state) on every
change. It imports nothing of the daemon, so everything that only watches the
session depends on this module alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import structlog

log = structlog.get_logger(__name__)

FeedState = Literal["starting", "connected", "subscribed", "disconnected", "stopping", "stopped"]


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """The daemon's T4 session as it stands: for ``fillcapture status``, systemd
    and metrics. ``since`` is when ``state`` was entered; ``reason`` says why
    the last session ended; ``visible`` are the account numbers the fill user sees,
    meaningful only if the feed ``lists_accounts`` (see :class:`Connected`);
    ``price_format`` is how the last session's prices are written, if known."""

    state: FeedState
    since: datetime
    firm: str | None = None
    username: str | None = None
    visible: frozenset[str] = frozenset()
    reason: str | None = None
    lists_accounts: bool = True
    # Account numbers T4 contradicted itself on (see AccountConflict).
    conflicts: frozenset[str] = frozenset()
    price_format: str | None = None


StatusListener = Callable[[FeedStatus], None]


class StatusBoard:
    """The current :class:`FeedStatus` and its listeners.

    ``listeners`` are called with the new status on every change (state, or
    the accounts visible), synchronously on the event loop: they must be quick
    and must not raise (a listener that raises is logged).
    """

    def __init__(self) -> None:
        self.status = FeedStatus("starting", datetime.now(UTC))
        self.listeners: list[StatusListener] = []

    def set(self, state: FeedState | None = None, **changes: Any) -> None:
        """Record a change of the feed's status and tell the listeners."""
        status = self.status
        if state is not None and state != status.state:
            changes.update(state=state, since=datetime.now(UTC))
        self.status = dataclasses.replace(status, **changes)
        for listener in list(self.listeners):
            try:
                listener(self.status)
            except Exception:
                log.exception("daemon.status_listener_failed", listener=repr(listener))
