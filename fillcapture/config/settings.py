"""The whole configuration, :class:`Settings`: every section, and where values
come from. Precedence, highest first: ``FILLCAPTURE_<SECTION>__<KEY>``
environment variables, files in ``$CREDENTIALS_DIRECTORY`` named
``<section>_<key>`` (for secret keys only, e.g. ``t4_password``,
``store_password``; a symbolic link or an unreadable file there is refused),
the TOML file, built-in defaults."""

from __future__ import annotations

import contextvars
import os
import stat
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SecretStr,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from fillcapture.config.adapters import section_model, validate_section
from fillcapture.config.alerts import AlertsSettings
from fillcapture.config.base import ConfigError
from fillcapture.config.brokers import MqttFeedSettings, MqttSettings
from fillcapture.config.feed import FeedSettings, T4Settings
from fillcapture.config.listeners import ApiSettings, MetricsSettings
from fillcapture.config.money import FeeSettings, MoneySettings
from fillcapture.config.onboarding import OnboardingSettings
from fillcapture.config.schedule import MaintenanceSettings, ScheduleSettings
from fillcapture.config.sim import SimSettings
from fillcapture.config.standby import StandbySettings
from fillcapture.config.store import StoreSettings
from fillcapture.config.users import LogSettings, UserSettings
from fillcapture.urls import masked


class Settings(BaseSettings):
    """The whole effective configuration."""

    model_config = SettingsConfigDict(
        env_prefix="FILLCAPTURE_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    feed: FeedSettings = FeedSettings()
    t4: T4Settings = T4Settings()
    mqtt_feed: MqttFeedSettings = MqttFeedSettings()
    store: StoreSettings = StoreSettings()
    standby: StandbySettings = StandbySettings()
    users: list[UserSettings] = Field(default_factory=list)
    sim: SimSettings = SimSettings()
    onboarding: OnboardingSettings = OnboardingSettings()
    api: ApiSettings = ApiSettings()
    money: MoneySettings = MoneySettings()
    fees: list[FeeSettings] = Field(default_factory=list)
    schedule: ScheduleSettings = ScheduleSettings()
    maintenance: MaintenanceSettings = MaintenanceSettings()
    metrics: MetricsSettings = MetricsSettings()
    alerts: AlertsSettings = AlertsSettings()
    mqtt: MqttSettings = MqttSettings()
    log: LogSettings = LogSettings()

    # The validated section of a third party's adapter (``[<adapter name>]``).
    _adapter_section: BaseModel | None = PrivateAttr(None)

    @model_validator(mode="wrap")
    @classmethod
    def _adapters_own_section(cls, data: Any, handler: ModelWrapValidatorHandler[Settings]
                              ) -> Settings:
        """Take ``[<adapter name>]`` out for the adapter's own model to check;
        every other section is ours (an unknown one is refused)."""
        if not isinstance(data, dict):
            return handler(data)
        feed = data.get("feed")
        name = feed.adapter if isinstance(feed, FeedSettings) else (
            feed.get("adapter") if isinstance(feed, dict) else None)
        if not isinstance(name, str) or not name:
            return handler(data)
        model = section_model(name, cls.model_fields)
        if model is None:
            return handler(data)
        rest = {key: value for key, value in data.items() if key != name}
        settings = handler(rest)
        settings._adapter_section = validate_section(name, model, data.get(name))
        return settings

    @property
    def adapter_section(self) -> BaseModel | None:
        """What ``[<adapter name>]`` says, validated with the adapter's
        ``settings_model``; None for the built-in adapters."""
        return self._adapter_section

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        firms = {user.firm for user in self.users if user.firm}
        if len(firms) > 1:
            for index, user in enumerate(self.users):
                if not user.firm:
                    raise ValueError(
                        f"users[{index}].firm: required when several firms are configured"
                    )
        seen: dict[tuple[str, str], str] = {}
        for user in self.users:
            for number in user.accounts:
                key = (user.firm or "", number)
                if key in seen and seen[key] != user.name:
                    raise ValueError(
                        f"users: account {number} is owned by both {seen[key]} and {user.name}"
                    )
                seen[key] = user.name
        if len({user.name for user in self.users}) != len(self.users):
            raise ValueError("users: a user name appears twice")
        keys: dict[object, int] = {}
        for index, fee in enumerate(self.fees):
            schedule = fee.schedule()
            if schedule.key in keys:
                # Which amount is meant is anyone's guess: the store keeps one per key.
                raise ValueError(
                    f"fees[{index}]: the same schedule as fees[{keys[schedule.key]}] "
                    f"({schedule.component}, {schedule.scope_text()}, from "
                    f"{schedule.effective_from}); give each component, scope and date once")
            keys[schedule.key] = index
        backups = self.maintenance.backup_dir
        if backups is not None and self.store.location.holds(backups):
            raise ValueError("maintenance.backup_dir: is the store's directory; backups "
                             "must be kept apart from the store (a directory of their own)")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [
            init_settings,
            env_settings,
            _CredentialsSource(settings_cls),
        ]
        toml_file = _TOML_FILE.get()
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    def masked(self) -> dict[str, Any]:
        """The configuration as plain data, secrets replaced by asterisks (a
        URL's user:password too)."""
        data: dict[str, Any] = self.model_dump(mode="json")
        if self._adapter_section is not None:
            data[self.feed.adapter] = self._adapter_section.model_dump(mode="json")
        for section in data.values():
            if isinstance(section, dict) and isinstance(section.get("url"), str):
                section["url"] = masked(section["url"])
        return data


_TOML_FILE: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "fillcapture_toml_file", default=None
)


class _CredentialsSource(PydanticBaseSettingsSource):
    """Secret keys from systemd credential files: ``$CREDENTIALS_DIRECTORY/<section>_<key>``."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        directory = os.environ.get("CREDENTIALS_DIRECTORY")
        if not directory:
            return {}
        found: dict[str, Any] = {}
        for section_name, section_field in Settings.model_fields.items():
            section_type = section_field.annotation
            if not (isinstance(section_type, type) and issubclass(section_type, BaseModel)):
                continue
            for key, key_field in section_type.model_fields.items():
                if SecretStr not in _type_args(key_field.annotation):
                    continue
                value = _credential(Path(directory) / f"{section_name}_{key}")
                if value is not None:
                    found.setdefault(section_name, {})[key] = value
        return found


def _credential(path: Path) -> str | None:
    """The secret in the credential file ``path``, ``None`` if there is none.
    A symbolic link is not followed and a file that cannot be read is no
    absent one: both are a :class:`ConfigError` naming the file (never its
    content)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if path.is_symlink():
            raise ConfigError(f"{path}: is a symbolic link; a credential file is "
                              "read only as a file of its own") from None
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ConfigError(f"{path}: not a regular file")
    with os.fdopen(fd, "rb") as handle:
        try:
            return handle.read().decode().strip()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: cannot read: not UTF-8 text") from None


def _type_args(annotation: Any) -> tuple[Any, ...]:
    return (annotation, *getattr(annotation, "__args__", ()))
