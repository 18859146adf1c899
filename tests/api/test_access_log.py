"""The access log of a real ``fillcapture serve``: who asked, from where, for whose data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from fillcapture.api.forwarded import forwarded_client, networks
from tests.api.conftest import issue_token, make_store, start_api
from tests.conftest import Proc, free_port, run_cli, wait_until, write_config


@dataclass
class Logged:
    process: Proc
    url: str
    tokens: dict[str, str]

    def request(self, token: str, path: str, **headers: str) -> dict[str, Any]:
        """The ``api.request`` event of one request (the last one logged)."""
        before = self.events()
        response = httpx.get(self.url + path, timeout=10,
                             headers={"Authorization": f"Bearer {self.tokens[token]}", **headers})
        assert response.status_code in (200, 403, 404), response.text
        wait_until(lambda: len(self.events()) > len(before), 5, "the request's log line")
        event: dict[str, Any] = self.events()[-1]
        assert event["path"] == path.partition("?")[0]
        return event

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.process.stderr.splitlines()
                if '"api.request"' in line]


def served(workdir: Path, trusted: list[str]) -> Iterator[Logged]:
    db, _ = make_store(workdir)
    config = write_config(workdir / "logged.toml", {
        "store": {"url": f"sqlite:///{db}"},
        "api": {"listen": f"127.0.0.1:{free_port()}", "trusted_proxies": trusted},
        "log": {"format": "json"},
    })
    tokens = {"A": issue_token(config, "A"), "ops": issue_token(config, "ops", "--admin")}
    process, url = start_api(workdir, config)
    try:
        yield Logged(process, url, tokens)
    finally:
        process.stop()
    for token in tokens.values():
        assert token not in process.stderr
        assert token not in process.stdout


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Logged]:
    yield from served(tmp_path_factory.mktemp("proxied"), ["127.0.0.0/8", "10.1.2.3"])


@pytest.fixture(scope="module")
def direct(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Logged]:
    yield from served(tmp_path_factory.mktemp("direct"), ["192.0.2.1"])


def test_an_operator_read_names_the_operator_and_the_user_read(direct: Logged) -> None:
    event = direct.request("ops", "/v1/fills?user=B")
    assert {key: event.get(key) for key in ("status", "client", "reader", "operator", "user")} \
        == {"status": 200, "client": "127.0.0.1", "reader": "ops", "operator": "ops",
            "user": "B"}


def test_a_users_read_names_the_user(direct: Logged) -> None:
    event = direct.request("A", "/v1/accounts")
    assert (event["reader"], event["user"], event["client"]) == ("A", "A", "127.0.0.1")
    assert "operator" not in event
    refused = direct.request("A", "/v1/fills?user=B")
    assert (refused["status"], refused["reader"], refused.get("user")) == (403, "A", None)


def test_forwarded_for_from_an_untrusted_peer_is_ignored(direct: Logged) -> None:
    event = direct.request("A", "/v1/accounts", **{"X-Forwarded-For": "203.0.113.9"})
    assert event["client"] == "127.0.0.1"
    assert "forwarded_for" not in event
    assert "203.0.113.9" not in direct.process.stderr


def test_forwarded_for_from_a_trusted_proxy_names_the_client(behind_proxy: Logged) -> None:
    event = behind_proxy.request(
        "ops", "/v1/accounts?user=A", **{"X-Forwarded-For": "198.51.100.7, 203.0.113.9"})
    assert (event["client"], event["forwarded_for"]) == ("127.0.0.1", "203.0.113.9")
    assert (event["operator"], event["user"]) == ("ops", "A")
    chained = behind_proxy.request("A", "/v1/accounts",
                                   **{"X-Forwarded-For": "203.0.113.10, 10.1.2.3"})
    assert chained["forwarded_for"] == "203.0.113.10"
    plain = behind_proxy.request("A", "/v1/accounts")
    assert "forwarded_for" not in plain


def test_the_rightmost_untrusted_address_is_the_client() -> None:
    trusted = networks(["10.0.0.0/8", "::1"])
    assert forwarded_client("10.0.0.5", "1.2.3.4, 5.6.7.8, 10.9.9.9", trusted) == "5.6.7.8"
    assert forwarded_client("::1", "2001:db8::7", trusted) == "2001:db8::7"
    assert forwarded_client("192.0.2.1", "5.6.7.8", trusted) is None
    assert forwarded_client("10.0.0.5", "", trusted) is None
    assert forwarded_client("10.0.0.5", "junk, 10.1.1.1", trusted) == "10.1.1.1"
    assert forwarded_client("10.0.0.5", "5.6.7.8, junk", trusted) is None


def test_a_malformed_trusted_proxy_is_a_configuration_error(tmp_path: Path) -> None:
    db, _ = make_store(tmp_path)
    config = write_config(tmp_path / "bad.toml", {
        "store": {"url": f"sqlite:///{db}"},
        "api": {"listen": f"127.0.0.1:{free_port()}", "trusted_proxies": ["proxy.lan"]}})
    result = run_cli(config, "serve")
    assert result.returncode == 2
    assert "api.trusted_proxies" in result.stderr
    assert "Traceback" not in result.stderr
