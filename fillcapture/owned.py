"""What the ownership filter lets through, and how a conflict is noted.

Pure functions of an event and the :class:`~fillcapture.ownership.Ownership`
in force: the daemon's feed pump calls them for each event and counts what
they leave out.
"""

from __future__ import annotations

from fillcapture.model import AccountConflict, Bust, Fill, Quarantined
from fillcapture.ownership import Ownership


def owned_fills(fills: tuple[Fill, ...], ownership: Ownership) -> tuple[Fill, ...]:
    """The fills whose account has an owner. A frame's fills usually share
    one account, so ownership is decided per distinct account, not per fill."""
    owner = ownership.owner
    verdict = {key: owner(*key) is not None for key in {(f.firm, f.account) for f in fills}}
    if all(verdict.values()):
        return fills
    return tuple(f for f in fills if verdict[(f.firm, f.account)])


def owned_busts(busts: tuple[Bust, ...], ownership: Ownership) -> tuple[Bust, ...]:
    """The busts of fills whose account has an owner."""
    owner = ownership.owner
    return tuple(b for b in busts if owner(b.fill.firm, b.fill.account) is not None)


def quarantinable(records: tuple[Quarantined, ...],
                  ownership: Ownership) -> tuple[Quarantined, ...]:
    """The records to keep: all but those of an account known to be no
    user's (dropped as its fills would be)."""
    owner = ownership.owner
    return tuple(r for r in records if not r.account or owner(r.firm, r.account) is not None)


def conflict_note(event: AccountConflict) -> str:
    """The conflict as ``fillcapture status`` lists it: ``id=number`` and what
    T4 had said before."""
    return (f"{event.account_id}={event.number}"
            + (f" (id had {event.known_number})" if event.known_number else "")
            + (f" (number on {event.number_held_by})" if event.number_held_by else ""))
