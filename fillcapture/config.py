"""Configuration: one TOML file, overridden by environment and credential files.

Precedence, highest first: ``FILLCAPTURE_<SECTION>__<KEY>`` environment
variables, files in ``$CREDENTIALS_DIRECTORY`` named ``<section>_<key>`` (for
secret keys only, e.g. ``t4_password``), the TOML file, built-in defaults.
The file is ``--config FILE``, else ``$FILLCAPTURE_CONFIG``, else
``/etc/fillcapture/fillcapture.toml``; where none exists, the packaged demo
(``demo.toml``: simulated T4, users A and B) is used.
"""

from __future__ import annotations

import contextvars
import os
import socket
import tomllib
from datetime import date, time
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from fillcapture.urls import is_loopback, masked, plaintext_problem

DEFAULT_CONFIG_PATH = Path("/etc/fillcapture/fillcapture.toml")
ENV_CONFIG = "FILLCAPTURE_CONFIG"


class ConfigError(Exception):
    """An invalid configuration. ``str()`` is one line naming the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedSettings(_Section):
    """``adapter``: ``sim`` runs the embedded simulator on a loopback port and
    connects the real ``t4`` adapter to it; ``t4`` connects to ``[t4] url``;
    ``mqtt`` takes fills published in fillcapture's JSON schema from the broker
    of ``[mqtt_feed]``."""

    adapter: Literal["sim", "t4", "mqtt"] = "sim"


class T4Settings(_Section):
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


class _Broker(_Section):
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


class MqttFeedSettings(_Broker):
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


class StoreSettings(_Section):
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


class ScheduleSettings(_Section):
    """The daemon's daily jobs, at Chicago times on trading days. ``holidays``:
    exchange holidays (no trading day). ``reconcile_at``: ask T4 for fresh
    snapshots before the 17:00 roll; each step of it (subscribing again,
    unsubscribing and subscribing, a new session) waits ``reconcile_timeout``
    seconds for every account's snapshot; ``reconcile_settle`` seconds after
    they came the recovered fills are counted per account. ``seal_at``: seal
    the trade date that rolled at 17:00. ``enabled = false`` runs no jobs."""

    enabled: bool = True
    holidays: list[date] = Field(default_factory=list)
    reconcile_at: time = time(15, 55)
    reconcile_settle: float = Field(30.0, gt=0, allow_inf_nan=False)
    seal_at: time = time(17, 5)
    reconcile_timeout: float = Field(120.0, gt=0, allow_inf_nan=False)

    @field_validator("reconcile_at")
    @classmethod
    def _before_the_close(cls, value: time) -> time:
        if not time(0, 0) <= value < time(16, 0):
            raise ValueError("must be before the 16:00 close (Chicago time)")
        return value

    @field_validator("seal_at")
    @classmethod
    def _after_the_roll(cls, value: time) -> time:
        if not time(17, 0) < value <= time(23, 59):
            raise ValueError("must be after the 17:00 roll (Chicago time), same evening")
        return value

    @model_validator(mode="after")
    def _reconcile_ends_before_the_roll(self) -> ScheduleSettings:
        start = self.reconcile_at.hour * 3600 + self.reconcile_at.minute * 60
        longest = 3 * self.reconcile_timeout + self.reconcile_settle
        if start + longest >= 17 * 3600:
            raise ValueError(
                "reconcile_timeout: three steps of it and reconcile_settle from reconcile_at "
                "must end before the 17:00 roll")
        return self


class MaintenanceSettings(_Section):
    """The weekly job (``weekday`` at ``at``, Chicago time): an online backup to
    ``backup_dir`` keeping the newest ``keep``, ``PRAGMA optimize``, an
    integrity check, and with ``retain_days`` the deletion of older trade dates
    (default: keep everything)."""

    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "sat"
    at: time = time(2, 0)
    backup_dir: Path | None = None
    keep: int = Field(4, ge=1)
    retain_days: int | None = Field(None, ge=1)


class UserSettings(_Section):
    """One WhenTech end user and the accounts (numbers as the firm knows them)
    they own. ``firm`` may be left out while only one firm is configured."""

    name: str = Field(min_length=1)
    accounts: list[str] = Field(default_factory=list)
    firm: str | None = None

    @field_validator("accounts")
    @classmethod
    def _account_numbers(cls, value: list[str]) -> list[str]:
        for number in value:
            if not number.strip() or number != number.strip():
                raise ValueError(f"account number {number!r} is blank or padded")
        return value


class SimSettings(_Section):
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



class OnboardingSettings(_Section):
    """T4's Onboarding API, called by ``fillcapture onboard``. ``url`` is the
    endpoint CTS gives the vendor (the default is the simulated API of
    ``fillcapture sim --onboarding``). ``api_key`` is the credential CTS issues
    (secret); it is sent as ``Authorization: Bearer KEY``, or as the plain value
    of ``api_key_header`` when that names another header (e.g. ``X-API-Key``).
    ``timeout`` bounds each attempt in seconds; a timeout or a 5xx answer is
    retried up to ``retries`` more times, waiting about ``backoff_base``
    seconds, doubled at each retry. An ``http://`` ``url`` off loopback needs
    ``allow_insecure``: the key would cross the network in clear."""

    allow_insecure: bool = False
    url: str = "http://127.0.0.1:8089/onboarding"
    api_key: SecretStr | None = None
    api_key_header: str = Field("Authorization", min_length=1)
    timeout: float = Field(30.0, gt=0, allow_inf_nan=False)
    retries: int = Field(3, ge=0)
    backoff_base: float = Field(1.0, ge=0, allow_inf_nan=False)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str, info: ValidationInfo) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        problem = plaintext_problem(value, "http://", "onboarding")
        if problem and not info.data.get("allow_insecure"):
            raise ValueError(problem)
        return value


class _Listener(_Section):
    """A section that listens on ``listen``: ``host:port``, an IPv6 host in brackets."""

    listen: str

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host_and_port(value)
        return value

    @property
    def host(self) -> str:
        return host_and_port(self.listen)[0]

    @property
    def port(self) -> int:
        return host_and_port(self.listen)[1]


class ApiSettings(_Listener):
    """The HTTP API of ``fillcapture serve``, a process of its own reading the
    store read-only: ``listen`` is ``host:port`` (an IPv6 host in brackets).
    ``point_values``: currency per price point and contract, by market id, for
    the daily summary's ``pnl_currency``. They override the values the daemon
    records from T4's market details; a market in neither has none.

    Limits against idle, slow and too many clients (deploy/README.md):
    ``max_connections`` open at once (beyond it the oldest connection not in a
    request is closed), ``max_requests`` answered at once (beyond it 503),
    ``header_timeout`` seconds for a request's headers to arrive, counted from
    the connection's start or the previous response, ``keep_alive_timeout``
    seconds idle between requests. Refused connections are logged at most once
    per ``log_interval`` seconds, with their count. ``trusted_proxies``: the
    addresses or networks (``10.0.0.0/8``) of reverse proxies whose
    ``X-Forwarded-For`` names the client in the access log; from any other
    peer the header is ignored."""

    listen: str = "127.0.0.1:8080"
    point_values: dict[str, Decimal] = Field(default_factory=dict)
    max_connections: int = Field(512, ge=1, le=100_000)
    max_requests: int = Field(64, ge=1)
    header_timeout: float = Field(10.0, gt=0)
    keep_alive_timeout: int = Field(5, ge=1)
    log_interval: float = Field(60.0, gt=0)
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        try:
            return [str(ipaddress.ip_network(entry, strict=False)) for entry in value]
        except ValueError as exc:
            raise ValueError(f"must be IP addresses or networks: {exc}") from None


class MetricsSettings(_Listener):
    """The Prometheus endpoint: ``GET /metrics`` on ``listen`` (``host:port``;
    an IPv6 host in brackets, ``[::1]:9464``) while ``enabled``. The default
    answers on loopback only: open it wider only where the network is trusted,
    since the endpoint has no authentication."""

    enabled: bool = True
    listen: str = "127.0.0.1:9464"


class MqttSettings(_Broker):
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


class LogSettings(_Section):
    """``format``: ``auto`` is console on a terminal, JSON lines otherwise."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class Settings(BaseSettings):
    """The whole effective configuration."""

    model_config = SettingsConfigDict(
        env_prefix="FILLCAPTURE_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    feed: FeedSettings = FeedSettings()
    t4: T4Settings = T4Settings()
    mqtt_feed: MqttFeedSettings = MqttFeedSettings()
    store: StoreSettings = StoreSettings()
    users: list[UserSettings] = Field(default_factory=list)
    sim: SimSettings = SimSettings()
    onboarding: OnboardingSettings = OnboardingSettings()
    api: ApiSettings = ApiSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    maintenance: MaintenanceSettings = MaintenanceSettings()
    metrics: MetricsSettings = MetricsSettings()
    mqtt: MqttSettings = MqttSettings()
    log: LogSettings = LogSettings()

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        firms = {user.firm for user in self.users if user.firm}
        if len(firms) > 1:
            for index, user in enumerate(self.users):
                if not user.firm:
                    raise ValueError(
                        f"users[{index}].firm: required when several firms are configured"
                    )
        seen: dict[tuple[str, str], str] = {}
        for user in self.users:
            for number in user.accounts:
                key = (user.firm or "", number)
                if key in seen and seen[key] != user.name:
                    raise ValueError(
                        f"users: account {number} is owned by both {seen[key]} and {user.name}"
                    )
                seen[key] = user.name
        if len({user.name for user in self.users}) != len(self.users):
            raise ValueError("users: a user name appears twice")
        backups = self.maintenance.backup_dir
        if backups is not None and backups.resolve() == self.store.path.parent.resolve():
            raise ValueError("maintenance.backup_dir: is the store's directory; backups "
                             "must be kept apart from the store (a directory of their own)")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [
            init_settings,
            env_settings,
            _CredentialsSource(settings_cls),
        ]
        toml_file = _TOML_FILE.get()
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    def masked(self) -> dict[str, Any]:
        """The configuration as plain data, secrets replaced by asterisks (a
        URL's user:password too)."""
        data: dict[str, Any] = self.model_dump(mode="json")
        for section in data.values():
            if isinstance(section, dict) and isinstance(section.get("url"), str):
                section["url"] = masked(section["url"])
        return data


_TOML_FILE: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "fillcapture_toml_file", default=None
)


class _CredentialsSource(PydanticBaseSettingsSource):
    """Secret keys from systemd credential files: ``$CREDENTIALS_DIRECTORY/<section>_<key>``."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        directory = os.environ.get("CREDENTIALS_DIRECTORY")
        if not directory:
            return {}
        found: dict[str, Any] = {}
        for section_name, section_field in Settings.model_fields.items():
            section_type = section_field.annotation
            if not (isinstance(section_type, type) and issubclass(section_type, BaseModel)):
                continue
            for key, key_field in section_type.model_fields.items():
                if SecretStr not in _type_args(key_field.annotation):
                    continue
                path = Path(directory) / f"{section_name}_{key}"
                if path.is_file():
                    found.setdefault(section_name, {})[key] = path.read_text().strip()
        return found


def _type_args(annotation: Any) -> tuple[Any, ...]:
    return (annotation, *getattr(annotation, "__args__", ()))


def sqlite_path(url: str) -> Path:
    """``sqlite:///rel/x.db`` → ``rel/x.db``; ``sqlite:////abs/x.db`` → ``/abs/x.db``."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ValueError("must look like sqlite:///relative/path.db or sqlite:////absolute/path.db")
    return Path(url[len(prefix) :])


def host_and_port(listen: str) -> tuple[str, int]:
    """``127.0.0.1:9464`` → ``("127.0.0.1", 9464)``; ``[::1]:9464`` → ``("::1", 9464)``."""
    host, colon, port = listen.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    number = int(port) if port.isascii() and port.isdigit() else 0
    if not colon or not host or not 1 <= number <= 65535:
        raise ValueError("must be host:port with a port from 1 to 65535, e.g. 127.0.0.1:9464")
    return host, number


def config_file(explicit: str | Path | None) -> Path:
    """Which TOML file applies: explicit, ``$FILLCAPTURE_CONFIG``, the system
    file, else the packaged demo. An explicit or environment file must exist."""
    named = explicit or os.environ.get(ENV_CONFIG)
    if named:
        path = Path(named)
        if not path.is_file():
            source = "--config" if explicit else ENV_CONFIG
            raise ConfigError(f"{source}: file {path} does not exist")
        return path
    if DEFAULT_CONFIG_PATH.is_file():
        return DEFAULT_CONFIG_PATH
    with resources.as_file(resources.files("fillcapture") / "demo.toml") as demo:
        return Path(demo)


def login_problem(settings: Settings) -> str | None:
    """What keeps the configured T4 login from being tried, naming the key; None
    if nothing. Only commands that log in (``run``, ``record``, ``config
    check``) need this: an operator reading fills needs no T4 password."""
    if settings.feed.adapter != "t4":
        return None
    t4 = settings.t4
    if t4.uses_api_key:
        return None
    for key, value in (
        ("firm", t4.firm),
        ("username", t4.username),
        ("password", t4.password and t4.password.get_secret_value()),
        ("app_name", t4.app_name),
        ("app_license", t4.app_license),
    ):
        if not value:
            return f"t4.{key}: required with adapter = \"t4\" unless t4.api_key is set"
    return None


def load_settings(explicit: str | Path | None = None) -> Settings:
    """Build the effective settings, or raise :class:`ConfigError` naming the key."""
    path = config_file(explicit)
    try:
        with path.open("rb") as handle:
            tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    token = _TOML_FILE.set(path)
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None
    finally:
        _TOML_FILE.reset(token)


def _describe(exc: ValidationError, path: Path) -> str:
    error = exc.errors(include_url=False)[0]
    key = _dotted(error["loc"])
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
        if ": " in message and not key:
            return f"{path}: {message}"
    value = "" if error["type"] == "extra_forbidden" else _shown(error.get("input"), key)
    where = key or "(top level)"
    env_name = "FILLCAPTURE_" + "__".join(str(part) for part in error["loc"]).upper()
    source = f"environment {env_name}" if env_name in os.environ else str(path)
    return f"{source}: {where}: {message}{value}"


def _shown(value: Any, key: str) -> str:
    if isinstance(value, (dict, list)) or value is None:
        return ""
    if any(word in key for word in ("password", "api_key", "secret", "token")):
        return ""
    return f" (got {masked(repr(value))})"


def _dotted(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text
