"""The former name of :mod:`fillcapture.feeds.mqtt_feed`, the MQTT feed adapter.

Kept only so that an installation whose entry point still names
``fillcapture.feeds.mqtt:create`` finds the adapter; pyproject.toml names the
new module, and this one goes once every installation is rebuilt from it.
"""

from fillcapture.feeds.mqtt_feed import MqttFeed, create

__all__ = ["MqttFeed", "create"]
