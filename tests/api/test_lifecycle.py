"""What changes under a running API: tokens issued, reissued, revoked and removed
with their user, fills stored between two pages; and how ``serve`` starts and stops."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import signal
import sqlite3
from pathlib import Path

import httpx

from fillcapture.model import Side
from tests.api.conftest import DAY2, FILLS, Api, _fill, expected, issue_token, start_api
from tests.conftest import run_cli, store_at, write_config


def status(api: Api, token: str, **params: str) -> int:
    return api.get("/v1/accounts", token, **params).status_code


def test_users_token_prints_the_token_alone_and_stores_its_hash(api: Api) -> None:
    result = api.cli("users", "token", "B")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    token = lines[-1]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    with sqlite3.connect(f"file:{api.db}?mode=ro", uri=True) as conn:
        stored = conn.execute("SELECT user_name, token_hash, admin FROM api_tokens "
                              "WHERE user_name = 'B'").fetchall()
    assert stored == [("B", hashlib.sha256(token.encode()).hexdigest(), 0)]
    assert token.encode() not in api.db.read_bytes()
    api.tokens["B"] = token


def test_a_new_token_revokes_the_old_and_revoke_removes_it(api: Api) -> None:
    old = api.tokens["A"]
    api.tokens["A"] = issue_token(api.config, "A")
    api.tokens["old"] = old
    assert status(api, "old") == 401
    assert status(api, "A") == 200
    assert status(api, "ops", user="A") == 200

    result = api.cli("users", "token", "A", "--revoke")
    assert (result.returncode, result.stdout) == (0, "A: 1 token(s) revoked\n")
    assert status(api, "A") == 401
    assert api.cli("users", "token", "nobody").returncode == 1


def test_a_removed_users_token_dies_with_it(api: Api) -> None:
    assert api.cli("users", "add", "C", "--accounts", "77777").returncode == 0
    api.tokens["C"] = issue_token(api.config, "C")
    accounts = api.get("/v1/accounts", "C").json()["accounts"]
    assert [(a["account"], a["fills"], a["first_fill_time"]) for a in accounts] == [
        ("77777", 0, None)]
    assert api.get("/v1/fills", "C").json() == {"user": "C", "fills": [], "next_cursor": None}

    assert api.cli("users", "remove", "C").returncode == 0
    assert status(api, "C") == 401
    assert api.get("/v1/accounts", "ops", user="C").status_code == 404


def test_fills_stored_between_pages(api: Api) -> None:
    api.tokens["B"] = issue_token(api.config, "B")
    first = api.get("/v1/fills", "B", limit=5).json()
    late = _fill(90, "33333", Side.BUY, 1, "6111.00", day=DAY2, second=10_000)
    early = _fill(91, "33333", Side.BUY, 1, "6111.00", second=0)  # before the cursor

    async def store_them() -> None:
        async with store_at(api.db) as store:
            await store.insert_fills([late, early])

    asyncio.run(store_them())
    rest = api.get("/v1/fills", "B", limit=5000, cursor=first["next_cursor"]).json()
    seen = [f["fill_id"] for f in first["fills"] + rest["fills"]]
    assert seen == [*expected("B"), "SIMFIRM/order-90/T90"]
    assert len(set(seen)) == len(seen)
    restart = [f["fill_id"] for f in api.get("/v1/fills", "B", limit=5000).json()["fills"]]
    assert restart[0] == "SIMFIRM/order-91/T91"
    assert FILLS[2].order_id in restart[1]


def test_serve_refuses_a_taken_port_and_a_missing_store(api: Api, tmp_path: Path) -> None:
    port = api.url.rsplit(":", 1)[1]
    taken = run_cli(api.config, "serve", "--port", port)
    assert taken.returncode == 2
    assert taken.stderr.startswith("fillcapture: configuration error: --host/--port: "
                                   f"cannot listen on 127.0.0.1:{port}: ")
    configured = write_config(tmp_path / "taken.toml", {
        "store": {"url": f"sqlite:///{api.db}"}, "api": {"listen": f"127.0.0.1:{port}"}})
    refused = run_cli(configured, "serve")
    assert refused.returncode == 2
    assert "api.listen: cannot listen on" in refused.stderr

    missing = write_config(tmp_path / "missing.toml", {
        "store": {"url": f"sqlite:///{tmp_path / 'none.db'}"}})
    result = run_cli(missing, "serve", "--port", "0")
    assert result.returncode == 1
    assert "no store at" in result.stderr


def test_serve_logs_requests_and_stops_on_sigterm_with_exit_0(api: Api, tmp_path: Path) -> None:
    process, url = start_api(tmp_path, api.config, "--port", "0")
    try:
        token = api.tokens["ops"]
        response = httpx.get(f"{url}/v1/accounts?user=B", timeout=30,
                             headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        process.signal(signal.SIGTERM)
        assert process.wait(15) == 0
    finally:
        process.stop()
    (logged,) = [json.loads(line) for line in process.stderr.splitlines()
                 if '"api.request"' in line]
    assert {key: logged[key] for key in ("method", "path", "status", "reader")} == {
        "method": "GET", "path": "/v1/accounts", "status": 200, "reader": "ops"}
    assert token not in process.stderr
