"""``[[users]]``: the end users and the accounts they own; ``[log]``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from fillcapture.config.base import Section


class UserSettings(Section):
    """One WhenTech end user and the accounts (numbers as the firm knows them)
    they own. ``firm`` may be left out while only one firm is configured."""

    name: str = Field(min_length=1)
    accounts: list[str] = Field(default_factory=list)
    firm: str | None = None

    @field_validator("accounts")
    @classmethod
    def _account_numbers(cls, value: list[str]) -> list[str]:
        for number in value:
            if not number.strip() or number != number.strip():
                raise ValueError(f"account number {number!r} is blank or padded")
        return value


class LogSettings(Section):
    """``format``: ``auto`` is console on a terminal, JSON lines otherwise."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"
