"""The OpenAPI 3.1 document of the API, served at ``/openapi.json``.

Written out rather than derived, so that it says exactly what the API does:
every parameter with the form ``params`` accepts, every status each endpoint
answers with, every body; a fill's schema is its declaration's
(:data:`fillcapture.fillshape.FIELDS`). The schemathesis test holds the server to it.
"""

from __future__ import annotations

from typing import Any

from fillcapture.api.params import DEFAULT_LIMIT, MAX_LIMIT
from fillcapture.fillshape import FIELDS

_DECIMAL = r"^-?[0-9]+(\.[0-9]+)?$"
# YYYY-MM, year 0001 to 9999.
_MONTH = (r"^([0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})"
          r"-(0[1-9]|1[0-2])$")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], description: str = "",
            patterns: dict[str, Any] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties,
                              "required": list(properties), "additionalProperties": False}
    if patterns:
        schema["patternProperties"] = patterns
    if description:
        schema["description"] = description
    return schema


_COUNT = {"type": "integer", "minimum": 0}
_TEXT = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
_DATE = {"type": "string", "format": "date"}
_MONEY = {"type": ["string", "null"], "pattern": _DECIMAL}

SCHEMAS: dict[str, Any] = {
    "Error": _object({
        "error": {"type": "string", "enum": [
            "bad_request", "unauthorized", "forbidden", "not_found", "method_not_allowed",
            "not_acceptable", "internal_error", "unavailable"]},
        "message": _TEXT,
    }, "Every refusal. The message concerns the request only and never says whether "
       "another user or account exists."),
    "Fill": _object({f.name: f.api_schema() for f in FIELDS},
                    "A stored fill, in the fields and form of the MQTT fill messages."),
    "FillPage": _object({
        "user": _TEXT,
        "fills": {"type": "array", "items": _ref("Fill")},
        "next_cursor": {"type": ["string", "null"],
                        "description": "pass as cursor for the next page; null on the last"},
    }),
    "SummaryRow": _object({
        "trade_date": _DATE,
        "firm": _TEXT,
        "account": _TEXT,
        "market_id": _TEXT,
        "buys": _COUNT,
        "buy_volume": _COUNT,
        "buy_vwap": {"type": ["string", "null"], "pattern": _DECIMAL},
        "sells": _COUNT,
        "sell_volume": _COUNT,
        "sell_vwap": {"type": ["string", "null"], "pattern": _DECIMAL},
        "pnl_points": {"type": "string", "pattern": _DECIMAL,
                       "description": "realized FIFO P&L in price points"},
        "pnl_currency": {"type": ["string", "null"], "pattern": _DECIMAL,
                         "description": "pnl_points times the market's point value; null "
                                        "where the server knows none"},
        "net_position": {"type": "integer", "description": "signed contracts after the "
                                                           "day's last fill"},
        "unknown_side": _COUNT,
        "spread_legs": {**_COUNT, "description": "pending legs: spread leg fills whose "
                        "spread is not defined yet, on the spread's market"},
        "currency": {"type": ["string", "null"], "pattern": "^[A-Z]{3}$",
                     "description": "the market's currency ([money] currencies); null: "
                                    "unknown"},
        "gross": {**_MONEY, "description": "pnl_currency, in currency"},
        "fees": {**_MONEY, "description": "the row's fees in its currency; null where one "
                                          "is in another currency or the currency is unknown"},
        "net": {**_MONEY, "description": "gross minus fees; null where a fee, the point "
                                         "value or the currency is unknown"},
        "fees_unknown": {**_COUNT, "description": "fills whose fees are unknown (no "
                         "schedule matches, or side or contract unknown)"},
    }, "One account's trading in one market on one trade date (busted fills and "
       "spread-level trades left out; fills of unknown side and pending legs left out and "
       "counted; placed legs count on their own contracts). Each fee component adds a "
       "fee_<component> amount (null: not charged; a fee in another currency than the "
       "market's ends in its code, \"2.50 EUR\").",
       {"^fee_[a-z][a-z0-9_]*$": {"type": ["string", "null"],
                                  "pattern": r"^-?[0-9]+(\.[0-9]+)?( [A-Z]{3})?$"}}),
    "CurrencyTotals": _object({
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "gross": {"type": "string", "pattern": _DECIMAL},
        "fees": {"type": "object", "additionalProperties": {"type": "string",
                                                            "pattern": _DECIMAL}},
        "fees_total": {"type": "string", "pattern": _DECIMAL},
        "net": {"type": "string", "pattern": _DECIMAL},
        "rows_without_net": _COUNT,
    }, "One currency's totals: gross of its markets' rows, fees charged in it by "
       "component, net of the rows that have one."),
    "Totals": _object({
        "currencies": {"type": "array", "items": _ref("CurrencyTotals")},
        "unknown_currency_rows": _COUNT,
        "unknown_gross_rows": _COUNT,
        "fees_unknown": _COUNT,
    }, "Totals per currency (never added across currencies) and what none holds."),
    "Summary": _object({"user": _TEXT, "rows": {"type": "array", "items": _ref("SummaryRow")},
                        "totals": _ref("Totals")}),
    "Account": _object({
        "firm": {"type": ["string", "null"],
                 "description": "null: the account number at any firm"},
        "account": _TEXT,
        "fills": _COUNT,
        "volume": _COUNT,
        "busted": _COUNT,
        "first_fill_time": {"type": ["string", "null"], "format": "date-time"},
        "last_fill_time": {"type": ["string", "null"], "format": "date-time"},
    }, "A registry entry of the user and its live fills (busted ones counted apart)."),
    "Accounts": _object({"user": _TEXT, "accounts": {"type": "array", "items": _ref("Account")}}),
    "Seal": _object({
        "firm": _TEXT,
        "account": _TEXT,
        "trade_date": _DATE,
        "sealed_at": _TIME,
        "verified": {"type": ["boolean", "null"],
                     "description": "whether the day's pre-roll reconcile saw a fresh T4 "
                                    "snapshot of every account; null: sealed before "
                                    "certificates were recorded"},
        "reconcile_step": {"enum": ["resubscribe", "unsubscribe_subscribe", "new_session",
                                    None],
                           "description": "what brought the snapshots, when verified"},
        "reconciled_at": {"type": ["string", "null"], "format": "date-time",
                          "description": "when the verified reconcile ran; null if unverified"},
        "unverified_reason": {"type": ["string", "null"]},
        "snapshot": {"type": ["integer", "null"], "minimum": 0,
                     "description": "fills of the day in T4's last snapshot of the account "
                                    "(busted ones included); null: none was seen"},
        "snapshot_at": {"type": ["string", "null"], "format": "date-time"},
        "after_snapshot": {**_COUNT, "description": "stored fills T4 sent live after it"},
        "stored": {**_COUNT, "description": "the day's fills stored, busted ones included"},
        "recovered": {**_COUNT, "description": "of those, stored from the reconcile's "
                                               "snapshots"},
        "quarantined": {**_COUNT, "description": "records of the day the daemon could not "
                                                 "store"},
        "busted": _COUNT,
        "difference": {"type": ["integer", "null"],
                       "description": "snapshot + after_snapshot - stored: fills T4 reported "
                                      "that the store lacks (negative: stored fills T4 did "
                                      "not report); null without a snapshot"},
    }, "One account's reconciliation certificate of a sealed trade date."),
    "Seals": _object({"user": _TEXT, "seals": {"type": "array", "items": _ref("Seal")}}),
    "Health": _object({"status": {"const": "ok"}, "version": _TEXT}),
}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


_USER = _query("user", {"type": "string", "minLength": 1},
               "The user to read. A user's token reads its own user only (another name: "
               "403); an operator token must name one (an unknown name: 404).")
_ACCOUNT = _query("account", {"type": "string", "minLength": 1},
                  "One of the user's account numbers (any other: 404).")
_MARKET = _query("market", {"type": "string", "minLength": 1}, "A T4 market id, exactly.")
_FROM_DATE = _query("from_date", _DATE, "First trade date, inclusive.")
_TO_DATE = _query("to_date", _DATE, "Last trade date, inclusive.")


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ref("Error")}},
    }
    if headers:
        response["headers"] = headers
    return response


_REFUSALS = {
    "400": _error("A parameter is malformed, or an operator token names no user."),
    "401": _error("No bearer token, or not a valid one.", {
        "WWW-Authenticate": {"required": True, "schema": {"type": "string"}}}),
    "403": _error("A user's token asked for another user."),
    "404": _error("No such user (operator tokens), or not one of the user's accounts."),
    "503": _error("The store cannot be read now, or [api] max_requests are being answered "
                  "(then with Retry-After)."),
}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": _ref(schema)}}}


def document(version: str) -> dict[str, Any]:
    """The whole document, for this ``version`` of fillcapture."""
    page_headers = {
        "X-Next-Cursor": {"schema": {"type": "string"},
                          "description": "the next page's cursor; absent on the last page"},
        "Link": {"schema": {"type": "string"},
                 "description": 'the next page: <URL>; rel="next"; absent on the last page'},
    }
    fills = {
        "summary": "The user's fills, oldest first",
        "description": (
            "Fills in (exchange_time, row) order, a page at a time. Pages follow a "
            "cursor: a fill stored before the first page is read appears exactly once. "
            "JSON, or with `Accept: text/csv` the page as CSV (the columns of "
            "`fillcapture fills --format csv`, with a header row)."),
        "operationId": "listFills",
        "parameters": [
            _USER, _ACCOUNT, _MARKET,
            _query("side", {"type": "string", "enum": ["BUY", "SELL"]},
                   "Only this side (fills of unknown side are left out)."),
            _FROM_DATE, _TO_DATE,
            _query("from_time", _TIME, "Exchange time from this one on (with its offset)."),
            _query("to_time", _TIME, "Exchange time before this one (with its offset)."),
            _query("include_busted", {"type": "boolean", "default": False},
                   "Busted fills too, marked busted."),
            _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                             "default": DEFAULT_LIMIT}, "Fills per page."),
            _query("cursor", {"type": "string"}, "next_cursor of the previous page."),
        ],
        "responses": {
            "200": {
                "description": "A page of fills.",
                "headers": page_headers,
                "content": {
                    "application/json": {"schema": _ref("FillPage")},
                    "text/csv": {"schema": {"type": "string"}},
                },
            },
            **_REFUSALS,
            "406": _error("The Accept header allows neither JSON nor CSV."),
        },
    }
    summary = {
        "summary": "The user's trading per trade date, account and market",
        "description": (
            "Buys and sells, their volumes and VWAPs, realized FIFO P&L and the net "
            "position after the day. Positions and P&L are built from each account's "
            "first fill, whatever from_date says. Amounts are exact decimal strings. "
            "Each row gives its market's currency (null: unknown), gross P&L in money, "
            "each fee component (fee_<component>; a fee in another currency than the "
            "market's carries its code), fees, net (null where a fee, the point value or "
            "the currency is unknown) and fees_unknown, the fills whose fees are unknown. "
            "totals gives gross, fees and net per currency; amounts of different "
            "currencies are never added."),
        "operationId": "dailySummary",
        "parameters": [_USER, _ACCOUNT, _MARKET, _FROM_DATE, _TO_DATE],
        "responses": {"200": _json("Summary", "The summary rows, by trade date, firm, "
                                              "account and market."), **_REFUSALS},
    }
    accounts = {
        "summary": "The user's accounts",
        "description": "Each of the user's registry entries with its live fills' count, "
                       "volume, first and last time, and its busted fills' count.",
        "operationId": "listAccounts",
        "parameters": [_USER],
        "responses": {"200": _json("Accounts", "The user's accounts."), **_REFUSALS},
    }
    seals = {
        "summary": "The reconcile certificates of the user's accounts",
        "description": (
            "Per sealed trade date and account of the user (oldest first): whether the "
            "day's pre-roll reconcile was verified, and what T4's last snapshot held "
            "against what the store holds."),
        "operationId": "listSeals",
        "parameters": [_USER, _ACCOUNT, _FROM_DATE, _TO_DATE],
        "responses": {"200": _json("Seals", "The certificates, by trade date, firm and "
                                            "account."), **_REFUSALS},
    }
    statement = {
        "summary": "The user's monthly statement, one HTML page",
        "description": (
            "The month's totals per currency (gross, each fee component, fees, net; never "
            "added across currencies) and what no total holds, a calendar of each trade "
            "date's net, a cumulative net chart per account and currency, and the table of "
            "days. Self-contained (inline styles and SVG, no script, nothing loaded), under "
            "the Content-Security-Policy it also sends; print it to PDF from a browser."),
        "operationId": "monthlyStatement",
        "parameters": [
            _USER,
            {"name": "month", "in": "query", "required": True,
             "schema": {"type": "string", "pattern": _MONTH},
             "description": "The month, YYYY-MM (year 0001 to 9999)."},
        ],
        "responses": {
            "200": {
                "description": "The statement page.",
                "headers": {"Content-Security-Policy": {"required": True,
                                                        "schema": {"type": "string"}}},
                "content": {"text/html": {"schema": {"type": "string"}}},
            },
            **_REFUSALS,
        },
    }
    status = {
        "summary": "The operator's status page, one HTML page",
        "description": (
            "`fillcapture status --json`'s data for a person to read at a glance: each "
            "daemon (active, standby, stopped) and since when, its T4 session, accounts "
            "visible, owned and owned but invisible, each account's last fill and fills "
            "today, open gaps and when each becomes unrecoverable, the last seals and their "
            "reconcile certificates, quarantine and backups; trouble marked in colour and "
            "words. It reloads itself every 30 s (a meta refresh, no script) and loads "
            "nothing. An operator token only (a user's: 403), as a bearer token or as the "
            "password of Basic credentials with any user name, which a browser asks for "
            "once and re-sends on every reload."),
        "operationId": "statusPage",
        "security": [{"bearer": []}, {"basic": []}],
        "responses": {
            "200": {
                "description": "The status page.",
                "headers": {"Content-Security-Policy": {"required": True,
                                                        "schema": {"type": "string"}}},
                "content": {"text/html": {"schema": {"type": "string"}}},
            },
            "401": _error("No operator or user token, as a bearer token or Basic "
                          "credentials' password; asks for Basic credentials.", {
                              "WWW-Authenticate": {"required": True,
                                                   "schema": {"const": 'Basic realm='
                                                              '"fillcapture status"'}}}),
            "403": _error("A user's token: the page is for operator tokens only."),
            "503": _REFUSALS["503"],
        },
    }
    health = {
        "summary": "Whether the API answers",
        "operationId": "health",
        "security": [],
        "responses": {"200": _json("Health", "The API is up.")},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "fillcapture",
            "version": version,
            "description": "Each user's stored T4 fills, read-only. Every /v1 endpoint needs "
                           "a bearer token (`fillcapture users token NAME`) and answers with "
                           "that user's accounts only.",
        },
        "paths": {
            "/healthz": {"get": health},
            "/v1/fills": {"get": fills},
            "/v1/summary/daily": {"get": summary},
            "/v1/accounts": {"get": accounts},
            "/v1/seals": {"get": seals},
            "/v1/statement": {"get": statement},
            "/status": {"get": status},
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                "basic": {"type": "http", "scheme": "basic",
                                          "description": "GET /status only: any user name, "
                                                         "an operator token as password"}},
        },
        "security": [{"bearer": []}],
    }
