"""URLs as the product shows and trusts them: credentials masked, loopback known.

A URL may carry ``user:password@`` (a T4 or broker URL given that way); it
must never reach a log line, an error or ``fillcapture config check``, so
everything that shows text that may hold a URL passes it through
:func:`masked`. :func:`is_loopback` says whether a host is this machine, the
one place a secret may travel unencrypted (the embedded simulator, tests).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import urlsplit

# scheme://userinfo@ - the userinfo ends at the authority's last '@' before
# any '/', '?', '#' or white space, as urllib reads it.
_USERINFO = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#\s]*@")


def masked(text: str) -> str:
    """``text`` with every URL's ``user:password@`` replaced by ``***@``."""
    return _USERINFO.sub(r"\1***@", text)


def is_loopback(host: str | None) -> bool:
    """``localhost``, 127.0.0.0/8 or ``::1`` (brackets allowed)."""
    if not host:
        return False
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def url_host(url: str) -> str | None:
    """The host ``url`` names, or None if it names none."""
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def plaintext_problem(url: str, scheme: str, key: str) -> str | None:
    """Why ``url`` (plain ``scheme``, e.g. ``ws://``) would send credentials
    unencrypted off this machine, naming ``allow_insecure`` of section ``key``;
    None if it would not."""
    if not url.startswith(scheme) or is_loopback(url_host(url)):
        return None
    secure = scheme.replace("://", "s://")
    return (f"{scheme} sends credentials unencrypted to a host off loopback: use {secure}, "
            f"or set {key}.allow_insecure = true")


def mask_event(logger: Any, name: str, event: MutableMapping[str, Any]
               ) -> MutableMapping[str, Any]:
    """A structlog processor: every text value of a log event :func:`masked`."""
    for field, value in event.items():
        if isinstance(value, (str, BaseException)) and "://" in str(value):
            event[field] = masked(str(value))
    return event
