"""The Onboarding API client: one POST per customer, timeouts and 5xx retried with back-off,
and every answer turned into an :class:`Outcome` an operator can act on.
"""

from __future__ import annotations

import asyncio
import enum
import json
import random
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import httpx
import structlog
from pydantic import ValidationError

from fillcapture.config import OnboardingSettings
from fillcapture.onboarding.models import OnboardingRequest, OnboardingResponse
from fillcapture.urls import masked

log = structlog.get_logger(__name__)

BACKOFF_CAP = 30.0  # seconds: one wait never grows past this
_DETAIL_LIMIT = 300  # characters of a server's error text worth a line
_MASK = "********"

_STATUS_TEXT = {
    400: "rejected as invalid (400 Bad Request)",
    401: "authentication failed (401 Unauthorized): check [onboarding] api_key",
    404: "not found (404 Not Found): check [onboarding] url and the template account",
    409: "already exists (409 Conflict: the username, or the account); not retried",
}


class Status(enum.StrEnum):
    CREATED = "created"
    VERIFY = "verify"
    FAILED = "failed"


@dataclass(frozen=True)
class Outcome:
    """What one onboarding call came to.

    ``CREATED``: T4 answered 200 (``response`` is ``None`` only if its body could
    not be read). ``VERIFY``: a 409 after an earlier attempt whose fate is unknown
    (timed out, cut off, 5xx), so the user was probably created by that attempt.
    ``FAILED``: anything else; ``message`` says why, with the server's detail.
    """

    status: Status
    message: str
    http_status: int | None = None
    response: OnboardingResponse | None = None
    attempts: int = 1


class OnboardingClient:
    """``async with OnboardingClient(settings) as client: await client.onboard(request)``."""

    def __init__(self, settings: OnboardingSettings) -> None:
        if settings.api_key is None or not settings.api_key.get_secret_value():
            raise ValueError("onboarding.api_key: required to call the Onboarding API")
        self.settings = settings
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Self:
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(self.settings.timeout),
            headers=_auth_headers(self.settings) | {"Accept": "application/json"},
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def onboard(self, request: OnboardingRequest) -> Outcome:
        """Send ``request``; retry timeouts, transport errors and 5xx, never 4xx."""
        if self._http is None:
            raise RuntimeError("use the client inside `async with`")
        password = request.user.password.get_secret_value()
        body = request.payload()
        tries = self.settings.retries + 1
        # True once an attempt may have reached T4 without our seeing its answer.
        unsure = False
        problem = ""
        bound = log.bind(username=request.user.username, account=request.account.account)
        for attempt in range(1, tries + 1):
            if attempt > 1:
                await asyncio.sleep(self._backoff(attempt - 1))
            try:
                answer = await self._http.post(self.settings.url, json=body)
            except httpx.TransportError as exc:
                sent = not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
                unsure = unsure or sent
                problem = _transport_text(exc, self.settings.timeout)
                bound.warning("onboarding.attempt_failed", attempt=attempt, problem=problem)
                continue
            code = answer.status_code
            detail = _detail(answer, password)
            if code == 200:
                return _created(answer, attempt)
            if code >= 500:
                unsure = True
                problem = f"server error ({code}): {detail}"
                bound.warning("onboarding.attempt_failed", attempt=attempt, problem=problem)
                continue
            if code == 409 and unsure:
                return Outcome(
                    Status.VERIFY,
                    "username already exists (409) after an earlier attempt got no answer: "
                    "probably created by the earlier attempt — verify in T4 "
                    f"({detail})",
                    code,
                    attempts=attempt,
                )
            text = _STATUS_TEXT.get(code, f"unexpected answer (HTTP {code})")
            return Outcome(Status.FAILED, f"{text}: {detail}", code, attempts=attempt)
        warning = (
            "; an attempt may have reached T4: verify whether the user exists before sending again"
            if unsure
            else ""
        )
        return Outcome(
            Status.FAILED, f"gave up after {tries} attempt(s): {problem}{warning}", attempts=tries
        )

    def _backoff(self, retry: int) -> float:
        """Exponential back-off with jitter, so a batch does not retry in lock step."""
        ceiling = min(BACKOFF_CAP, self.settings.backoff_base * 2.0 ** (retry - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def _auth_headers(settings: OnboardingSettings) -> dict[str, str]:
    assert settings.api_key is not None
    key = settings.api_key.get_secret_value()
    if settings.api_key_header.lower() == "authorization":
        return {"Authorization": f"Bearer {key}"}
    return {settings.api_key_header: key}


def _created(answer: httpx.Response, attempts: int) -> Outcome:
    try:
        response = OnboardingResponse.model_validate_json(answer.content)
    except ValidationError as exc:
        # T4 created the user; a body we cannot read must not turn that into a failure.
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        return Outcome(
            Status.CREATED,
            f"created (200), but the response could not be read ({where}: {first['msg']})",
            200,
            attempts=attempts,
        )
    return Outcome(Status.CREATED, "created", 200, response, attempts)


def _transport_text(exc: httpx.TransportError, timeout: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g} s ({type(exc).__name__})"
    return masked(f"{type(exc).__name__}: {exc}") if str(exc) else type(exc).__name__


def _detail(answer: httpx.Response, password: str) -> str:
    """The server's explanation in one line, any echo of the password masked."""
    try:
        text = _json_detail(answer.json())
    except (json.JSONDecodeError, UnicodeDecodeError):
        text = " ".join(answer.text.split())
    text = text or answer.reason_phrase or "no detail given"
    if password:
        text = text.replace(password, _MASK)
    text = masked(text)
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 3] + "..."


def _json_detail(data: Any, depth: int = 0) -> str:
    """Messages found under the usual error keys, whatever the envelope's shape."""
    if depth > 6:
        return ""
    if isinstance(data, str):
        return data
    if isinstance(data, list):
        return "; ".join(filter(None, (_json_detail(item, depth + 1) for item in data)))
    if not isinstance(data, dict):
        return ""
    if "path" in data and "message" in data:
        return f"{data['path']}: {data['message']}"
    parts = []
    for key in ("result", "value", "title", "message", "detail", "error", "errors"):
        if key not in data:
            continue
        value = data[key]
        if key == "errors" and isinstance(value, dict):
            # ASP.NET style: {"field": ["message", ...]}
            parts += [f"{field}: {_json_detail(msgs, depth + 1)}" for field, msgs in value.items()]
        else:
            parts.append(_json_detail(value, depth + 1))
    return "; ".join(dict.fromkeys(part for part in parts if part))
