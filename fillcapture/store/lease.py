"""The lease of a firm instance: which daemon captures a firm into a store.

Two daemons capturing one firm would both log in as the firm's fill user,
and T4 lets one session of a user live. So a daemon holds its instance's
lease (``store.lease(instance)``) before T4 hears of it. Each engine keeps
the lease its own way (the SQLite engine: a lock file; an engine on a
server: a lock held by a connection of its own), and promises the same:

- Asked without ``waiting``, a lease another process holds is refused with a
  permanent :class:`~fillcapture.store.records.StoreError` naming the holder.
- Asked with ``waiting``, the caller is the standby: ``waiting(holder)`` is
  called with a description of the holder (and again when it changes), and
  the lease is taken once the holder lets go or dies.
- A lease that can be lost while held (its connection killed, the server
  restarted, a network partition) sets :attr:`LeaseHeld.lost`; from then on
  the store commits nothing more for the holder, so the daemon must end its
  T4 session. A standby that took the lease after a wait lets ``takeover``
  seconds pass before logging in (see ``[standby]``), longer than the former
  holder needs to see its loss and log out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

Waiting = Callable[[str], None]
"""Told the holder's description while a standby waits for the lease."""


@dataclass(eq=False)
class LeaseHeld:
    """A held lease. ``waited``: another held it when it was asked for (this
    holder is taking over). ``lost`` is set if the engine sees the lease
    taken away while held."""

    instance: str
    waited: bool = False
    lost: asyncio.Event = field(default_factory=asyncio.Event)
