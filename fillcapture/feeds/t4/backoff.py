"""The t4 adapter's reconnect back-off: exponential with full jitter, forgiven
only after a healthy session.

A server that accepts the login and drops the connection at once must not be
redialled at the base delay forever: only a session that stayed up for
``healthy_after`` seconds starts the back-off again from the base.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

# 2**62 times any sane base is far beyond any cap: the exponent stops growing
# there, so a server refusing us for weeks never overflows the float.
_MAX_EXPONENT = 62


class Backoff:
    """Delays between connection attempts.

    Call :meth:`up` when a session logs in and :meth:`next_delay` when an
    attempt or session has ended. The ``n``-th consecutive delay is drawn
    uniformly from ``[0, min(cap, base * 2**n))``; ``n`` goes back to 0 only
    once a session has been up ``healthy_after`` seconds.
    """

    def __init__(
        self, base: float, cap: float, healthy_after: float, *,
        clock: Callable[[], float] = time.monotonic,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.base = base
        self.cap = cap
        self.healthy_after = healthy_after
        self.attempt = 0  # consecutive unhealthy ends so far
        self.ceiling = 0.0  # the bound of the last delay drawn
        self._clock = clock
        self._uniform = uniform
        self._up_since: float | None = None

    def up(self) -> None:
        """A session has logged in."""
        self._up_since = self._clock()

    def healthy(self) -> bool:
        """Whether the current (or just ended) session has been up long enough."""
        since = self._up_since
        return since is not None and self._clock() - since >= self.healthy_after

    def next_delay(self, fixed: float | None = None) -> float:
        """The wait before the next attempt, now that the last one has ended:
        ``fixed`` if given (a wait the server's answer calls for), else drawn.
        Either way the attempt counts towards the next drawn delay."""
        if self.healthy():
            self.attempt = 0
        self._up_since = None
        self.ceiling = min(self.cap, self.base * 2 ** min(self.attempt, _MAX_EXPONENT))
        self.attempt += 1
        return fixed if fixed is not None else self._uniform(0, self.ceiling)
