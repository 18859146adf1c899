"""MQTT broker connections: ``[mqtt_feed]`` (the feed adapter) and ``[mqtt]``
(the publisher)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from fillcapture.config.base import Section
from fillcapture.urls import is_loopback


class Broker(Section):
    """An MQTT broker connection, as the feed adapter and the publisher make
    it: ``host``:``port``, optional ``username``/``password``; ``tls``
    connects with TLS, trusting the system's CAs or ``ca_file``;
    ``cert_file`` and ``key_file`` are a client certificate. A ``password``
    without ``tls`` to a host off loopback needs ``allow_insecure``: it would
    cross the network in clear."""

    host: str = Field("localhost", min_length=1)
    port: int = Field(1883, ge=1, le=65535)
    tls: bool = False
    allow_insecure: bool = False
    username: str = ""
    password: SecretStr | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive: int = Field(30, ge=5)
    connect_timeout: float = Field(15.0, gt=0, allow_inf_nan=False)
    reconnect_base: float = Field(1.0, gt=0, allow_inf_nan=False)
    reconnect_cap: float = Field(30.0, gt=0, allow_inf_nan=False)

    @field_validator("password")
    @classmethod
    def _password_over_tls(cls, value: SecretStr | None, info: ValidationInfo
                           ) -> SecretStr | None:
        data = info.data
        if (value is not None and value.get_secret_value() and not data.get("tls")
                and not data.get("allow_insecure") and not is_loopback(data.get("host"))):
            raise ValueError("sent unencrypted without tls = true to a host off loopback: "
                             "set tls = true, or allow_insecure = true in this section")
        return value

    @model_validator(mode="after")
    def _tls_files(self) -> Self:
        if not self.tls and (self.ca_file or self.cert_file or self.key_file):
            raise ValueError("tls: ca_file, cert_file and key_file need tls = true")
        if self.key_file and not self.cert_file:
            raise ValueError("key_file: needs cert_file")
        return self


class MqttFeedSettings(Broker):
    """The MQTT feed adapter (``[feed] adapter = "mqtt"``): fills and busts in
    fillcapture's JSON schema from the broker at ``host``:``port``.

    Fill messages come from ``fill_topics`` and bust messages from
    ``bust_topics`` (filters, wildcards allowed; a topic matching a bust filter
    is read as a bust). ``firm``, when set, is the firm this daemon serves: the
    status names it, its trade dates are sealed, and fills of other firms are
    dropped; unset, every firm's fills pass on to the ownership filter.

    The session is persistent (``client_id`` fixed, clean session off), so the
    broker queues QoS 1 and 2 messages while the daemon is away: ``client_id``
    must be unique on the broker. ``dead_letter_topic``, when set, receives the
    raw payload of every invalid message; no subscribed filter may match it.
    """

    client_id: str = Field(
        default_factory=lambda: f"fillcapture-feed-{socket.gethostname()}", min_length=1
    )
    fill_topics: list[str] = Field(default_factory=lambda: ["fillcapture/fills/#"],
                                   min_length=1)
    bust_topics: list[str] = Field(default_factory=lambda: ["fillcapture/busts/#"])
    qos: Literal[0, 1, 2] = 1
    dead_letter_topic: str | None = None
    firm: str = ""

    @field_validator("fill_topics", "bust_topics")
    @classmethod
    def _filters(cls, value: list[str]) -> list[str]:
        from aiomqtt import Wildcard

        for topic in value:
            Wildcard(topic)  # ValueError names it
        return value

    @field_validator("dead_letter_topic")
    @classmethod
    def _topic(cls, value: str | None) -> str | None:
        from aiomqtt import Topic

        if value is not None:
            Topic(value)  # no wildcards
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MqttFeedSettings:
        from aiomqtt import Topic

        if self.dead_letter_topic is not None:
            dead = Topic(self.dead_letter_topic)
            for pattern in (*self.fill_topics, *self.bust_topics):
                if dead.matches(pattern):
                    # Its messages would come back, fail again, go back out: a loop.
                    raise ValueError(f"dead_letter_topic: matched by the subscribed {pattern!r}")
        return self


class MqttSettings(Broker):
    """The MQTT publisher: every stored fill and bust, as JSON, to the broker at
    ``host``:``port`` (see ``docs/mqtt.md``), while ``enabled``.

    Fills go to ``{topic_prefix}/fills/{user}/{account}``, busts to
    ``{topic_prefix}/busts/{user}/{account}``, the publisher's retained status
    to ``{topic_prefix}/status``, at ``qos``. ``client_id`` must be unique on
    the broker; it also names the publisher's place in the store, so changing
    it publishes everything again. Unset, it is ``fillcapture-<[t4] firm>``.

    ``batch`` rows are read from the store at a time and up to ``inflight``
    messages await the broker's acknowledgement at once. After a lost
    connection the publisher waits ``resume_delay`` seconds once connected
    again (subscribers that lost the broker too subscribe again meanwhile),
    then sends again what the broker acknowledged in the ``resend_window``
    seconds before the loss: a broker that dies may not have passed it on.
    """

    enabled: bool = False
    client_id: str = ""
    topic_prefix: str = "fillcapture"
    qos: Literal[0, 1, 2] = 1
    batch: int = Field(1000, ge=1)
    inflight: int = Field(100, ge=1, le=65535)
    resend_window: float = Field(10.0, ge=0, allow_inf_nan=False)
    resume_delay: float = Field(2.0, ge=0, allow_inf_nan=False)

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value or value.startswith("/") or value.endswith("/") or "//" in value:
            raise ValueError("must be topic levels like 'fillcapture' or 'site/fills', "
                             "without a leading, trailing or doubled '/'")
        if any(char in value for char in "+#\0"):
            raise ValueError("must not contain the wildcards '+' or '#', or NUL")
        return value
