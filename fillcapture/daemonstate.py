"""What the running daemon knows of itself, held in one place.

One :class:`DaemonState` is made per daemon and handed to the parts that need
it (the operations, the reconcile): the instance its state, gaps and lease
are kept under; the firm the login named; the accounts the fill user sees;
the registry as resolved; the feed; and the latest sealed trade date, whose
setter tells the writer, so that date is held here only and set from
wherever it becomes known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from fillcapture.ownership import Ownership

if TYPE_CHECKING:
    from fillcapture.config import Settings
    from fillcapture.feeds.base import FeedAdapter
    from fillcapture.writer import CaptureWriter


def instance_of(settings: Settings) -> str:
    """The firm instance a daemon of ``settings`` captures: its state, gaps and
    store lease are kept under this name. With the embedded simulator it is the
    simulator's firm, the same before its settings point ``[t4]`` at it as after."""
    match settings.feed.adapter:
        case "mqtt":
            firm = settings.mqtt_feed.firm
        case "sim":
            firm = settings.sim.firm
        case _:
            firm = settings.t4.firm
    return firm or "default"


@dataclass(slots=True)
class DaemonState:
    """The daemon's own state; see the module docstring."""

    instance: str
    # The firm the latest login named; None until T4 named one.
    login_firm: str | None = None
    # Account numbers (and codes) the fill user sees this session.
    visible: set[str] = field(default_factory=set)
    # The registry resolved through the accounts seen: the ownership filter.
    ownership: Ownership = field(default_factory=Ownership)
    feed: FeedAdapter | None = None
    _sealed_through: date | None = None
    _writer: CaptureWriter | None = None

    @property
    def firm(self) -> str:
        """The firm whose days are sealed: the login's, else the instance."""
        return self.login_firm or self.instance

    @property
    def sealed_through(self) -> date | None:
        """The latest sealed trade date: what the writer stores for it or
        earlier is an amendment."""
        return self._sealed_through

    @sealed_through.setter
    def sealed_through(self, day: date | None) -> None:
        self._sealed_through = day
        if self._writer is not None:
            self._writer.sealed_through = day

    def attach(self, writer: CaptureWriter) -> None:
        """The writer that is told every change of :attr:`sealed_through`."""
        self._writer = writer
        writer.sealed_through = self._sealed_through
