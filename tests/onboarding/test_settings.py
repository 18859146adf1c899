"""The ``[onboarding]`` section: secret from a credential file or the environment, checked URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from fillcapture.config import ConfigError, load_settings
from tests.conftest import write_config


def test_the_api_key_comes_from_a_credential_file_or_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path / "c.toml", {"onboarding": {"timeout": 5.0}})
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "onboarding_api_key").write_text("from-file\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    settings = load_settings(config)
    assert settings.onboarding.api_key is not None
    assert settings.onboarding.api_key.get_secret_value() == "from-file"
    assert settings.masked()["onboarding"]["api_key"] == "**********"
    assert settings.onboarding.timeout == 5.0
    monkeypatch.setenv("FILLCAPTURE_ONBOARDING__API_KEY", "from-env")
    settings = load_settings(config)
    assert settings.onboarding.api_key is not None
    assert settings.onboarding.api_key.get_secret_value() == "from-env"


def test_the_url_must_be_http(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FILLCAPTURE_ONBOARDING__URL", raising=False)
    config = write_config(tmp_path / "c.toml", {"onboarding": {"url": "ws://x/onboarding"}})
    with pytest.raises(ConfigError, match=r"onboarding\.url: must be an http:// or https://"):
        load_settings(config)
