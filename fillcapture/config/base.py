"""What every section shares: its error and its strictness."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigError(Exception):
    """An invalid configuration. ``str()`` is one line naming the key."""


class Section(BaseModel):
    """A TOML section: unknown keys are refused, values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)
