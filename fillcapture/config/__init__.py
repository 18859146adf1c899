"""Configuration: one TOML file, overridden by environment and credential files.

One module per concern: :mod:`~fillcapture.config.settings` (the whole
:class:`Settings` and its sources), :mod:`~fillcapture.config.loader` (which
file, and errors as one line naming the key), :mod:`~fillcapture.config.checks`
(what only commands that log in need), and a module per group of sections
(``feed``, ``brokers``, ``store``, ``listeners``, ``schedule``, ``users``,
``onboarding``, ``sim``, ``alerts``).
"""

from fillcapture.config.alerts import AlertsSettings
from fillcapture.config.base import ConfigError, Section
from fillcapture.config.brokers import Broker, MqttFeedSettings, MqttSettings
from fillcapture.config.checks import login_problem
from fillcapture.config.feed import FeedSettings, T4Settings
from fillcapture.config.listeners import ApiSettings, Listener, MetricsSettings, host_and_port
from fillcapture.config.loader import DEFAULT_CONFIG_PATH, ENV_CONFIG, config_file, load_settings
from fillcapture.config.onboarding import OnboardingSettings
from fillcapture.config.schedule import MaintenanceSettings, ScheduleSettings
from fillcapture.config.settings import Settings
from fillcapture.config.sim import SimSettings
from fillcapture.config.standby import StandbySettings
from fillcapture.config.store import StoreSettings
from fillcapture.config.users import LogSettings, UserSettings

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "ENV_CONFIG",
    "AlertsSettings",
    "ApiSettings",
    "Broker",
    "ConfigError",
    "FeedSettings",
    "Listener",
    "LogSettings",
    "MaintenanceSettings",
    "MetricsSettings",
    "MqttFeedSettings",
    "MqttSettings",
    "OnboardingSettings",
    "ScheduleSettings",
    "Section",
    "Settings",
    "SimSettings",
    "StandbySettings",
    "StoreSettings",
    "T4Settings",
    "UserSettings",
    "config_file",
    "host_and_port",
    "load_settings",
    "login_problem",
]
