"""The ``echo`` feed adapter: one session sending ``count`` fills of the
``[echo]`` section's ``account``, then idle until closed.

Its section is its own: ``create.settings_model`` is the model fillcapture
validates ``[echo]`` with, and the daemon hands the result to the adapter
as ``settings.adapter_section``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from fillcapture.feeds.base import Reconciliation
from fillcapture.model import (
    Connected,
    Disconnected,
    FeedEvent,
    Fill,
    FillsReceived,
    Side,
    Subscribed,
)


class EchoSettings(BaseModel):
    """``[echo]``: whose fills, how many, at what price."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    firm: str = "ECHOFIRM"
    account: str = Field(min_length=1)
    count: int = Field(3, ge=1)
    price: Decimal = Decimal("101.25")
    trade_date: date = date(2026, 11, 20)


class EchoFeed:
    """Sends its fills once, then waits for :meth:`close`."""

    def __init__(self, settings: EchoSettings) -> None:
        self.settings = settings
        self._closed = asyncio.Event()

    async def events(self) -> AsyncIterator[FeedEvent]:
        s = self.settings
        yield Connected(s.firm, "echo", (), risk_manager=True, lists_accounts=False)
        yield Subscribed()
        when = datetime.combine(s.trade_date, datetime.min.time(), UTC)
        fills = tuple(
            Fill(s.firm, f"id-{s.account}", s.account, f"echo-{n}", f"E{n}", n, None,
                 "XCME_Eq ES (Z26)", Side.BUY, 1, s.price, str(s.price), when, s.trade_date)
            for n in range(1, s.count + 1))
        yield FillsReceived(fills, time.monotonic_ns())
        await self._closed.wait()
        yield Disconnected("closed")

    async def registry_changed(self) -> None:
        """Nothing to subscribe to."""

    async def reconcile(self, step_seconds: float) -> Reconciliation:
        return Reconciliation(False, reason="the echo feed has no snapshots", supported=False)

    async def close(self) -> None:
        self._closed.set()


def create(settings: Any, ownership: Callable[[], Any], metrics: Any) -> EchoFeed:
    """Entry point ``echo`` in the ``fillcapture.feeds`` group."""
    section = settings.adapter_section
    assert isinstance(section, EchoSettings)
    return EchoFeed(section)


create.settings_model = EchoSettings  # type: ignore[attr-defined]
