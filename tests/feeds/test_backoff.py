"""The reconnect back-off on its own, with a clock the test moves."""

from __future__ import annotations

from fillcapture.feeds.t4.backoff import Backoff


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _ceiling(low: float, high: float) -> float:
    assert low == 0
    return high  # the largest delay the jitter could draw


def test_delays_double_to_the_cap_until_a_session_is_healthy() -> None:
    clock = Clock()
    backoff = Backoff(1.0, 30.0, 300.0, clock=clock, uniform=_ceiling)
    assert [backoff.next_delay() for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    backoff.up()
    clock.now += 299.0  # up, but not long enough
    assert backoff.next_delay() == 30
    backoff.up()
    clock.now += 300.0
    assert backoff.healthy()
    assert backoff.next_delay() == 1
    assert backoff.next_delay() == 2  # the ended session is healthy no more


def test_a_fixed_wait_counts_as_an_attempt() -> None:
    clock = Clock()
    backoff = Backoff(1.0, 30.0, 300.0, clock=clock, uniform=_ceiling)
    assert backoff.next_delay(300.0) == 300.0
    assert backoff.next_delay() == 2
    backoff.up()
    clock.now += 400.0
    assert backoff.next_delay(300.0) == 300.0
    assert backoff.attempt == 1


def test_weeks_of_failures_never_overflow() -> None:
    backoff = Backoff(1.0, 30.0, 300.0, uniform=_ceiling)
    for _ in range(5000):
        assert backoff.next_delay() <= 30.0
    assert backoff.ceiling == 30.0
