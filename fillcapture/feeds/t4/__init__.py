"""The T4 WebSocket/protobuf API v1 feed adapter."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fillcapture.feeds.t4.session import T4Feed
from fillcapture.metrics import Metrics
from fillcapture.ownership import Ownership

if TYPE_CHECKING:
    from fillcapture.config import Settings

__all__ = ["T4Feed", "create"]


def create(settings: Settings, ownership: Callable[[], Ownership], metrics: Metrics) -> T4Feed:
    """Entry point of the ``t4`` adapter in the ``fillcapture.feeds`` group."""
    return T4Feed(settings.t4, ownership, metrics)
