"""What the MQTT publisher and the MQTT feed adapter share: their TLS set-up."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Protocol

from fillcapture.config import ConfigError


class TlsSettings(Protocol):
    """The TLS keys ``[mqtt]`` and ``[mqtt_feed]`` both have."""

    @property
    def tls(self) -> bool: ...

    @property
    def ca_file(self) -> Path | None: ...

    @property
    def cert_file(self) -> Path | None: ...

    @property
    def key_file(self) -> Path | None: ...


def tls_context(settings: TlsSettings, section: str) -> ssl.SSLContext | None:
    """The TLS context of the ``[section]`` settings, loaded once at start: a
    file that cannot be read is a configuration error then (exit 2), not a
    reconnect loop later."""
    if not settings.tls:
        return None
    try:
        context = ssl.create_default_context(cafile=settings.ca_file)
        if settings.cert_file is not None:
            context.load_cert_chain(settings.cert_file, settings.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"{section}: cannot load the TLS files: {exc}") from None
    return context
