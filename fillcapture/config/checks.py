"""Checks only some commands need, beyond what every command validates."""

from __future__ import annotations

from fillcapture.config.settings import Settings


def login_problem(settings: Settings) -> str | None:
    """What keeps the configured T4 login from being tried, naming the key; None
    if nothing. Only commands that log in (``run``, ``record``, ``config
    check``) need this: an operator reading fills needs no T4 password."""
    if settings.feed.adapter != "t4":
        return None
    t4 = settings.t4
    if t4.uses_api_key:
        return None
    for key, value in (
        ("firm", t4.firm),
        ("username", t4.username),
        ("password", t4.password and t4.password.get_secret_value()),
        ("app_name", t4.app_name),
        ("app_license", t4.app_license),
    ):
        if not value:
            return f"t4.{key}: required with adapter = \"t4\" unless t4.api_key is set"
    return None
