"""``[store]``: where fills are kept and how they are written."""

from __future__ import annotations

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from fillcapture.config.base import Section
from fillcapture.store import Store, StoreLocation, locate, open_store, url_problem


class StoreSettings(Section):
    """``url``: a store URL its engine reads, e.g. ``sqlite:///relative/path.db``
    or ``sqlite:////absolute/path.db``.
    ``batch_size`` caps the fills in one commit (group commit grows batches
    with the load by itself); ``batch_ms`` optionally waits that long to grow a
    small batch; ``queue_fills`` bounds what waits between feed and writer;
    ``outage_log_seconds`` spaces the errors logged while the store takes no writes.
    ``password``: the password of a store on a server (PostgreSQL), when its URL
    carries none; best kept in ``$CREDENTIALS_DIRECTORY/store_password``. A
    SQLite store takes none."""

    url: str = "sqlite:///var/fills.db"
    password: SecretStr | None = None
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

    @field_validator("password")
    @classmethod
    def _engine_takes_a_password(cls, value: SecretStr | None, info: ValidationInfo
                                 ) -> SecretStr | None:
        url = info.data.get("url")
        if value is not None and isinstance(url, str):
            try:
                locate(url, password=value.get_secret_value())
            except ValueError as exc:  # the engine's words never hold the password
                raise ValueError(str(exc)) from None
        return value

    @property
    def location(self) -> StoreLocation:
        """Where the store is, as its engine reads the URL and the password."""
        return locate(self.url, password=self._password())

    def open(self, *, readonly: bool = False) -> Store:
        """The configured store, not yet open (``async with settings.store.open()``)."""
        return open_store(self.url, readonly=readonly, password=self._password())

    def _password(self) -> str | None:
        return None if self.password is None else self.password.get_secret_value()
