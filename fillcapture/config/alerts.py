"""``[alerts]``: thresholds the daemon exports for the alert rules to read."""

from __future__ import annotations

from pydantic import Field

from fillcapture.config.base import Section


class AlertsSettings(Section):
    """``silent_account_minutes``: an owned account with no fill for this long
    while the market trades is worth a look; exported as
    ``fillcapture_account_silence_threshold_seconds`` for the alert rule to
    compare with each account's last fill. 0 (the default) turns that alert off."""

    silent_account_minutes: int = Field(0, ge=0)
