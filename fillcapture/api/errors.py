"""The API's errors: one JSON body for every refusal, ``{"error": CODE, "message": TEXT}``.

The message speaks only of the request itself: what a parameter must look
like, that a token is needed. It never says whether another user or another
user's account exists.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import JSONResponse

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    500: "internal_error",
    503: "unavailable",
}
"""The ``error`` code of each status the API answers with."""

RESPONSE_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
"""On every response, errors included: a user's fills are never cached by a
proxy or browser, and no body is sniffed into another type than it says."""


class ApiError(Exception):
    """Answer the request with ``status`` and this message."""

    def __init__(self, status: int, message: str,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def error_response(status: int, message: str,
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    code = CODES.get(status, "bad_request" if status < 500 else "internal_error")
    return JSONResponse({"error": code, "message": message}, status_code=status,
                        headers=RESPONSE_HEADERS | dict(headers or {}))
