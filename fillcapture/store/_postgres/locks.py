"""The engine's advisory locks, named once: who serialises what on the server.

Every key is of the two-integer form, in the engine's own namespace (the
first integer), so it meets no other application's one-bigint locks.
"""

from __future__ import annotations

NAMESPACE = 0x46434150
"""The first key of every lock the engine takes ("FCAP")."""

MIGRATIONS = 1
"""Held (transaction-level) by a process migrating the schema."""

OUTBOX = 2
"""Held (transaction-level) by a capture transaction from its start until it
commits: row ids, the outbox numbers, are handed out in commit order."""

LEASES = 0x4643414C
"""The first key of the instance leases ("FCAL"); the second is
``hashtext(instance)``, held (session-level) by the daemon capturing it."""

SUMMARIES = 0x46434153
"""The first key of a firm's summary lock ("FCAS"); the second is
``hashtext(firm)``. Held (transaction-level) by a transaction invalidating
the firm's recorded summaries and by one recording them, so a record never
commits over a change it did not see (the SQLite engine's single writer
gives this for free)."""
