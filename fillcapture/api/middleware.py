"""The ASGI layers around every API request: headers, a request limit, the access log."""

from __future__ import annotations

import time
from collections.abc import Sequence

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fillcapture.api.errors import RESPONSE_HEADERS, error_response
from fillcapture.api.forwarded import Network, forwarded_client
from fillcapture.api.guard import RateLimitedLog

log = structlog.get_logger(__name__)


class ResponseHeaders:
    """Every response: never cached (it holds a user's fills), never
    content-sniffed (a CSV is not a page to render)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in RESPONSE_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, sending)


class RequestLimit:
    """At most ``limit`` requests answered at once; beyond, 503 at once,
    without reading the store (``refused`` logs them, rate-limited)."""

    def __init__(self, app: ASGIApp, limit: int, refused: RateLimitedLog) -> None:
        self.app = app
        self.limit = limit
        self.refused = refused
        self.running = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.running >= self.limit:
            self.refused(reason="max_requests", max_requests=self.limit)
            response = error_response(503, "too many requests at once; try again shortly",
                                      {"Retry-After": "1"})
            await response(scope, receive, send)
            return
        self.running += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.running -= 1


class AccessLog:
    """One ``api.request`` log event per request: method, path, status, time,
    the client's address (``client``, the direct peer; ``forwarded_for``, the
    address a trusted proxy names), and who asked: the token's holder
    (``reader``; an operator's also as ``operator``) and the user whose data
    was read (``user``). Never the token, nor the query string."""

    def __init__(self, app: ASGIApp, trusted_proxies: Sequence[Network] = ()) -> None:
        self.app = app
        self.trusted = tuple(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            state = scope.get("state", {})
            peer = scope.get("client")
            client = None if peer is None else peer[0]
            header = ",".join(value.decode("latin-1") for name, value in scope["headers"]
                              if name == b"x-forwarded-for")
            forwarded = forwarded_client(client, header, self.trusted)
            who = {"reader": state.get("reader"), "user": state.get("user")}
            if state.get("operator"):
                who["operator"] = state["reader"]
            log.info("api.request", method=scope["method"], path=scope["path"], status=status,
                     ms=round((time.perf_counter() - started) * 1000, 1), client=client,
                     **({} if forwarded is None else {"forwarded_for": forwarded}), **who)
