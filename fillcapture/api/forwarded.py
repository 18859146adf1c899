"""The client behind a trusted reverse proxy, from ``X-Forwarded-For``.

The header is whatever the client sent, with each proxy on the way appending
the address it received the request from. Only a proxy we trust tells the
truth about its own peer, so the header counts only when the direct peer is
one of ``trusted``; then the client is the rightmost address that is not a
trusted proxy itself. From any other peer the header is ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(entries: Sequence[str]) -> tuple[Network, ...]:
    """``[api] trusted_proxies`` (addresses or networks, already validated)."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def forwarded_client(peer: str | None, header: str | None,
                     trusted: Sequence[Network]) -> str | None:
    """The client address ``header`` names for a request from ``peer``, or
    ``None``: no header, a peer that is not a trusted proxy, or no address."""
    if peer is None or not header or not _is_trusted(peer, trusted):
        return None
    found = None
    for entry in reversed(header.split(",")):
        try:
            address = ipaddress.ip_address(entry.strip())
        except ValueError:
            break  # anything left of a malformed entry is beyond what we can trust
        found = str(address)
        if not _is_trusted(found, trusted):
            break
    return found


def _is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
