"""What every response carries, whatever its status, and redirects that are not made."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import Api, issue_token, make_store, start_api

NEVER_CACHED = {"cache-control": "no-store", "x-content-type-options": "nosniff"}


def headers_of(response: httpx.Response) -> dict[str, str | None]:
    return {name: response.headers.get(name) for name in NEVER_CACHED}


@pytest.mark.parametrize(("path", "token", "params", "accept", "status"), [
    ("/v1/fills", "A", {}, None, 200),
    ("/v1/fills", "A", {}, "text/csv", 200),
    ("/v1/summary/daily", "A", {}, None, 200),
    ("/v1/accounts", "ops", {"user": "B"}, None, 200),
    ("/v1/seals", "A", {}, None, 200),
    ("/v1/statement", "A", {"month": "2026-11"}, None, 200),
    ("/v1/statement", "A", {"month": "11/2026"}, None, 400),
    ("/v1/fills", None, {}, None, 401),
    ("/v1/fills", "A", {"limit": "many"}, None, 400),
    ("/v1/fills", "A", {"user": "B"}, None, 403),
    ("/v1/accounts", "ops", {"user": "nobody"}, None, 404),
    ("/v1/nothing", "A", {}, None, 404),
    ("/v1/fills", "A", {}, "image/png", 406),
    ("/healthz", None, {}, None, 200),
    ("/openapi.json", None, {}, None, 200),
])
def test_every_response_is_never_cached_nor_sniffed(
        api: Api, path: str, token: str | None, params: dict[str, str], accept: str | None,
        status: int) -> None:
    response = api.get(path, token, accept=accept, **params)
    assert response.status_code == status, response.text
    assert headers_of(response) == NEVER_CACHED


def test_a_method_not_allowed_too(api: Api) -> None:
    response = httpx.post(api.url + "/v1/fills", timeout=10)
    assert response.status_code == 405
    assert headers_of(response) == NEVER_CACHED


@pytest.mark.parametrize("path", ["/v1/fills/", "/v1/accounts/", "/healthz/", "/v1/"])
def test_no_redirect_names_the_host_the_client_sent(api: Api, path: str) -> None:
    response = httpx.get(api.url + path, headers={
        "Host": "evil.example", "Authorization": f"Bearer {api.tokens['A']}"}, timeout=10)
    assert response.status_code == 404
    assert "location" not in response.headers
    assert "evil.example" not in response.text
    assert headers_of(response) == NEVER_CACHED


def test_an_internal_error_is_never_cached_nor_sniffed(tmp_path: Path) -> None:
    db, config = make_store(tmp_path)
    token = issue_token(config, "A")
    with sqlite3.connect(db) as connection:  # a row no release of the daemon writes
        connection.execute("UPDATE fills SET trade_date = 'someday' WHERE account = '22222'")
    process, url = start_api(tmp_path, config)
    try:
        response = httpx.get(f"{url}/v1/fills", params={"account": "22222"},
                             headers={"Authorization": f"Bearer {token}"}, timeout=10)
    finally:
        process.stop()
    assert response.status_code == 500
    assert response.json() == {"error": "internal_error", "message": "internal error"}
    assert headers_of(response) == NEVER_CACHED
    assert token not in process.stderr
