"""How far behind the MQTT publisher is: the age of the oldest committed fill
it has not published yet, without reading any fill for it.

Commits are noticed when they happen (the writer's commit listener), the
outbox's newest fill id when the publisher reads it; each read that shows
new ids pins them to the earliest commit noticed since the read before. The
oldest unpublished fill is then at most as old as the mark of the first range
past the publisher's place: an upper bound, off by at most the time between
two reads (none while connected: a commit wakes the publisher at once).
"""

from __future__ import annotations

import time
from collections import deque


class PublishLag:
    """The publisher's lag. ``oldest`` is the ``time.monotonic`` since which
    a committed fill waits (None: none waits); :meth:`seconds` reads it."""

    def __init__(self) -> None:
        self.oldest: float | None = None
        # (newest fill id of a read, the earliest commit noticed before it).
        self._marks: deque[tuple[int, float]] = deque()
        self._newest: int | None = None
        self._committed: float | None = None  # a commit noticed since the last read

    def committed(self) -> None:
        """A commit listener: fills may have been stored just now."""
        if self._committed is None:
            self._committed = time.monotonic()
            if self.oldest is None:
                self.oldest = self._committed

    def seen(self, newest: int, place: int) -> None:
        """The outbox's newest fill id is ``newest``; the publisher is at ``place``."""
        now = time.monotonic()
        if self._newest is not None and newest < self._newest:
            self._marks.clear()  # the newest rows were deleted: ids are handed out again
            self._newest = None
        if self._newest is None or newest > self._newest:
            # At the first read, the fills stored before the start wait since it.
            self._marks.append((newest, self._committed or now))
        self._newest = newest
        self._committed = None
        self.published(place)

    def published(self, place: int) -> None:
        """The broker has every fill up to id ``place``."""
        marks = self._marks
        while marks and marks[0][0] <= place:
            marks.popleft()
        self.oldest = marks[0][1] if marks else self._committed

    def seconds(self) -> float:
        oldest = self.oldest
        return 0.0 if oldest is None else time.monotonic() - oldest
