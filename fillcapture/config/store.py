"""``[store]``: where fills are kept and how they are written."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from fillcapture.config.base import Section


class StoreSettings(Section):
    """``url``: ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``.
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
    def _sqlite_url(cls, value: str) -> str:
        sqlite_path(value)
        return value

    @property
    def path(self) -> Path:
        return sqlite_path(self.url)


def sqlite_path(url: str) -> Path:
    """``sqlite:///rel/x.db`` → ``rel/x.db``; ``sqlite:////abs/x.db`` → ``/abs/x.db``."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ValueError("must look like sqlite:///relative/path.db or sqlite:////absolute/path.db")
    return Path(url[len(prefix) :])
