"""The daemon's jobs: ``[schedule]`` (daily) and ``[maintenance]`` (weekly)."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from fillcapture.config.base import Section


class ScheduleSettings(Section):
    """The daemon's daily jobs, at Chicago times on trading days. ``holidays``:
    exchange holidays (no trading day). ``reconcile_at``: ask T4 for fresh
    snapshots before the 17:00 roll; each step of it (subscribing again,
    unsubscribing and subscribing, a new session) waits ``reconcile_timeout``
    seconds for every account's snapshot; ``reconcile_settle`` seconds after
    they came the recovered fills are counted per account. ``seal_at``: seal
    the trade date that rolled at 17:00. ``enabled = false`` runs no jobs."""

    enabled: bool = True
    holidays: list[date] = Field(default_factory=list)
    reconcile_at: time = time(15, 55)
    reconcile_settle: float = Field(30.0, gt=0, allow_inf_nan=False)
    seal_at: time = time(17, 5)
    reconcile_timeout: float = Field(120.0, gt=0, allow_inf_nan=False)

    @field_validator("reconcile_at")
    @classmethod
    def _before_the_close(cls, value: time) -> time:
        if not time(0, 0) <= value < time(16, 0):
            raise ValueError("must be before the 16:00 close (Chicago time)")
        return value

    @field_validator("seal_at")
    @classmethod
    def _after_the_roll(cls, value: time) -> time:
        if not time(17, 0) < value <= time(23, 59):
            raise ValueError("must be after the 17:00 roll (Chicago time), same evening")
        return value

    @model_validator(mode="after")
    def _reconcile_ends_before_the_roll(self) -> ScheduleSettings:
        start = self.reconcile_at.hour * 3600 + self.reconcile_at.minute * 60
        longest = 3 * self.reconcile_timeout + self.reconcile_settle
        if start + longest >= 17 * 3600:
            raise ValueError(
                "reconcile_timeout: three steps of it and reconcile_settle from reconcile_at "
                "must end before the 17:00 roll")
        return self


class MaintenanceSettings(Section):
    """The weekly job (``weekday`` at ``at``, Chicago time): an online backup to
    ``backup_dir`` keeping the newest ``keep``, ``PRAGMA optimize``, an
    integrity check, and with ``retain_days`` the deletion of older trade dates
    (default: keep everything)."""

    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "sat"
    at: time = time(2, 0)
    backup_dir: Path | None = None
    keep: int = Field(4, ge=1)
    retain_days: int | None = Field(None, ge=1)
