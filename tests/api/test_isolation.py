"""A user's token never yields another user's rows: every endpoint, every filter,
with the API served from a store of each engine.

Both users own an account numbered 11111 (A at any firm, B at firm F2), so a
filter on the number alone must still keep each to their own fills.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from fillcapture.model import Side
from tests.api.conftest import (
    BUSTED,
    CL,
    DAY1,
    DAY2,
    ES,
    FILLS,
    SNAPSHOT_11111,
    Api,
    expected,
    owner,
)


@pytest.fixture(scope="module")
def api(engine_api: Api) -> Api:
    """Every test here runs against the API over each engine's store."""
    return engine_api


OTHER = {"A": "B", "B": "A"}
ACCOUNTS = {"A": ["11111", "22222"], "B": ["11111", "33333"]}
NOT_THEIRS = {"A": ["33333", "55555", "99999"], "B": ["22222", "55555", "99999"]}
FILTERS: list[tuple[dict[str, str], dict[str, Any]]] = [
    ({}, {}),
    ({"market": ES}, {"market_id": ES}),
    ({"market": CL}, {"market_id": CL}),
    ({"side": "BUY"}, {"side": Side.BUY}),
    ({"side": "SELL"}, {"side": Side.SELL}),
    ({"from_date": "2026-11-20"}, {"trade_date": DAY2}),
    ({"to_date": "2026-11-19"}, {"trade_date": DAY1}),
    ({"from_date": "2026-11-19", "to_date": "2026-11-19", "side": "SELL"},
     {"trade_date": DAY1, "side": Side.SELL}),
    ({"from_time": "2026-11-19T00:00:00Z", "to_time": "2026-11-20T00:00:00Z"},
     {"trade_date": DAY1}),
]


def fill_ids(api: Api, user: str, **params: str) -> list[str]:
    """Every page of ``/v1/fills``, three fills a page, each fill checked to be ``user``'s."""
    found: list[str] = []
    cursor: str | None = None
    while True:
        page = api.get("/v1/fills", user, limit="3", **params,
                       **({} if cursor is None else {"cursor": cursor}))
        assert page.status_code == 200, page.text
        body = page.json()
        assert body["user"] == user
        for fill in body["fills"]:
            assert fill["user"] == user
            assert owner(fill["firm"], fill["account"]) == user, fill
        found += [fill["fill_id"] for fill in body["fills"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return found


@pytest.mark.parametrize("user", ["A", "B"])
def test_fills_under_every_filter(api: Api, user: str) -> None:
    for params, where in FILTERS:
        assert fill_ids(api, user, **params) == expected(user, **where), params
        assert fill_ids(api, user, include_busted="true", **params) == expected(
            user, include_busted=True, **where), params
    for account in ACCOUNTS[user]:
        for params, where in FILTERS:
            assert fill_ids(api, user, account=account, **params) == expected(
                user, account=account, **where), (account, params)
    csv_text = api.get("/v1/fills", user, accept="text/csv", include_busted="true").text
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert {row["user"] for row in rows} == {user}
    assert len(rows) == len(expected(user, include_busted=True))


@pytest.mark.parametrize("user", ["A", "B"])
def test_another_users_account_is_as_unknown_as_a_missing_one(api: Api, user: str) -> None:
    for path in ("/v1/fills", "/v1/summary/daily", "/v1/seals"):
        for account in NOT_THEIRS[user]:
            response = api.get(path, user, account=account)
            assert response.status_code == 404, (path, account)
            assert response.json() == {"error": "not_found",
                                       "message": f"no account '{account}'"}
            assert account not in response.headers.get("link", "")


@pytest.mark.parametrize("user", ["A", "B"])
def test_naming_another_user_is_403_whether_or_not_it_exists(api: Api, user: str) -> None:
    for path in ("/v1/fills", "/v1/summary/daily", "/v1/accounts", "/v1/seals"):
        bodies = []
        for name in (OTHER[user], "nobody"):
            response = api.get(path, user, user=name)
            assert response.status_code == 403, (path, name)
            bodies.append(response.json())
        assert bodies[0] == bodies[1] == {
            "error": "forbidden", "message": "this token reads its own user's data only"}


@pytest.mark.parametrize("user", ["A", "B"])
def test_summary_rows_are_the_users_own(api: Api, user: str) -> None:
    for params, where in [({}, {}), ({"market": ES}, {"market_id": ES}),
                          ({"market": CL}, {"market_id": CL}),
                          ({"from_date": "2026-11-20"}, {"trade_date": DAY2}),
                          *(({"account": n}, {"account": n}) for n in ACCOUNTS[user])]:
        response = api.get("/v1/summary/daily", user, **params)
        assert response.status_code == 200, response.text
        rows = {(r["trade_date"], r["firm"], r["account"], r["market_id"])
                for r in response.json()["rows"]}
        traded = {(f.trade_date.isoformat(), f.firm, f.account, f.market_id) for f in FILLS
                  if owner(f.firm, f.account) == user
                  and all(getattr(f, key) == value for key, value in where.items())}
        assert rows == traded, params


def test_accounts_are_the_users_own(api: Api) -> None:
    a = api.get("/v1/accounts", "A").json()["accounts"]
    b = api.get("/v1/accounts", "B").json()["accounts"]
    assert [(e["firm"], e["account"]) for e in a] == [(None, "11111"), (None, "22222")]
    assert [(e["firm"], e["account"]) for e in b] == [(None, "33333"), ("F2", "11111")]
    # Each counts the fills its user gets from /v1/fills, not the other's 11111.
    for user, entries in (("A", a), ("B", b)):
        for entry in entries:
            fills = api.get("/v1/fills", user, account=entry["account"],
                            limit="5000").json()["fills"]
            assert entry["fills"] == len(fills), (user, entry)


def test_a_cursor_is_a_place_not_a_key(api: Api) -> None:
    """Another user's cursor only says where to go on from: B reads B's fills after it."""
    a_page = api.get("/v1/fills", "A", limit="4").json()
    assert a_page["fills"][-1]["order_id"] == "order-9"  # 14:00:07, stored after order-8
    b_rest = api.get("/v1/fills", "B", cursor=a_page["next_cursor"]).json()["fills"]
    assert [fill["fill_id"] for fill in b_rest] == [
        i for i in expected("B") if i.split("/")[1] not in ("order-3", "order-4", "order-8")]


@pytest.mark.parametrize("user", ["A", "B"])
def test_seals_are_the_users_own_certificates(api: Api, user: str) -> None:
    body = api.get("/v1/seals", user).json()
    assert body["user"] == user
    sealed = {(f.firm, f.account) for f in FILLS if f.trade_date == DAY1
              and owner(f.firm, f.account) == user}
    assert [(row["firm"], row["account"]) for row in body["seals"]] == sorted(sealed)
    for row in body["seals"]:
        stored = [f for f in FILLS if (f.firm, f.account, f.trade_date)
                  == (row["firm"], row["account"], DAY1)]
        assert row["trade_date"] == DAY1.isoformat()
        assert row["stored"] == len(stored)
        assert row["busted"] == sum(f.exchange_trade_id in BUSTED for f in stored)
        assert row["verified"] is (row["firm"] == "SIMFIRM")
    for account in ACCOUNTS[user]:
        rows = api.get("/v1/seals", user, account=account).json()["seals"]
        assert {row["account"] for row in rows} == {account}
    assert api.get("/v1/seals", user, from_date=DAY2.isoformat()).json()["seals"] == []
    operator = api.get("/v1/seals", "ops", user=user).json()
    assert operator == body


def test_a_seal_names_the_difference_between_t4_and_the_store(api: Api) -> None:
    (row,) = api.get("/v1/seals", "A", account="11111").json()["seals"]
    assert row["reconciled_at"] == "2026-11-19T21:55:00.000000Z"  # RECONCILED_AT
    assert row["reconcile_step"] == "resubscribe"
    assert (row["snapshot"], row["after_snapshot"], row["stored"]) == (SNAPSHOT_11111, 0, 3)
    assert row["difference"] == SNAPSHOT_11111 - 3
    (unverified,) = api.get("/v1/seals", "B", account="11111").json()["seals"]
    assert unverified["firm"] == "F2"
    assert unverified["verified"] is False
    assert unverified["unverified_reason"] == "not connected"
    assert unverified["snapshot"] is None
    assert unverified["difference"] is None
