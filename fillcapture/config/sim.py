"""``[sim]``: the simulated T4 backend."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from fillcapture.config.base import Section


class SimSettings(Section):
    """The simulated T4 backend. ``accounts`` are the firm's accounts (those
    beyond the owned ones make unowned traffic); ``fills_per_second`` is the
    firm-wide fill rate; ``port = 0`` picks a free loopback port.

    The rest, all off by default, make a hostile session (``SimConfig``
    explains each): ``spread_fraction`` of orders are two-leg spreads;
    ``bust_fraction`` of fills bust an earlier one; sockets are dropped every
    ``drop_every`` seconds or at random with mean ``drop_random``; live frames
    are duplicated (``duplicate_fraction``), shuffled in windows of
    ``reorder_window``, preceded by junk (``malformed_fraction``); orders are
    announced after their first fill (``fill_before_order_fraction``); logins
    are refused with ``refuse_login`` (a LoginResult name or number) the first
    ``refuse_logins`` times (unset: always); sessions go silent
    ``stall_after`` seconds after login for ``stall_seconds`` (``inf``: for good);
    with ``drop_after_login`` every session is closed right after its login;
    ``logged_in_elsewhere_after`` seconds into each session, a ``login_response``
    of ``LOGGED_IN_ELSEWHERE`` ends it; ``trade_date_offset_ticks`` is added to
    every trade date sent (non-midnight dates).
    ``resubscribe_no_snapshot``: the first N subscriptions of a session after
    its first are answered with success and no snapshot.
    Spread orders' updates also carry their spread-level trades
    (``spread_trades``); spread markets are described after their first fills
    (``late_definitions``).
    """

    seed: int = 1
    fills_per_second: float = Field(5.0, ge=0)
    accounts: list[str] = Field(
        default_factory=lambda: ["11111", "22222", "33333", "44444", "55555"]
    )
    firm: str = "SIMFIRM"
    username: str = "WhenTechFillUser"
    port: int = Field(0, ge=0, le=65535)
    spread_fraction: float = Field(0.0, ge=0, le=1)
    bust_fraction: float = Field(0.0, ge=0, le=1)
    drop_every: float | None = Field(None, gt=0, allow_inf_nan=False)
    drop_random: float | None = Field(None, gt=0, allow_inf_nan=False)
    duplicate_fraction: float = Field(0.0, ge=0, le=1)
    reorder_window: int = Field(0, ge=0)
    fill_before_order_fraction: float = Field(0.0, ge=0, le=1)
    malformed_fraction: float = Field(0.0, ge=0, le=1)
    refuse_login: int | None = None
    refuse_logins: int | None = Field(None, ge=1)
    stall_after: float | None = Field(None, ge=0, allow_inf_nan=False)
    stall_seconds: float = Field(float("inf"), gt=0)
    top_level_updates: bool = False
    account_codes: bool = False
    ids_on_block: bool = False
    busts_as_orders: bool = False
    corrupt_fraction: float = Field(0.0, ge=0, le=1)
    drop_after_login: bool = False
    logged_in_elsewhere_after: float | None = Field(None, ge=0, allow_inf_nan=False)
    trade_date_offset_ticks: int = Field(0, gt=-(10**16), lt=10**16)
    resubscribe_no_snapshot: int = Field(0, ge=0)
    spread_trades: bool = False
    late_definitions: bool = False

    @field_validator("refuse_login", mode="before")
    @classmethod
    def _login_result(cls, value: object) -> int | None:
        if value is None:
            return None
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise ValueError("must be a LoginResult name or number")
        from fillcapture.sim.config import login_result

        result = login_result(value)
        if result == 0:
            raise ValueError("SUCCESS is not a refusal")
        return result

    @model_validator(mode="after")
    def _refusals_need_a_result(self) -> SimSettings:
        if self.refuse_logins is not None and self.refuse_login is None:
            raise ValueError("refuse_logins needs refuse_login")
        return self
