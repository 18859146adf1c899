"""The daemon's clock and how it writes a moment into its recorded state.

The operations and the reconcile take their clock as an argument (tests move
it); :func:`utc_now` is the real one and :func:`iso` the one text form the
state, gaps and seals records use.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """Now, in UTC: the default clock of the operations."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """``moment`` as the recorded state writes it: UTC, seconds, a ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
