"""What a failed PostgreSQL operation means: one line naming the store and the
cause, whether a restart can fix it, and whether a running daemon should
wait it out (as :class:`~fillcapture.store.records.Cause` says).

A server that cannot be reached, or drops the connection, is transient: a
restart (or the daemon's retry) may find it back. A refused login, a missing
database, a store the server keeps read-only need an operator: permanent.
"""

from __future__ import annotations

import ssl

import asyncpg
from asyncpg import exceptions as pg

from fillcapture.store.records import Cause, StoreError
from fillcapture.urls import masked

ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError,
          TimeoutError)
"""What the driver raises for a failed operation (turned into StoreError).
``InternalClientError``: a connection whose protocol state was broken under
it (the server ended the session mid-transaction) — transient, as a lost
connection is."""

FULL = Cause("the server's disk is full: free space on the database server",
             permanent=False, outage=True)
READ_ONLY = Cause("the server refuses writes (a read-only transaction or a standby)",
                  permanent=True, outage=True)

_BY_CLASS: tuple[tuple[type[BaseException], Cause], ...] = (
    (pg.InvalidPasswordError, Cause("password authentication failed", permanent=True)),
    (pg.InvalidAuthorizationSpecificationError,
     Cause("the server refused the login (user or pg_hba.conf)", permanent=True)),
    (pg.InvalidCatalogNameError, Cause("the database does not exist: create it first",
                                       permanent=True)),
    (pg.InsufficientPrivilegeError, Cause("permission denied", permanent=True)),
    (pg.ReadOnlySQLTransactionError, READ_ONLY),
    (pg.DiskFullError, FULL),
    (pg.TooManyConnectionsError, Cause("the server has too many connections",
                                       permanent=False)),
    (pg.CannotConnectNowError, Cause("the server is starting or shutting down",
                                     permanent=False)),
    (pg.AdminShutdownError, Cause("the server shut the connection down", permanent=False)),
    (pg.CrashShutdownError, Cause("the server crashed", permanent=False)),
    (pg.SerializationError, Cause("a concurrent transaction conflicted", permanent=False)),
    (pg.DeadlockDetectedError, Cause("a deadlock was broken", permanent=False)),
    (pg.PostgresConnectionError, Cause("the connection failed", permanent=False)),
    (asyncpg.ConnectionDoesNotExistError, Cause("the connection was lost", permanent=False)),
    (ssl.SSLCertVerificationError, Cause("the server's certificate did not verify",
                                         permanent=True)),
    (ConnectionRefusedError, Cause("connection refused: is the server running?",
                                   permanent=False)),
    (FileNotFoundError, Cause("a file the URL names (sslrootcert, sslcert, sslkey) is missing",
                              permanent=True)),
    (TimeoutError, Cause("the server did not answer in time", permanent=False)),
)


def classify(exc: BaseException) -> Cause:
    """The cause of ``exc`` (an asyncpg or OS error) met on the store."""
    if isinstance(exc, StoreError):
        return Cause(str(exc), exc.permanent, exc.outage)
    for kind, cause in _BY_CLASS:
        if isinstance(exc, kind):
            return cause
    text = masked(_first_line(exc))
    if isinstance(exc, OSError):
        return Cause(f"cannot reach the server ({text})", permanent=False)
    if isinstance(exc, asyncpg.InterfaceError) and "closed" in text:
        return Cause("the connection was lost", permanent=False)
    return Cause(text, permanent=False)


def store_error(where: str, exc: BaseException, doing: str | None = None) -> StoreError:
    """A :class:`StoreError` of one line: ``STORE: [DOING: ]CAUSE``, classified
    (``where``: the store as :meth:`Server.describe` names it)."""
    cause = classify(exc)
    text = f"{where}: {doing}: {cause.text}" if doing else f"{where}: {cause.text}"
    return StoreError(text, permanent=cause.permanent, outage=cause.outage)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
