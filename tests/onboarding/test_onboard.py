"""``fillcapture onboard`` against the simulated Onboarding API over real HTTP, with a real
SQLite registry: each outcome, retries, CSV batches, validation and the password's secrecy."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.onboarding.conftest import Api, config, request, write_json

pytestmark = pytest.mark.timeout(30)

Onboard = Callable[..., tuple[int, str, str]]


def registry(tmp_path: Path, *, ids: bool = False) -> list[tuple[str, str, str]]:
    """The registry's rows by account code, or (``ids``) those by T4's
    account id, which onboarding registers beside each code."""
    db = tmp_path / "fills.db"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT user_name, firm, account FROM user_accounts "  # noqa: S608 - constant
            f"WHERE account {'' if ids else 'NOT '}GLOB '*-*-*-*-*' ORDER BY account").fetchall()


def test_created_user_is_reported_and_its_account_registered(
        tmp_path: Path, api: Api, onboard: Onboard) -> None:
    code, out, _ = onboard(config(tmp_path, api), str(write_json(tmp_path / "c.json", request())))
    assert code == 0
    user = api.sim.users["ann@example.com"]
    assert f"created T4 user ann@example.com: user id {user['userID']}" in out
    assert "created account 77777: account id " in out
    assert "enabled='Disabled', preTradeDisabled=true" in out
    assert "new T4 accounts start disabled" in out
    assert "must assign account(s) 77777 to the fill user" in out
    # --as-user defaults to the request's username; no --firm means any firm.
    assert registry(tmp_path) == [("ann@example.com", "", "77777")]
    # And by the id T4 returned for it, by which its fills are attributed.
    account_id = out.split("created account 77777: account id ")[1].split()[0].strip(",;.")
    assert registry(tmp_path, ids=True) == [("ann@example.com", "", account_id.lower())]


def test_as_user_and_firm_choose_the_registry_entry(
        tmp_path: Path, api: Api, onboard: Onboard) -> None:
    path = write_json(tmp_path / "c.json", request())
    code, out, _ = onboard(config(tmp_path, api), str(path), "--as-user", "C", "--firm", "SIMFIRM")
    assert code == 0, out
    assert registry(tmp_path) == [("C", "SIMFIRM", "77777")]


@pytest.mark.parametrize(("case", "status", "expected"), [
    ("weak_password", 400, "rejected as invalid (400 Bad Request): The request is invalid.; "
                           "$.User.password: does not meet the security requirements"),
    ("bad_key", 401, "authentication failed (401 Unauthorized)"),
    ("no_template", 404, "not found (404 Not Found): check [onboarding] url and the template "
                         "account: Template account 'Nope' not found."),
    ("wrong_path", 404, "not found (404 Not Found)"),
    ("duplicate", 409, "already exists (409 Conflict: the username, or the account); not "
                       "retried: Username 'ann@example.com' already exists."),
    ("server_error", 500, "gave up after 3 attempt(s): server error (500): Simulated server "
                          "error.; an attempt may have reached T4"),
])
def test_each_error_status_is_explained_and_fails(
        tmp_path: Path, api: Api, onboard: Onboard, case: str, status: int,
        expected: str) -> None:
    body = request(password="weak-pass" if case == "weak_password" else "Strong-Pass-1")
    settings: dict[str, object] = {}
    if case == "bad_key":
        settings["api_key"] = "wrong-key"
    if case == "no_template":
        body["Account"]["templateAccount"] = "Nope"
    if case == "wrong_path":
        settings["url"] = api.url.replace("/onboarding", "/v2/onboarding")
    if case == "duplicate":
        assert onboard(config(tmp_path, api), str(write_json(tmp_path / "a.json", request(
            account="70000"))))[0] == 0
    if case == "server_error":
        api.sim.faults.fail_first = 99
    before = api.sim.requests
    code, out, _ = onboard(config(tmp_path, api, **settings),
                           str(write_json(tmp_path / "c.json", body)))
    assert code == 1
    assert expected in out
    assert "77777" not in {account for _, _, account in registry(tmp_path)}
    # Only timeouts and 5xx are retried (3 attempts with retries = 2); a request
    # to an unknown path never reaches the endpoint.
    expected_requests = {500: 3}.get(status, 0 if case == "wrong_path" else 1)
    assert api.sim.requests - before == expected_requests


def test_a_5xx_then_success_is_retried_to_success(
        tmp_path: Path, api: Api, onboard: Onboard) -> None:
    api.sim.faults.fail_first = 2
    code, out, _ = onboard(config(tmp_path, api), str(write_json(tmp_path / "c.json", request())))
    assert code == 0, out
    assert api.sim.requests == 3
    assert registry(tmp_path) == [("ann@example.com", "", "77777")]


def test_409_after_a_timed_out_attempt_says_verify(
        tmp_path: Path, api: Api, onboard: Onboard) -> None:
    # The first attempt creates the user but answers after the client gave up;
    # the retry meets the user it created.
    api.sim.faults.slow_first, api.sim.faults.delay = 1, 1.5
    path = write_json(tmp_path / "c.json", request())
    code, out, err = onboard(config(tmp_path, api, timeout=0.4), str(path), "--as-user", "C")
    assert "ann@example.com" in api.sim.users
    assert api.sim.requests == 2
    assert "probably created by the earlier attempt — verify" in out
    assert "FAILED" not in out
    assert "once verified run: fillcapture users add C --accounts 77777" in out
    assert "onboarding.attempt_failed" in err
    # Not registered: a 409 proves no ownership of the account by itself.
    assert registry(tmp_path) == []
    assert code == 1


def test_invalid_json_lists_every_error_and_sends_nothing(
        tmp_path: Path, api: Api, onboard: Onboard) -> None:
    body = request(apptype="Pro", password="Secret-Pw-123")
    del body["Account"]["templateAccount"]
    body["Eula"]["signatures"][0]["signed"] = "01/05/2025"
    code, _, err = onboard(config(tmp_path, api), str(write_json(tmp_path / "c.json", body)))
    assert code == 2
    assert "c.json: $.User.apptype: Input should be 'Professional' or 'NonProfessional' " \
           "(got 'Pro')" in err
    assert "c.json: $.Account.templateAccount: required field is missing" in err
    assert "c.json: $.Eula.signatures[0].signed: must be an ISO 8601 timestamp" in err
    assert "3 error(s); nothing was sent" in err
    assert api.sim.requests == 0
    (tmp_path / "broken.json").write_text('{"User": {')
    code, _, err = onboard(config(tmp_path, api), str(tmp_path / "broken.json"))
    assert code == 2
    assert "not JSON (line 1 column 11)" in err


def test_an_account_owned_by_another_user_is_refused_before_sending(
        tmp_path: Path, api: Api, onboard: Onboard) -> None:
    assert onboard(config(tmp_path, api), str(write_json(tmp_path / "a.json", request())),
                   "--as-user", "A")[0] == 0
    body = request("bob")  # same account 77777
    code, _, err = onboard(config(tmp_path, api), str(write_json(tmp_path / "b.json", body)),
                           "--as-user", "B")
    assert code == 2
    assert "account 77777 is already registered to WhenTech user 'A'" in err
    assert api.sim.requests == 1


def test_a_firm_entry_over_another_users_firmless_one_is_refused_before_sending(
        tmp_path: Path, api: Api, onboard: Onboard) -> None:
    assert onboard(config(tmp_path, api), str(write_json(tmp_path / "a.json", request())),
                   "--as-user", "A")[0] == 0
    body = request("bob")  # same account 77777, now for B at one firm: A's fills there
    code, _, err = onboard(config(tmp_path, api), str(write_json(tmp_path / "b.json", body)),
                           "--as-user", "B", "--firm", "SIMFIRM")
    assert code == 2
    assert "77777 (SIMFIRM): A -> B" in err
    assert api.sim.requests == 1


def test_a_missing_api_key_is_a_configuration_error(
        tmp_path: Path, api: Api, onboard: Onboard) -> None:
    path = config(tmp_path, api)
    path.write_text(path.read_text().replace('api_key = "sim-onboarding-key"\n', ""))
    code, _, err = onboard(path, str(write_json(tmp_path / "c.json", request())))
    assert code == 2
    assert "onboarding.api_key: required" in err
    assert api.sim.requests == 0
