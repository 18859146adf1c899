"""The Starlette application: authentication, the endpoints, JSON and CSV, errors.

Every ``/v1`` request goes the same way: the bearer token names its holder
(else 401), the query string is read (else 400), the holder may read the user
asked for (else 403, or 404 for an operator naming nobody), and an ``account``
filter must be one of that user's accounts (else 404, the same answer as for
an account that does not exist). Only then is the store read, and only for
fills the registry gives that user now.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from fillcapture import __version__, statuspage
from fillcapture import statement as statement_page
from fillcapture import status as status_data
from fillcapture.api import openapi
from fillcapture.api.errors import ApiError, error_response
from fillcapture.api.forwarded import networks
from fillcapture.api.guard import RateLimitedLog
from fillcapture.api.middleware import AccessLog, RequestLimit, ResponseHeaders
from fillcapture.api.params import DEFAULT_LIMIT, MAX_LIMIT, Params, encode_cursor
from fillcapture.api.tokens import basic_token, bearer_token, token_hash
from fillcapture.exports import FILL_COLUMNS, cell_text, fill_row
from fillcapture.fees import FeeBook
from fillcapture.fillshape import json_object, utc_text
from fillcapture.model import Side
from fillcapture.money import money_fields, summarize_money, totals, totals_object
from fillcapture.monthly import month_rows, parse_month
from fillcapture.ownership import Entry, Ownership
from fillcapture.reports import point_values, report_row
from fillcapture.store import (
    AccountActivity,
    Certificate,
    FillQuery,
    SealedDay,
    Store,
    StoredFill,
    StoreError,
    TokenHolder,
)

log = structlog.get_logger(__name__)

_CHALLENGE = 'Bearer realm="fillcapture"'
_STATUS_CHALLENGE = 'Basic realm="fillcapture status"'


def create_app(store: Store, point_values: Mapping[str, Decimal] | None = None, *,
               currencies: Mapping[str, str] | None = None,
               max_requests: int = 64, trusted_proxies: Sequence[str] = (),
               refused: RateLimitedLog | None = None) -> Starlette:
    """The API over an open ``store``. The daily summary's ``pnl_currency``
    uses the point values the store recorded from T4's market details, with
    ``point_values`` (currency per point and contract, by market) overriding them;
    ``currencies`` names each market's currency (``[money] currencies``), and
    fees come from the store's schedules, read for each summary.
    At most ``max_requests`` are answered at once (``refused`` logs the others);
    the access log believes ``X-Forwarded-For`` from ``trusted_proxies`` only."""
    api = _Api(store, dict(point_values or {}), dict(currencies or {}))
    app = Starlette(
        routes=[
            Route("/healthz", api.healthz, methods=["GET"]),
            Route("/openapi.json", api.openapi, methods=["GET"]),
            Route("/v1/fills", api.fills, methods=["GET"]),
            Route("/v1/summary/daily", api.summary, methods=["GET"]),
            Route("/v1/accounts", api.accounts, methods=["GET"]),
            Route("/v1/seals", api.seals, methods=["GET"]),
            Route("/v1/statement", api.statement, methods=["GET"]),
            Route("/status", api.status, methods=["GET"]),
        ],
        middleware=[
            Middleware(ResponseHeaders),
            Middleware(AccessLog, networks(trusted_proxies)),
            Middleware(RequestLimit, max_requests,
                       refused or RateLimitedLog("api.requests_refused", 60.0)),
        ],
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            StoreError: _store_error,
            Exception: _server_error,
        },
    )
    # "/v1/fills/" would redirect to a URL built from the request's Host
    # header, which any client chooses: no such redirects, a 404 instead.
    app.router.redirect_slashes = False
    return app


class _Api:
    def __init__(self, store: Store, point_values: dict[str, Decimal],
                 currencies: dict[str, str]) -> None:
        self.store = store
        self.point_values = point_values
        self.currencies = currencies
        self.document = openapi.document(__version__)

    async def healthz(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    async def openapi(self, request: Request) -> JSONResponse:
        return JSONResponse(self.document)

    async def fills(self, request: Request) -> Response:
        holder = await self._holder(request)
        params = Params(request.query_params)
        asked, account = params.text("user"), params.text("account")
        market = params.text("market")
        side = params.choice("side", [side.value for side in Side])
        since, until = params.date("from_date"), params.date("to_date")
        time_from, time_to = params.time("from_time"), params.time("to_time")
        include_busted = params.boolean("include_busted", False)
        limit = params.integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        after = params.cursor("cursor")
        as_csv = _wants_csv(request.headers.get("accept", ""))
        user = await self._user(request, holder, asked, account)
        query = FillQuery(
            user=user, account=account, market_id=market,
            side=None if side is None else Side(side), since=since, until=until,
            time_from=time_from, time_to=time_to, include_busted=include_busted)
        page = await self.store.fill_page(query, after, limit)
        headers = {}
        cursor = None if page.next is None else encode_cursor(page.next)
        if cursor is not None:
            url = request.url.include_query_params(cursor=cursor)
            headers = {"X-Next-Cursor": cursor, "Link": f'<{url.path}?{url.query}>; rel="next"'}
        if as_csv:
            return Response(_csv(page.fills), media_type="text/csv; charset=utf-8",
                            headers=headers)
        return JSONResponse({"user": user, "fills": [fill_object(f) for f in page.fills],
                             "next_cursor": cursor}, headers=headers)

    async def summary(self, request: Request) -> JSONResponse:
        holder = await self._holder(request)
        params = Params(request.query_params)
        asked, account = params.text("user"), params.text("account")
        market = params.text("market")
        since, until = params.date("from_date"), params.date("to_date")
        user = await self._user(request, holder, asked, account)
        # Positions opened before from_date are closed at their real price:
        # the books start from recorded positions or each account's first fill.
        query = FillQuery(user=user, account=account, market_id=market, until=until,
                          include_busted=False)
        values = await point_values(self.store, self.point_values)
        book = FeeBook(await self.store.fee_schedules())
        rows = await summarize_money(self.store, query, since=since, point_values=values,
                                     currencies=self.currencies, book=book)
        names = book.components
        return JSONResponse({
            "user": user,
            "rows": [report_row(row.row) | money_fields(row, names) for row in rows],
            "totals": totals_object(totals(rows)),
        })

    async def accounts(self, request: Request) -> JSONResponse:
        holder = await self._holder(request)
        asked = Params(request.query_params).text("user")
        user = await self._user(request, holder, asked, None)
        activity = await self.store.account_activity(user)
        return JSONResponse({"user": user,
                             "accounts": [account_object(entry) for entry in activity]})

    async def seals(self, request: Request) -> JSONResponse:
        """The reconcile certificates of the user's accounts, by sealed day."""
        holder = await self._holder(request)
        params = Params(request.query_params)
        asked, account = params.text("user"), params.text("account")
        since, until = params.date("from_date"), params.date("to_date")
        user = await self._user(request, holder, asked, account)
        # Who owns what now, by the registry's own rule (an entry naming the firm wins).
        owner = Ownership(Entry(o.user, o.firm, o.account)
                          for o in await self.store.registry()).owner
        rows = [seal_object(day, certificate)
                for day in await self.store.sealed_days(since, until)
                for certificate in day.certificates
                if owner(certificate.firm, certificate.account) == user
                and account in (None, certificate.account)]
        return JSONResponse({"user": user, "seals": rows})

    async def statement(self, request: Request) -> HTMLResponse:
        """The user's monthly statement page (:mod:`fillcapture.statement`),
        under the same Content-Security-Policy as the page itself says."""
        holder = await self._holder(request)
        params = Params(request.query_params)
        asked, text = params.text("user"), params.text("month")
        try:
            month = parse_month(text or "")
        except ValueError:
            raise ApiError(400, "month: must be a month, YYYY-MM") from None
        user = await self._user(request, holder, asked, None)
        rows = await month_rows(self.store, user, month, configured=self.point_values,
                                currencies=self.currencies)
        page = statement_page.render(user, month, rows, datetime.now(UTC))
        return HTMLResponse(page, headers={"Content-Security-Policy": statement_page.CSP})

    async def status(self, request: Request) -> HTMLResponse:
        """The operator's status page (:mod:`fillcapture.statuspage`) of
        ``fillcapture status --json``'s data. The token also as Basic
        credentials: a browser re-sends those on each of the page's reloads."""
        holder = await self._holder(request, basic=True)
        if not holder.admin:
            raise ApiError(403, "the status page is for operator tokens only")
        page = statuspage.render(await status_data.collect(self.store))
        return HTMLResponse(page, headers={"Content-Security-Policy": statuspage.CSP})

    async def _holder(self, request: Request, *, basic: bool = False) -> TokenHolder:
        """Who holds the request's token; 401 without a valid one. ``basic``:
        the token may be the password of Basic credentials, and a 401 asks for those."""
        authorization = request.headers.get("authorization", "")
        token = bearer_token(authorization)
        if token is None and basic:
            token = basic_token(authorization)
        holder = None if token is None else await self.store.token_holder(token_hash(token))
        if holder is None:
            if basic:
                raise ApiError(401, "a valid token is required, as a bearer token or as the "
                                    "password of Basic credentials",
                               {"WWW-Authenticate": _STATUS_CHALLENGE})
            challenge = _CHALLENGE if token is None else f'{_CHALLENGE}, error="invalid_token"'
            raise ApiError(401, "a valid bearer token is required",
                           {"WWW-Authenticate": challenge})
        request.scope.setdefault("state", {}).update(reader=holder.name, operator=holder.admin)
        return holder

    async def _user(self, request: Request, holder: TokenHolder, asked: str | None,
                    account: str | None) -> str:
        """The user whose data the request reads: the token's own, or for an
        operator the one ``asked`` for; ``account`` must be that user's."""
        name, admin = holder.name, holder.admin
        if admin and asked is None:
            raise ApiError(400, "user: an operator token must name the user to read")
        if not admin and asked not in (None, name):
            raise ApiError(403, "this token reads its own user's data only")
        subject = name if asked is None else asked
        accounts = await self.store.user_accounts(subject)
        if accounts is None:
            if not admin:  # the user was removed (and its tokens with it) meanwhile
                raise ApiError(401, "a valid bearer token is required",
                               {"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'})
            raise ApiError(404, f"no user {subject!r}")
        if account is not None and account not in {owner.account for owner in accounts}:
            raise ApiError(404, f"no account {account!r}")
        request.scope.setdefault("state", {})["user"] = subject
        return subject


def fill_object(fill: StoredFill) -> dict[str, Any]:
    """A fill in the JSON of the MQTT messages (``fillcapture.publish.schema``):
    one shape for every consumer (:mod:`fillcapture.fillshape`). Prices are
    T4's exact text."""
    return json_object(fill)


def account_object(entry: AccountActivity) -> dict[str, Any]:
    return {
        "firm": entry.firm,
        "account": entry.account,
        "fills": entry.fills,
        "volume": entry.volume,
        "busted": entry.busted,
        "first_fill_time": None if entry.first_fill is None else utc_text(entry.first_fill),
        "last_fill_time": None if entry.last_fill is None else utc_text(entry.last_fill),
    }


def seal_object(day: SealedDay, certificate: Certificate) -> dict[str, Any]:
    """One account's certificate of a sealed day, with how the day's reconcile ended."""
    return {
        "firm": certificate.firm,
        "account": certificate.account,
        "trade_date": day.trade_date.isoformat(),
        "sealed_at": utc_text(day.sealed_at),
        "verified": day.verified,
        "reconcile_step": day.reconcile_step,
        "reconciled_at": None if day.reconciled_at is None else utc_text(day.reconciled_at),
        "unverified_reason": day.unverified_reason,
        "snapshot": certificate.snapshot,
        "snapshot_at": (None if certificate.snapshot_at is None
                        else utc_text(certificate.snapshot_at)),
        "after_snapshot": certificate.after_snapshot,
        "stored": certificate.stored,
        "recovered": certificate.recovered,
        "quarantined": certificate.quarantined,
        "busted": certificate.busted,
        "difference": certificate.difference,
    }


def _csv(fills: list[StoredFill]) -> str:
    """The page as ``fillcapture fills --format csv`` writes fills, header included."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FILL_COLUMNS)
    writer.writerows([cell_text(value) for value in fill_row(fill).values()] for fill in fills)
    return out.getvalue()


_OFFERED = ("application/json", "text/csv")  # in order of preference on a tie


def _wants_csv(accept: str) -> bool:
    """Whether ``Accept`` prefers CSV to JSON (RFC 9110: the most specific
    matching range gives a type its weight). JSON without an ``Accept``, and
    on a tie; 406 when neither is acceptable."""
    if not accept.strip():
        return False
    weights: dict[str, tuple[int, float]] = {}  # offered type -> (specificity, q)
    for item in accept.split(","):
        media, *parameters = (part.strip().lower() for part in item.split(";"))
        q = 1.0
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = -1.0
        if not 0.0 <= q <= 1.0:
            continue  # a malformed weight: the range counts for nothing
        for offered in _OFFERED:
            kind = offered.split("/")[0]
            specificity = {offered: 2, f"{kind}/*": 1, "*/*": 0}.get(media)
            if specificity is not None and specificity >= weights.get(offered, (-1, 0.0))[0]:
                weights[offered] = (specificity, q)
    json_q = weights.get("application/json", (0, 0.0))[1]
    csv_q = weights.get("text/csv", (0, 0.0))[1]
    if json_q <= 0 and csv_q <= 0:
        raise ApiError(406, "this resource is application/json or text/csv")
    return csv_q > json_q


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such path, method not allowed) in our body."""
    assert isinstance(exc, HTTPException)
    messages = {404: "no such resource", 405: "method not allowed"}
    return error_response(exc.status_code, messages.get(exc.status_code, exc.detail),
                          exc.headers)


async def _store_error(request: Request, exc: Exception) -> Response:
    log.error("api.store_error", error=str(exc))
    return error_response(503, "the store cannot be read now; try again later")


async def _server_error(request: Request, exc: Exception) -> Response:
    return error_response(500, "internal error")
