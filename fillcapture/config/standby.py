"""``[standby]``: a daemon that waits for its firm's lease instead of refusing."""

from __future__ import annotations

from pydantic import Field, model_validator

from fillcapture.config.base import Section


class StandbySettings(Section):
    """``enabled``: while another daemon of this firm holds the store's lease,
    wait for it, logged out of T4 (systemd ``STATUS=standby``), and take over
    when that daemon stops or loses the lease; without it, the second daemon
    refuses to start (exit 2). ``takeover_seconds``: after taking the lease
    over, wait this long before logging in, so the former holder has seen its
    loss and logged out (longer than ``check_seconds`` twice).
    ``check_seconds``: how often a lease that can be lost (one held by a
    database connection) is checked, and how long a check may take."""

    enabled: bool = False
    takeover_seconds: float = Field(2.5, ge=0, allow_inf_nan=False)
    check_seconds: float = Field(1.0, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _takeover_outlasts_a_check(self) -> StandbySettings:
        if self.takeover_seconds < 2 * self.check_seconds:
            raise ValueError("takeover_seconds must be at least twice check_seconds, so a "
                             "former holder has logged out of T4 before the standby logs in")
        return self
