"""What every section shares: its error and its strictness."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from fillcapture.errors import ConfigError as ConfigError
from fillcapture.urls import masked


class Section(BaseModel):
    """A TOML section: unknown keys are refused, values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def shown(value: Any, key: str) -> str:
    """`` (got VALUE)`` for an error message; nothing for a secret or a whole section."""
    if isinstance(value, (dict, list)) or value is None:
        return ""
    if any(word in key for word in ("password", "api_key", "secret", "token")):
        return ""
    return f" (got {masked(repr(value))})"


def dotted(loc: tuple[int | str, ...]) -> str:
    """``("users", 0, "name")`` → ``users[0].name``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text
