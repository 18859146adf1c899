"""Query parameters, read strictly as the OpenAPI document declares them.

Anything the document would reject is refused with 400 naming the parameter,
rather than read loosely: ``limit=1.0``, ``include_busted=yes`` or a time
without a UTC offset are errors, never guesses.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from starlette.datastructures import QueryParams

from fillcapture.api.errors import ApiError
from fillcapture.store import FillPosition

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# RFC 3339 date-time, as OpenAPI's format means it: an offset is required.
_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})")
_INTEGER = re.compile(r"-?[0-9]{1,18}")
_CURSOR = re.compile(r"(-?[0-9]{1,18})\.([0-9]{1,18})")

DEFAULT_LIMIT = 500
MAX_LIMIT = 5000
"""Fills per page: the default, and the most a client may ask for."""

MAX_ROW = 2**63 - 1
"""The largest row number a store position holds (a signed 64-bit integer)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _micros(moment: datetime) -> int:
    """An aware time as whole microseconds since the Unix epoch, for a cursor."""
    return (moment - _EPOCH) // _MICROSECOND


def _moment(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


class Params:
    """A request's query string; each reader returns ``None`` for an absent parameter."""

    def __init__(self, params: QueryParams) -> None:
        self._params = params

    def text(self, name: str) -> str | None:
        value = self._params.get(name)
        if value is not None and not value:
            raise ApiError(400, f"{name}: must not be empty")
        return value

    def choice(self, name: str, choices: Sequence[str]) -> str | None:
        value = self._params.get(name)
        if value is not None and value not in choices:
            raise ApiError(400, f"{name}: must be one of {', '.join(choices)}")
        return value

    def date(self, name: str) -> date | None:
        value = self._params.get(name)
        if value is None:
            return None
        try:
            if not _DATE.fullmatch(value):
                raise ValueError
            return date.fromisoformat(value)
        except ValueError:
            raise ApiError(400, f"{name}: must be a date, YYYY-MM-DD") from None

    def time(self, name: str) -> datetime | None:
        """An RFC 3339 time with its offset, in UTC; fractions beyond microseconds cut."""
        value = self._params.get(name)
        if value is None:
            return None
        try:
            if not _TIME.fullmatch(value):
                raise ValueError
            text = value.upper().replace("Z", "+00:00")
            head, dot, rest = text.partition(".")
            if dot:  # Python takes at most six fraction digits
                digits = rest[:-6]
                text = f"{head}.{digits[:6].ljust(6, '0')}{rest[-6:]}"
            return datetime.fromisoformat(text).astimezone(UTC)
        except (ValueError, OverflowError):
            raise ApiError(400, f"{name}: must be a date-time with its UTC offset, "
                                "e.g. 2026-11-23T15:04:05Z") from None

    def boolean(self, name: str, default: bool) -> bool:
        value = self._params.get(name)
        if value is None:
            return default
        if value not in ("true", "false"):
            raise ApiError(400, f"{name}: must be true or false")
        return value == "true"

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self._params.get(name)
        if value is None:
            return default
        if not _INTEGER.fullmatch(value) or not low <= int(value) <= high:
            raise ApiError(400, f"{name}: must be an integer from {low} to {high}")
        return int(value)

    def cursor(self, name: str) -> FillPosition | None:
        value = self._params.get(name)
        return None if value is None else decode_cursor(value, name)


def encode_cursor(key: FillPosition) -> str:
    """An opaque cursor: the key's time in microseconds and its row, base64url."""
    text = f"{_micros(key.exchange_time)}.{key.row}"
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def decode_cursor(value: str, name: str = "cursor") -> FillPosition:
    """The key of a cursor :func:`encode_cursor` made; 400 for anything else."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
        match = _CURSOR.fullmatch(raw)
        if match is None or not value.isascii():
            raise ValueError
        row = int(match[2])
        if row > MAX_ROW or encode_cursor(FillPosition(_moment(int(match[1])), row)) != value:
            raise ValueError
        return FillPosition(_moment(int(match[1])), row)
    except (ValueError, OverflowError, binascii.Error):
        raise ApiError(400, f"{name}: not a cursor of this API; pass next_cursor "
                            "unchanged") from None
