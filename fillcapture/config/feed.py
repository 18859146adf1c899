"""``[feed]`` (which adapter) and ``[t4]`` (the T4 fill user's session)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from fillcapture.config.base import Section
from fillcapture.urls import plaintext_problem


class FeedSettings(Section):
    """``adapter``: ``sim`` runs the embedded simulator on a loopback port and
    connects the real ``t4`` adapter to it; ``t4`` connects to ``[t4] url``;
    ``mqtt`` takes fills published in fillcapture's JSON schema from the broker
    of ``[mqtt_feed]``; any other name is an adapter installed in the
    ``fillcapture.feeds`` entry-point group, configured by a section of its
    own named after it (:mod:`fillcapture.config.adapters`)."""

    adapter: str = Field("sim", min_length=1)


class T4Settings(Section):
    """The T4 fill user's session. Log in with ``api_key`` alone, or with
    ``firm``, ``username``, ``password``, ``app_name`` and ``app_license``.
    ``subscribe_all`` is Risk Manager mode: every firm account, unowned dropped.
    The reconnect back-off starts again from ``reconnect_base`` only after a
    session that stayed up ``healthy_after`` seconds. ``price_format`` is the
    T4 ``PriceFormat`` asked for at login: how T4 writes the prices stored.
    A ``ws://`` ``url`` (no TLS) off loopback needs ``allow_insecure``: the
    login would cross the network in clear."""

    allow_insecure: bool = False
    url: str = "wss://wss.t4login.com/v1"
    api_key: SecretStr | None = None
    firm: str = ""
    username: str = ""
    password: SecretStr | None = None
    app_name: str = "WhenTechFills"
    app_license: str = ""
    subscribe_all: bool = False
    heartbeat_interval: float = Field(20.0, gt=0, allow_inf_nan=False)
    silence_timeout: float = Field(60.0, gt=0, allow_inf_nan=False)
    reconnect_base: float = Field(1.0, gt=0, allow_inf_nan=False)
    reconnect_cap: float = Field(30.0, gt=0, allow_inf_nan=False)
    connect_timeout: float = Field(15.0, gt=0, allow_inf_nan=False)
    elsewhere_delay: float = Field(300.0, gt=0, allow_inf_nan=False)
    healthy_after: float = Field(300.0, gt=0, allow_inf_nan=False)
    price_format: Literal["decimal", "real", "clearing_decimal"] = "decimal"

    @field_validator("url")
    @classmethod
    def _ws_url(cls, value: str, info: ValidationInfo) -> str:
        if not value.startswith(("ws://", "wss://")):
            raise ValueError("must be a ws:// or wss:// URL")
        problem = plaintext_problem(value, "ws://", "t4")
        if problem and not info.data.get("allow_insecure"):
            raise ValueError(problem)
        return value

    @property
    def uses_api_key(self) -> bool:
        return self.api_key is not None and bool(self.api_key.get_secret_value())
