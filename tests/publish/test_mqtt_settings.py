"""``[mqtt]``: defaults, the password as a credential file, errors naming the
key, and TLS against a real Mosquitto that takes only certificates of its CA."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fillcapture.config import ConfigError, MqttSettings, load_settings
from fillcapture.metrics import Metrics
from fillcapture.mqtt_tls import tls_context
from fillcapture.publish.mqtt import Publisher
from tests.conftest import FIXTURES, Mosquitto, clean_env, free_port, store_at, write_config
from tests.publish.subscriber import Subscriber
from tests.store.factories import make_fill

TLS = FIXTURES / "mqtt_tls"


def test_off_by_default_and_the_password_from_a_credential_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert MqttSettings().enabled is False
    assert (MqttSettings().topic_prefix, MqttSettings().qos) == ("fillcapture", 1)
    config = write_config(tmp_path / "c.toml", {"mqtt": {"enabled": True, "username": "pub"}})
    credentials = tmp_path / "creds"
    credentials.mkdir()
    (credentials / "mqtt_password").write_text("broker-pw-789\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    password = load_settings(config).mqtt.password
    assert password is not None
    assert password.get_secret_value() == "broker-pw-789"

    check = subprocess.run(
        [sys.executable, "-m", "fillcapture", "--config", str(config), "config", "check"],
        env=clean_env(CREDENTIALS_DIRECTORY=str(credentials)), capture_output=True, text=True,
        timeout=30, check=False)
    assert check.returncode == 0, check.stderr
    assert "broker-pw-789" not in check.stdout


@pytest.mark.parametrize(("mqtt", "expected"), [
    ({"topic_prefix": "site/#"}, "mqtt.topic_prefix: must not contain the wildcards"),
    ({"topic_prefix": "site/"}, "mqtt.topic_prefix: must be topic levels"),
    ({"qos": 3}, "mqtt.qos:"),
    ({"inflight": 0}, "mqtt.inflight:"),
    ({"ca_file": "ca.pem"}, "mqtt: tls: ca_file, cert_file and key_file need tls = true"),
    ({"tls": True, "key_file": "k.pem"}, "mqtt: key_file: needs cert_file"),
])
def test_bad_settings_name_the_key(tmp_path: Path, mqtt: dict[str, object], expected: str
                                   ) -> None:
    config = write_config(tmp_path / "bad.toml", {"mqtt": mqtt})
    with pytest.raises(ConfigError, match=expected):
        load_settings(config)


def test_tls_files_that_cannot_be_read_are_a_configuration_error(tmp_path: Path) -> None:
    settings = MqttSettings(tls=True, ca_file=tmp_path / "missing.pem")
    with pytest.raises(ConfigError, match=r"mqtt: cannot load the TLS files"):
        tls_context(settings, "mqtt")


async def test_publishes_over_tls_with_a_client_certificate(tmp_path: Path) -> None:
    """The publisher's listener takes TLS only, and only with a certificate of
    its CA; the subscriber reads on a plain listener of the same broker."""
    broker = Mosquitto(tmp_path)
    plain = free_port()
    broker.config.write_text(
        f"allow_anonymous true\npersistence false\nlistener {plain} 127.0.0.1\n"
        f"listener {broker.port} 127.0.0.1\ncafile {TLS / 'ca.pem'}\n"
        f"certfile {TLS / 'server.pem'}\nkeyfile {TLS / 'server.key'}\n"
        "require_certificate true\n")
    broker.start()
    sub = None
    try:
        sub = Subscriber(plain)
        settings = MqttSettings(enabled=True, host="127.0.0.1", port=broker.port, tls=True,
                                ca_file=TLS / "ca.pem", cert_file=TLS / "client.pem",
                                key_file=TLS / "client.key")
        path = tmp_path / "fills.db"
        metrics = Metrics()
        async with store_at(path) as store, store_at(path, readonly=True) as reader:
            await store.insert_fills([make_fill(n) for n in range(3)])
            publisher = Publisher(settings, store, reader, metrics, name="tls-publisher")
            task = asyncio.create_task(publisher.run())
            deadline = time.monotonic() + 10
            while len(sub.unique_fill_ids()) < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            publisher.stop()
            await asyncio.wait_for(task, 10)
        assert len(sub.unique_fill_ids()) == 3
        assert metrics["mqtt.reconnects"] == 0
    finally:
        if sub is not None:
            sub.close()
        broker.stop()
