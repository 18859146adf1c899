"""Each endpoint of a real ``fillcapture serve`` process, over a real store file."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

import httpx

from fillcapture.model import Side
from fillcapture.publish.schema import FillMessage
from tests.api.conftest import (
    CL,
    DAY1,
    DAY2,
    ES,
    FILLS,
    Api,
    expected,
)


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [fill["fill_id"] for fill in response.json()["fills"]]


def test_health_and_the_openapi_document_need_no_token(api: Api) -> None:
    health = api.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "version": "0.1.0"}
    document = api.get("/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {"/healthz", "/v1/fills", "/v1/summary/daily",
                                      "/v1/accounts", "/v1/seals", "/v1/statement",
                                      "/status"}


def test_fills_are_the_users_live_fills_in_time_order_in_the_mqtt_shape(api: Api) -> None:
    response = api.get("/v1/fills", "A")
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["user"] == "A"
    assert body["next_cursor"] is None
    assert ids(response) == expected("A")
    first = body["fills"][0]
    assert first == {
        "fill_id": "SIMFIRM/order-1/T1", "firm": "SIMFIRM", "user": "A", "account": "11111",
        "account_id": "SIMFIRM-11111", "order_id": "order-1", "exchange_trade_id": "T1",
        "sequence_order": 1, "leg_index": None, "market_id": ES, "side": "BUY", "volume": 2,
        "price": "6000.00", "exchange_time": "2026-11-19T14:00:01.000000Z",
        "trade_date": "2026-11-19", "busted": False, "captured_at": first["captured_at"],
        "kind": "outright", "spread_market_id": None}
    for fill in body["fills"]:  # one shape with the MQTT messages
        assert FillMessage.model_validate(fill).model_dump(mode="json").keys() == fill.keys()
    leg = next(fill for fill in body["fills"] if fill["leg_index"] is not None)
    assert (leg["leg_index"], leg["fill_id"]) == (0, "SIMFIRM/order-14/T14/0")
    assert (leg["kind"], leg["side"], leg["spread_market_id"]) == ("pending_leg", None, ES)
    assert any(fill["side"] is None for fill in body["fills"])


def test_busted_fills_only_when_asked(api: Api) -> None:
    fills = api.get("/v1/fills", "A", include_busted="true").json()["fills"]
    assert [f["fill_id"] for f in fills] == expected("A", include_busted=True)
    assert [f["order_id"] for f in fills if f["busted"]] == ["order-5"]
    assert ids(api.get("/v1/fills", "A", include_busted="false")) == expected("A")


def test_filters(api: Api) -> None:
    assert ids(api.get("/v1/fills", "A", account="22222")) == expected("A", account="22222")
    assert ids(api.get("/v1/fills", "A", market=CL)) == expected("A", market_id=CL)
    assert ids(api.get("/v1/fills", "A", side="SELL")) == expected("A", side=Side.SELL)
    assert ids(api.get("/v1/fills", "A", from_date="2026-11-20")) == expected(
        "A", trade_date=DAY2)
    assert ids(api.get("/v1/fills", "A", to_date="2026-11-19")) == expected(
        "A", trade_date=DAY1)
    assert ids(api.get("/v1/fills", "A", from_date="2026-11-21")) == []
    # Times: from inclusive, to exclusive, in any offset.
    t1, t7 = FILLS[0].exchange_time, FILLS[6].exchange_time
    window = api.get("/v1/fills", "A", from_time=t1.isoformat(),
                     to_time=t7.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat())
    assert ids(window) == ["SIMFIRM/order-1/T1", "SIMFIRM/order-2/T2"]
    chicago = api.get("/v1/fills", "A", from_time="2026-11-19T08:00:07-06:00",
                      to_time="2026-11-19T14:00:07.000001Z")
    assert ids(chicago) == ["SIMFIRM/order-7/T7", "SIMFIRM/order-9/T9"]
    combined = api.get("/v1/fills", "A", account="11111", market=ES, side="BUY",
                       from_date="2026-11-20", to_date="2026-11-20")
    assert ids(combined) == expected("A", account="11111", market_id=ES, side=Side.BUY,
                                     trade_date=DAY2)
    # 6001.00 and 6002.00 at F3; the leg fill is pending, of no side yet.
    assert len(ids(combined)) == 2


def test_pages_follow_the_cursor_and_the_link(api: Api) -> None:
    everything = expected("A")
    seen: list[str] = []
    response = api.get("/v1/fills", "A", limit=4)
    pages = 0
    while True:
        pages += 1
        body = response.json()
        seen += [fill["fill_id"] for fill in body["fills"]]
        cursor = body["next_cursor"]
        if cursor is None:
            assert "link" not in response.headers
            assert "x-next-cursor" not in response.headers
            break
        assert len(body["fills"]) == 4
        assert response.headers["x-next-cursor"] == cursor
        link = response.headers["link"]
        assert link.startswith("</v1/fills?")
        assert link.endswith('>; rel="next"')
        assert f"cursor={cursor}" in link
        assert "limit=4" in link
        response = api.get("/v1/fills", "A", limit=4, cursor=cursor)
    assert seen == everything
    assert pages == -(-len(everything) // 4)


def test_csv_is_the_fills_command_csv(api: Api) -> None:
    response = api.get("/v1/fills", "A", accept="text/csv", include_busted="true",
                       limit=5000)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    command = api.cli("fills", "--user", "A", "--include-busted", "--format", "csv")
    assert command.returncode == 0, command.stderr
    assert response.text == command.stdout
    assert "6020.00" in response.text
    assert ",true,outright\n" in response.text
    # A page of CSV carries the cursor in its headers.
    paged = api.get("/v1/fills", "A", accept="text/csv", limit=2)
    assert len(paged.text.splitlines()) == 3
    assert paged.headers["x-next-cursor"]


def test_accept_negotiation(api: Api) -> None:
    def kind(accept: str) -> str:
        response = api.get("/v1/fills", "A", accept=accept, limit=1)
        return f"{response.status_code} {response.headers['content-type']}"

    json_type, csv_type = "200 application/json", "200 text/csv; charset=utf-8"
    assert kind("*/*") == json_type
    assert kind("text/*") == csv_type
    assert kind("text/csv;q=0.5, application/json") == json_type
    assert kind("application/json;q=0.2, text/csv;q=0.9") == csv_type
    assert kind("text/csv;q=0, */*") == json_type
    refused = api.get("/v1/fills", "A", accept="text/html")
    assert refused.status_code == 406
    assert refused.json()["error"] == "not_acceptable"


def test_daily_summary_with_fifo_pnl_and_point_values(api: Api) -> None:
    response = api.get("/v1/summary/daily", "A")
    assert response.status_code == 200
    body = response.json()
    assert body["user"] == "A"
    rows = {(r["trade_date"], r["firm"], r["account"], r["market_id"]): r for r in body["rows"]}
    day1 = rows[("2026-11-19", "SIMFIRM", "11111", ES)]
    # The busted buy of 4 at 6020.00 never happened.
    assert (day1["buys"], day1["buy_volume"], day1["buy_vwap"], day1["net_position"]) == (
        1, 2, "6000.00", 2)
    day2 = rows[("2026-11-20", "SIMFIRM", "11111", ES)]
    assert day2 == {
        "trade_date": "2026-11-20", "firm": "SIMFIRM", "account": "11111", "market_id": ES,
        "buys": 1, "buy_volume": 1, "buy_vwap": "6001.00", "sells": 1, "sell_volume": 3,
        "sell_vwap": "6004.25", "pnl_points": "11.75", "pnl_currency": "587.50",
        "net_position": 0, "unknown_side": 1, "spread_legs": 1,
        # No fee schedule and no currency configured: the fees of its four
        # fills (two of them of no known side or contract) are unknown.
        "currency": None, "gross": "587.50", "fees": None, "net": None, "fees_unknown": 4}
    assert body["totals"] == {"currencies": [], "unknown_currency_rows": len(rows),
                              "unknown_gross_rows": 0,
                              "fees_unknown": sum(r["fees_unknown"] for r in body["rows"])}
    # Another firm's 11111 is another position; CL has no point value.
    assert rows[("2026-11-20", "F3", "11111", ES)]["net_position"] == 1
    assert rows[("2026-11-19", "SIMFIRM", "11111", CL)]["pnl_currency"] is None
    assert {account for _, _, account, _ in rows} == {"11111", "22222"}

    later = api.get("/v1/summary/daily", "A", from_date="2026-11-20", account="11111",
                    market=ES).json()["rows"]
    assert [(r["trade_date"], r["firm"], r["pnl_points"]) for r in later] == [
        ("2026-11-20", "F3", "0"), ("2026-11-20", "SIMFIRM", "11.75")]
    first_day = api.get("/v1/summary/daily", "A", to_date="2026-11-19").json()["rows"]
    assert {r["trade_date"] for r in first_day} == {"2026-11-19"}


def test_accounts_with_counts_and_times(api: Api) -> None:
    response = api.get("/v1/accounts", "A")
    assert response.status_code == 200
    body = response.json()
    assert body["user"] == "A"
    accounts = {entry["account"]: entry for entry in body["accounts"]}
    assert set(accounts) == {"11111", "22222"}
    for number, entry in accounts.items():
        fills = api.get("/v1/fills", "A", account=number).json()["fills"]
        assert entry["firm"] is None
        assert entry["fills"] == len(fills)
        assert entry["volume"] == sum(fill["volume"] for fill in fills)
        assert entry["first_fill_time"] == fills[0]["exchange_time"]
        assert entry["last_fill_time"] == fills[-1]["exchange_time"]
    assert (accounts["11111"]["busted"], accounts["22222"]["busted"]) == (1, 0)


def test_an_operator_names_the_user(api: Api) -> None:
    assert api.get("/v1/fills", "ops", user="A").json() == api.get("/v1/fills", "A").json()
    assert api.get("/v1/accounts", "ops", user="B").json()["user"] == "B"
    unnamed = api.get("/v1/fills", "ops")
    assert unnamed.status_code == 400
    assert unnamed.json() == {"error": "bad_request",
                              "message": "user: an operator token must name the user to read"}
    nobody = api.get("/v1/summary/daily", "ops", user="nobody")
    assert (nobody.status_code, nobody.json()["error"]) == (404, "not_found")
    # A user may name itself.
    assert ids(api.get("/v1/fills", "A", user="A")) == expected("A")


def test_no_token_or_a_bad_one_is_401_with_a_challenge(api: Api) -> None:
    unknown = "x" * 43  # well formed, never issued
    for path in ("/v1/fills", "/v1/summary/daily", "/v1/accounts", "/v1/seals",
                 "/v1/statement"):
        for authorization in (None, f"Bearer {unknown}", "Bearer short", "Basic QTpB",
                              api.tokens["A"]):  # a token without its scheme
            headers = {} if authorization is None else {"Authorization": authorization}
            response = httpx.get(api.url + path, headers=headers, timeout=30)
            assert response.status_code == 401, (path, authorization)
            assert response.json() == {"error": "unauthorized",
                                       "message": "a valid bearer token is required"}
            assert response.headers["www-authenticate"].startswith('Bearer realm="fillcapture"')


def test_malformed_parameters_are_400_naming_them(api: Api) -> None:
    for params, name in [
        ({"limit": "0"}, "limit"), ({"limit": "5001"}, "limit"), ({"limit": "1.0"}, "limit"),
        ({"side": "buy"}, "side"), ({"from_date": "2026-11-1"}, "from_date"),
        ({"to_date": "20261120"}, "to_date"), ({"from_time": "2026-11-19T14:00:00"}, "from_time"),
        ({"to_time": "0001-01-01T00:00:00+01:00"}, "to_time"),
        ({"include_busted": "yes"}, "include_busted"), ({"cursor": "abc"}, "cursor"),
        ({"account": ""}, "account"), ({"market": ""}, "market"),
    ]:
        response = api.get("/v1/fills", "A", **params)
        assert response.status_code == 400, params
        body = response.json()
        assert body["error"] == "bad_request"
        assert body["message"].startswith(f"{name}: "), body


def test_unknown_paths_and_methods_answer_in_json(api: Api) -> None:
    missing = api.get("/v2/fills", "A")
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    posted = httpx.post(api.url + "/v1/fills", timeout=30)
    assert (posted.status_code, posted.json()["error"]) == (405, "method_not_allowed")
    assert "GET" in posted.headers["allow"]
