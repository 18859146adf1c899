"""No secret on a plaintext wire, none in a message; durations are finite.

A ``ws://`` T4 URL or ``http://`` Onboarding URL to a host off loopback, or an
MQTT password without TLS there, is a configuration error unless the section
sets ``allow_insecure``; a URL's user:password part never reaches a log line,
an error or ``config check``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Proc, cli_here, free_port, wait_until

SECRET = "s3cretpw"


def _check(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return cli_here(["--config", str(path), "config", "check"], tmp_path)


INSECURE = {
    "t4_ws": (f'[t4]\nurl = "ws://feed:{SECRET}@t4.example.com/v1"\n', "t4.url"),
    "t4_ws_ip": ('[t4]\nurl = "ws://10.1.2.3:8080/v1"\n', "t4.url"),
    "onboarding_http": ('[onboarding]\nurl = "http://onboarding.example.com/api"\n',
                        "onboarding.url"),
    "mqtt_password": (f'[mqtt]\nhost = "broker.example.com"\npassword = "{SECRET}"\n',
                      "mqtt.password"),
    "mqtt_feed_password": (f'[mqtt_feed]\nhost = "10.0.0.9"\npassword = "{SECRET}"\n',
                           "mqtt_feed.password"),
}


@pytest.mark.parametrize("case", sorted(INSECURE))
def test_a_secret_on_a_plaintext_wire_is_a_configuration_error(
        tmp_path: Path, case: str) -> None:
    text, key = INSECURE[case]
    result = _check(tmp_path, text)
    assert result.returncode == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"{key}:" in lines[0]
    assert "allow_insecure" in lines[0]
    assert SECRET not in result.stderr

    section = key.split(".")[0]
    allowed = _check(tmp_path, text.replace(f"[{section}]\n",
                                            f"[{section}]\nallow_insecure = true\n"))
    assert allowed.returncode == 0, allowed.stderr
    assert SECRET not in allowed.stdout


@pytest.mark.parametrize("text", [
    f'[t4]\nurl = "ws://feed:{SECRET}@127.0.0.1:9/v1"\n',
    '[t4]\nurl = "ws://127.8.9.10:9/v1"\n',
    '[t4]\nurl = "ws://[::1]:9/v1"\n',
    '[t4]\nurl = "ws://localhost:9/v1"\n',
    '[t4]\nurl = "wss://t4.example.com/v1"\n',
    '[onboarding]\nurl = "http://localhost:8089/onboarding"\n',
    '[onboarding]\nurl = "https://onboarding.example.com/api"\n',
    f'[mqtt]\nhost = "127.0.0.1"\npassword = "{SECRET}"\n',
    f'[mqtt]\nhost = "broker.example.com"\ntls = true\npassword = "{SECRET}"\n',
    '[mqtt]\nhost = "broker.example.com"\nusername = "pub"\n',
])
def test_loopback_and_tls_stay_allowed(tmp_path: Path, text: str) -> None:
    result = _check(tmp_path, text)
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout


def test_config_check_and_errors_mask_a_urls_password(tmp_path: Path) -> None:
    shown = _check(tmp_path, f'[t4]\nurl = "ws://feed:{SECRET}@127.0.0.1:9/v1"\n')
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout.split("\n", 1)[1])
    assert document["t4"]["url"] == "ws://***@127.0.0.1:9/v1"

    wrong = _check(tmp_path, f'[t4]\nurl = "http://feed:{SECRET}@127.0.0.1:9/v1"\n')
    assert wrong.returncode == 2
    assert "t4.url: must be a ws:// or wss:// URL" in wrong.stderr
    assert SECRET not in wrong.stderr
    assert "http://***@127.0.0.1:9/v1" in wrong.stderr


def test_the_daemon_logs_the_t4_url_without_its_password(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        f'[feed]\nadapter = "t4"\n[t4]\nurl = "ws://feed:{SECRET}@127.0.0.1:{free_port()}/v1"\n'
        'firm = "F"\nusername = "u"\npassword = "p"\napp_license = "x"\n'
        "reconnect_base = 0.05\nreconnect_cap = 0.1\n"
        f'[store]\nurl = "sqlite:///{tmp_path / "fills.db"}"\n[metrics]\nenabled = false\n'
        "[log]\nformat = \"json\"\n")
    daemon = Proc(["--config", str(config), "run"], tmp_path, "daemon")
    try:
        wait_until(lambda: daemon.stderr.count("feed.") >= 3, 20, "connection attempts logged")
    finally:
        daemon.popen.terminate()
        daemon.popen.wait(10)
    assert "ws://***@127.0.0.1" in daemon.stderr
    assert SECRET not in daemon.stderr + daemon.stdout


@pytest.mark.parametrize("key", [
    "t4.heartbeat_interval", "t4.silence_timeout", "t4.reconnect_base", "t4.reconnect_cap",
    "t4.connect_timeout", "t4.elsewhere_delay", "t4.healthy_after", "mqtt.connect_timeout",
    "mqtt.reconnect_cap", "mqtt.resend_window", "mqtt.resume_delay",
    "mqtt_feed.reconnect_base", "store.batch_ms", "schedule.reconcile_settle",
    "schedule.reconcile_timeout", "onboarding.timeout", "onboarding.backoff_base",
])
@pytest.mark.parametrize("value", ["inf", "nan"])
def test_durations_are_finite(tmp_path: Path, key: str, value: str) -> None:
    section, name = key.split(".")
    result = _check(tmp_path, f"[{section}]\n{name} = {value}\n")
    assert result.returncode == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"{key}:" in lines[0]


def test_masked_hides_only_the_userinfo() -> None:
    from fillcapture.urls import masked

    assert masked("ws://u:p@h:1/v1 and http://x@y/z?q=a@b") == (
        "ws://***@h:1/v1 and http://***@y/z?q=a@b")
    assert masked("wss://host/v1") == "wss://host/v1"
    assert masked("mail a@b.com") == "mail a@b.com"
