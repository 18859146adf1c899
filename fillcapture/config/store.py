"""``[store]``: where fills are kept and how they are written."""

from __future__ import annotations

from pydantic import Field, field_validator

from fillcapture.config.base import Section
from fillcapture.store import StoreLocation, locate, url_problem


class StoreSettings(Section):
    """``url``: a store URL its engine reads, e.g. ``sqlite:///relative/path.db``
    or ``sqlite:////absolute/path.db``.
    ``batch_size`` caps the fills in one commit (group commit grows batches
    with the load by itself); ``batch_ms`` optionally waits that long to grow a
    small batch; ``queue_fills`` bounds what waits between feed and writer;
    ``outage_log_seconds`` spaces the errors logged while the store takes no writes."""

    url: str = "sqlite:///var/fills.db"
    batch_size: int = Field(40_000, ge=1)
    batch_ms: float = Field(0.0, ge=0, allow_inf_nan=False)
    queue_fills: int = Field(50_000, ge=1)
    # While the store takes no writes (full disk, read-only), the daemon logs
    # one error per this many seconds, however often it retries.
    outage_log_seconds: float = Field(60.0, gt=0)

    @field_validator("url")
    @classmethod
    def _engine_url(cls, value: str) -> str:
        problem = url_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @property
    def location(self) -> StoreLocation:
        """Where the store is, as its engine reads the URL."""
        return locate(self.url)
