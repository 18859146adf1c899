"""The replay feed adapter: a recorded T4 session as a feed.

:class:`ReplayFeed` plays a recording (``fillcapture record``) through the
real t4 adapter: the recording is served over loopback WebSocket by
:class:`~fillcapture.feeds.replay_server.ReplayServer` and the t4 adapter
logs in to it, so every frame takes the path it took live (decoding,
reconnects, snapshots). Unlike a live source the feed ends: once every
recorded session was played and the last one closed, every frame has been
read and ``events()`` returns.

``fillcapture replay`` runs this feed through the daemon's pipeline
(:mod:`fillcapture.replaying`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import TracebackType

from pydantic import SecretStr

from fillcapture.config import T4Settings
from fillcapture.feeds.base import FeedError, Reconciliation
from fillcapture.feeds.replay_server import Pace, ReplayServer
from fillcapture.feeds.t4.session import T4Feed
from fillcapture.metrics import Metrics
from fillcapture.model import Disconnected, FeedEvent
from fillcapture.ownership import Ownership


def replay_settings(t4: T4Settings, url: str) -> T4Settings:
    """``t4`` pointed at a replay server at ``url``. The server takes any
    login; the key only makes the settings valid. Reconnects are quick: a
    recorded session ends with the server closing it."""
    return t4.model_copy(update={
        "url": url, "api_key": SecretStr("replay"),
        "reconnect_base": 0.01, "reconnect_cap": 0.05,
    })


class ReplayFeed:
    """A recording at ``path`` as a feed, while the context is entered.

    ``t4`` gives what the t4 adapter needs beyond the server (firm, user,
    subscriptions); :attr:`t4` is it as used, pointed at the loopback server.
    ``pace`` is the server's (:class:`ReplayServer`).
    """

    def __init__(self, path: Path, t4: T4Settings, ownership: Callable[[], Ownership],
                 metrics: Metrics, *, pace: Pace = "max") -> None:
        self.server = ReplayServer.from_file(path, pace=pace, close_when_done=True)
        self.t4 = t4
        self._ownership = ownership
        self._metrics = metrics
        self._feed: T4Feed | None = None

    async def __aenter__(self) -> ReplayFeed:
        await self.server.__aenter__()
        self.t4 = replay_settings(self.t4, self.server.url)
        self._feed = T4Feed(self.t4, self._ownership, self._metrics)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            await self.close()
        finally:
            await self.server.__aexit__(exc_type, exc, tb)

    def _running(self) -> T4Feed:
        if self._feed is None:
            raise FeedError("the replay feed is used outside its context")
        return self._feed

    async def events(self) -> AsyncIterator[FeedEvent]:
        """The t4 adapter's events, until the recording was played to its end."""
        async for event in self._running().events():
            yield event
            if isinstance(event, Disconnected) and self.server.complete.is_set():
                return

    async def registry_changed(self) -> None:
        await self._running().registry_changed()

    async def reconcile(self, step_seconds: float) -> Reconciliation:
        return await self._running().reconcile(step_seconds)

    async def close(self) -> None:
        if self._feed is not None:
            await self._feed.close()

