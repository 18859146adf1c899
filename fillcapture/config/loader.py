"""Loading the configuration: which file applies, and one line naming the key
for whatever is wrong. The file is ``--config FILE``, else
``$FILLCAPTURE_CONFIG``, else ``/etc/fillcapture/fillcapture.toml``; where none
exists, the packaged demo (``demo.toml``: simulated T4, users A and B) is used."""

from __future__ import annotations

import os
import tomllib
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from fillcapture.config.base import ConfigError, dotted, shown
from fillcapture.config.settings import _TOML_FILE, Settings

DEFAULT_CONFIG_PATH = Path("/etc/fillcapture/fillcapture.toml")


ENV_CONFIG = "FILLCAPTURE_CONFIG"


def config_file(explicit: str | Path | None) -> Path:
    """Which TOML file applies: explicit, ``$FILLCAPTURE_CONFIG``, the system
    file, else the packaged demo. An explicit or environment file must exist."""
    named = explicit or os.environ.get(ENV_CONFIG)
    if named:
        path = Path(named)
        if not path.is_file():
            source = "--config" if explicit else ENV_CONFIG
            raise ConfigError(f"{source}: file {path} does not exist")
        return path
    if DEFAULT_CONFIG_PATH.is_file():
        return DEFAULT_CONFIG_PATH
    with resources.as_file(resources.files("fillcapture") / "demo.toml") as demo:
        return Path(demo)


def load_settings(explicit: str | Path | None = None) -> Settings:
    """Build the effective settings, or raise :class:`ConfigError` naming the key."""
    path = config_file(explicit)
    try:
        with path.open("rb") as handle:
            tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    token = _TOML_FILE.set(path)
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None
    finally:
        _TOML_FILE.reset(token)


def _describe(exc: ValidationError, path: Path) -> str:
    error = exc.errors(include_url=False)[0]
    key = dotted(error["loc"])
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
        if ": " in message and not key:
            return f"{path}: {message}"
    value = "" if error["type"] == "extra_forbidden" else shown(error.get("input"), key)
    where = key or "(top level)"
    env_name = "FILLCAPTURE_" + "__".join(str(part) for part in error["loc"]).upper()
    source = f"environment {env_name}" if env_name in os.environ else str(path)
    return f"{source}: {where}: {message}{value}"
