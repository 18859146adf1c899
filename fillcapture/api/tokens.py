"""Bearer tokens of the HTTP API: made here, shown once, stored only as a SHA-256.

A token is 32 random bytes in URL-safe base64 (43 characters). The store keeps
its SHA-256 in hex, so a copy of the database, a backup or a log of its rows
gives nobody a token that works.

A request's token is looked up by its digest, never compared with stored
tokens: the lookup's timing can at most tell how many leading digest bytes
matched some stored digest, and a client cannot choose the bytes of a SHA-256
to walk towards a valid one. The lookup is thereby as safe as a constant-time
comparison, without reading every token at every request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets

TOKEN_BYTES = 32

_WELL_FORMED = re.compile(r"[A-Za-z0-9_-]{43}")
"""What ``secrets.token_urlsafe(TOKEN_BYTES)`` gives; anything else is refused unread."""


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """The SHA-256 of ``token`` in hex: what the store keeps and looks up."""
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_token(authorization: str) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header; ``None`` for
    anything else (no header, another scheme, a token we never make)."""
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not _WELL_FORMED.fullmatch(token):
        return None
    return token


def basic_token(authorization: str) -> str | None:
    """The token sent as the password of ``Authorization: Basic`` credentials
    (any user name): what a browser re-sends by itself once asked, where it
    cannot send a bearer header. ``None`` for anything else."""
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    _, colon, token = decoded.partition(":")
    if not colon or not _WELL_FORMED.fullmatch(token):
        return None
    return token
