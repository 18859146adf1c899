"""The request limit and the rate-limited log, on their own: requests held in
flight by an application that waits, and a burst of events on a real loop."""

from __future__ import annotations

import asyncio

import httpx
import structlog
from starlette.types import Receive, Scope, Send

from fillcapture.api.guard import RateLimitedLog
from fillcapture.api.middleware import RequestLimit, ResponseHeaders


async def test_requests_beyond_the_limit_are_503_at_once() -> None:
    release = asyncio.Event()
    entered = 0

    async def waiting(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal entered
        entered += 1
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    refused = RateLimitedLog("api.requests_refused", 60.0)
    app = ResponseHeaders(RequestLimit(waiting, 2, refused))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        with structlog.testing.capture_logs() as logged:
            held = [asyncio.create_task(client.get("/v1/fills")) for _ in range(2)]
            while entered < 2:
                await asyncio.sleep(0.01)
            extra = [await client.get("/v1/fills") for _ in range(3)]
            release.set()
            answered = await asyncio.gather(*held)
            after = await client.get("/v1/fills")
            refused.close()
    assert [r.status_code for r in extra] == [503, 503, 503]
    assert extra[0].json()["error"] == "unavailable"
    assert extra[0].headers["retry-after"] == "1"
    assert extra[0].headers["cache-control"] == "no-store"
    assert [r.status_code for r in answered] == [200, 200]
    assert after.status_code == 200
    assert entered == 3
    assert [(e["event"], e["count"]) for e in logged] == [
        ("api.requests_refused", 1), ("api.requests_refused", 2)]


async def test_a_burst_is_one_line_then_one_per_interval_with_its_count() -> None:
    burst = RateLimitedLog("api.accept_failed", 0.2)
    with structlog.testing.capture_logs() as logged:
        for _ in range(1000):
            burst(error="[Errno 24] Too many open files")
        await asyncio.sleep(0.3)
        for _ in range(10):
            burst(error="[Errno 24] Too many open files")
        await asyncio.sleep(0.5)
        burst.close()
    assert [e["count"] for e in logged] == [1, 999, 10]
    assert all(e["error"] == "[Errno 24] Too many open files" for e in logged)
