"""The database a ``postgresql:`` store URL names, and how to connect to it.

``postgresql://user[:password]@host[:port]/dbname[?sslmode=...&sslrootcert=...
&sslcert=...&sslkey=...]``, the option names libpq's. To a host that is not
this machine's loopback, ``sslmode`` must be given: ``require`` or stronger,
or ``disable`` said knowingly; libpq's default ``prefer`` (and ``allow``)
would fall back to plaintext without a word. The password is, in
order: the URL's; else ``[store] password``; else the file ``store_password``
in ``$CREDENTIALS_DIRECTORY`` (systemd ``LoadCredential=``); else none (the
driver then reads ``PGPASSWORD`` or ``~/.pgpass``). It is read when the store
opens, and never shown: :meth:`Server.describe` masks it. The pool, the
lease and the backups connect with :meth:`Server.connect_options`.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from fillcapture.urls import masked

SCHEMES = ("postgresql", "postgres")
SHAPE = "postgresql://user@host:5432/dbname"

SSL_OPTIONS = ("sslmode", "sslrootcert", "sslcert", "sslkey")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
FALLING_BACK = (None, "allow", "prefer")
"""sslmodes that may end in plaintext without saying so (None: libpq's default, prefer)."""

CREDENTIAL = "store_password"
"""The systemd credential (``LoadCredential=store_password:...``) holding the password."""


@dataclass(frozen=True, slots=True)
class Server:
    """The database ``dsn`` names (a DSN without the password)."""

    dsn: str
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str, password: str | None = None) -> Server:
        """Read ``url`` (``password``: ``[store] password``); ``ValueError``
        (one line, no secret) if it is not a database URL."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise ValueError(f"must look like {SHAPE} (port must be a number)") from None
        if parts.scheme not in SCHEMES:
            raise ValueError(f"must look like {SHAPE}")
        if not parts.hostname:
            raise ValueError(f"must look like {SHAPE} (no host)")
        database = unquote(parts.path.lstrip("/"))
        if not database or "/" in database:
            raise ValueError(f"must look like {SHAPE} (no database name)")
        if parts.fragment:
            raise ValueError(f"must look like {SHAPE} (no #fragment)")
        options = parse_qsl(parts.query, keep_blank_values=True)
        for name, value in options:
            if name not in SSL_OPTIONS:
                raise ValueError(f"unknown option {name!r} (known: {', '.join(SSL_OPTIONS)})")
            if name == "sslmode" and value not in SSL_MODES:
                raise ValueError(f"sslmode {value!r} is not one of {', '.join(SSL_MODES)}")
        mode = dict(options).get("sslmode")
        if mode in FALLING_BACK and not _loopback(parts.hostname):
            said = "no sslmode (libpq's default prefer)" if mode is None else f"sslmode={mode}"
            raise ValueError(
                f"{said} to {parts.hostname}, another machine, may fall back to plaintext "
                "without a word: add ?sslmode=verify-full&sslrootcert=CA.pem (or require), "
                "or sslmode=disable if the network is yours to trust")
        if parts.password is not None and password is not None:
            raise ValueError("a password both in the url and in [store] password: keep one")
        user = f"{quote(unquote(parts.username), safe='')}@" if parts.username else ""
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        dsn = f"postgresql://{user}{host}{'' if port is None else f':{port}'}/" \
              f"{quote(database, safe='')}{'?' + parts.query if parts.query else ''}"
        given = unquote(parts.password) if parts.password is not None else password
        return cls(dsn, given)

    def secret(self) -> str | None:
        """The password to connect with (see the module's order); read now,
        so a rotated credential file is seen at the next open."""
        if self.password is not None:
            return self.password
        directory = os.environ.get("CREDENTIALS_DIRECTORY")
        if directory:
            path = Path(directory) / CREDENTIAL
            try:
                return path.read_text(encoding="utf-8").rstrip("\r\n")
            except FileNotFoundError:
                return None
        return None

    def connect_options(self, *, readonly: bool) -> dict[str, Any]:
        """What the driver connects with: the DSN, the password, the session
        settings (``readonly``: every transaction READ ONLY). The application
        name carries the process id, so ``pg_stat_activity`` tells an
        operator which daemon each connection is. JIT is off: the engine's
        reads carry each fill's owner as registry subqueries, which the
        planner costs past ``jit_above_cost`` once a few thousand fills are
        stored, and LLVM then spends most of a second compiling a read that
        runs in milliseconds (every outbox batch, every API page).

        A read-only store's statements are each planned for their own values
        (``plan_cache_mode``): a statement asyncpg has prepared would otherwise
        take a generic plan from its sixth run on, and for a page of fills
        after a cursor that plan reads and sorts all of an account's dates,
        45 ms where the plan for the values takes 13 ms (10 million fills).
        The capture path keeps the generic plans of its short statements:
        planning them at every commit took its latency at 1,000 fills/s from
        1.8 ms to 8.6 ms (p50)."""
        settings = {"application_name": f"fillcapture {os.getpid()}", "timezone": "UTC",
                    "jit": "off"}
        if readonly:
            settings["default_transaction_read_only"] = "on"
            settings["plan_cache_mode"] = "force_custom_plan"
        return {"dsn": self.dsn, "password": self.secret(), "server_settings": settings}

    def describe(self) -> str:
        return masked(self.dsn)


def _loopback(host: str) -> bool:
    """``host`` is this machine: ``localhost`` or a loopback address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
