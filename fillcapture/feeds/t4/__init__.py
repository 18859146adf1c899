"""The T4 WebSocket/protobuf API v1 feed adapter (``session.T4Feed``).

Kept free of imports so that the generated ``proto`` modules, which the
simulator shares, can be loaded without the adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fillcapture.config import Settings
    from fillcapture.feeds.t4.session import T4Feed
    from fillcapture.metrics import Metrics
    from fillcapture.ownership import Ownership


def create(settings: Settings, ownership: Callable[[], Ownership], metrics: Metrics) -> T4Feed:
    """Entry point of the ``t4`` adapter in the ``fillcapture.feeds`` group."""
    from fillcapture.feeds.t4.session import T4Feed

    return T4Feed(settings.t4, ownership, metrics)
