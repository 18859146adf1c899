"""Sections that listen on ``host:port``: ``[api]`` and ``[metrics]``."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, field_validator

from fillcapture.config.base import Section


def host_and_port(listen: str) -> tuple[str, int]:
    """``127.0.0.1:9464`` → ``("127.0.0.1", 9464)``; ``[::1]:9464`` → ``("::1", 9464)``."""
    host, colon, port = listen.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    number = int(port) if port.isascii() and port.isdigit() else 0
    if not colon or not host or not 1 <= number <= 65535:
        raise ValueError("must be host:port with a port from 1 to 65535, e.g. 127.0.0.1:9464")
    return host, number


class Listener(Section):
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


class ApiSettings(Listener):
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


class MetricsSettings(Listener):
    """The Prometheus endpoint: ``GET /metrics`` on ``listen`` (``host:port``;
    an IPv6 host in brackets, ``[::1]:9464``) while ``enabled``. The default
    answers on loopback only: open it wider only where the network is trusted,
    since the endpoint has no authentication."""

    enabled: bool = True
    listen: str = "127.0.0.1:9464"
