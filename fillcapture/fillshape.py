"""The public shape of a stored fill: its fields, declared once.

A stored fill leaves fillcapture in four forms: the MQTT fill message
(:mod:`fillcapture.publish.schema`), the API's JSON and its OpenAPI schema
(:mod:`fillcapture.api`), and the columns of ``fillcapture fills``, CSV and
Parquet (:mod:`fillcapture.exports`). Each is derived from :data:`FIELDS`, so
a new field is one more entry here, and every form lists the same fields in
the same order.

Each entry says what the field is in each form: its type and constraints in
the message (a pydantic annotation), its JSON schema in the API document, and,
for the fields that are file columns, its place among them and its Parquet
type. Values are read from any object with the attributes of
:class:`PublicFill` (the store's ``StoredFill``); this module imports nothing
of the store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from operator import attrgetter
from typing import Any, Literal, Protocol, get_args

from fillcapture.model import Side

FillKind = Literal["outright", "leg", "pending_leg", "spread"]
"""What a stored fill is to positions: see ``kind`` in :data:`FIELDS`."""

PRICE_PATTERN = r"^-?[0-9]{1,18}(\.[0-9]{1,18})?$"
"""A T4 price as text: at most 18 digits either side of the point."""

_TEXT_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


class PublicFill(Protocol):
    """The attributes a stored fill offers to every public form of it."""

    @property
    def user(self) -> str | None: ...
    @property
    def firm(self) -> str: ...
    @property
    def account(self) -> str: ...
    @property
    def account_id(self) -> str: ...
    @property
    def order_id(self) -> str: ...
    @property
    def exchange_trade_id(self) -> str: ...
    @property
    def sequence_order(self) -> int: ...
    @property
    def leg_index(self) -> int | None: ...
    @property
    def market_id(self) -> str: ...
    @property
    def side(self) -> Side | None: ...
    @property
    def volume(self) -> int: ...
    @property
    def price(self) -> str: ...
    @property
    def exchange_time(self) -> datetime: ...
    @property
    def trade_date(self) -> date: ...
    @property
    def busted(self) -> bool: ...
    @property
    def captured_at(self) -> datetime: ...
    @property
    def kind(self) -> str: ...
    @property
    def spread_market_id(self) -> str | None: ...
    @property
    def trade_key(self) -> str: ...


def fill_id(firm: str, order_id: str, trade_key: str, leg_index: int | None) -> str:
    """``firm/order_id/trade_key[/leg]``: the fill identity (T4_API_V1 §8) as text."""
    text = f"{firm}/{order_id}/{trade_key}"
    return text if leg_index is None else f"{text}/{leg_index}"


@dataclass(frozen=True, slots=True)
class Column:
    """A field's place among the file columns (0 first) and its Parquet type:
    ``arrow`` names an Arrow type in :func:`fillcapture.exports.write_parquet`."""

    position: int
    arrow: str
    nullable: bool = False


@dataclass(frozen=True, slots=True)
class FillField:
    """One public field of a stored fill.

    ``message`` is its type in the MQTT message and ``constraints`` the
    pydantic ``Field`` arguments checking it (``default`` included where the
    field may be left out). ``schema`` is its JSON schema in the OpenAPI
    document, ``description`` what that document says of it (nothing if
    empty). ``column``: where it is a column of ``fillcapture fills``.
    ``read`` takes its value from a fill, as the message carries it.
    """

    name: str
    message: Any
    schema: Mapping[str, Any]
    description: str = ""
    constraints: Mapping[str, Any] = field(default_factory=dict)
    column: Column | None = None
    read: Callable[[PublicFill], Any] | None = None

    def api_schema(self) -> dict[str, Any]:
        """Its JSON schema in the OpenAPI document, description last."""
        schema = dict(self.schema)
        if self.description:
            schema["description"] = self.description
        return schema


_TEXT = {"type": "string"}
_REQUIRED_TEXT = {"min_length": 1}
_TIME = {"type": "string", "format": "date-time"}

FIELDS: tuple[FillField, ...] = (
    FillField("fill_id", str, {"type": "string", "minLength": 1},
              "firm/order_id/trade_key[/leg_index]: the fill's identity, as in the MQTT "
              "messages", _REQUIRED_TEXT,
              read=lambda f: fill_id(f.firm, f.order_id, f.trade_key, f.leg_index)),
    FillField("firm", str, _TEXT, constraints=_REQUIRED_TEXT, column=Column(1, "string")),
    FillField("user", str | None, {"type": ["string", "null"]}, "the fill's owner now",
              {"default": None}, Column(0, "string", nullable=True)),
    FillField("account", str, _TEXT, constraints=_REQUIRED_TEXT, column=Column(2, "string")),
    FillField("account_id", str, _TEXT, constraints=_REQUIRED_TEXT),
    FillField("order_id", str, _TEXT, constraints=_REQUIRED_TEXT, column=Column(3, "string")),
    FillField("exchange_trade_id", str, _TEXT, column=Column(4, "string")),
    FillField("sequence_order", int, {"type": "integer"}),
    FillField("leg_index", int | None, {"type": ["integer", "null"], "minimum": 0},
              "a spread leg's index; null for an outright fill", {"default": None, "ge": 0},
              Column(5, "int32", nullable=True)),
    FillField("market_id", str, _TEXT, column=Column(6, "string")),
    FillField("side", Literal["BUY", "SELL"] | None, {"enum": ["BUY", "SELL", None]},
              "null while the fill's order is unknown", column=Column(7, "string", nullable=True),
              read=lambda f: None if f.side is None else f.side.value),
    FillField("volume", int, {"type": "integer", "minimum": 1}, constraints={"gt": 0},
              column=Column(8, "int64")),
    FillField("price", str, {"type": "string", "pattern": PRICE_PATTERN},
              "exact decimal, as T4 sent it", {"pattern": PRICE_PATTERN}, Column(9, "decimal")),
    FillField("exchange_time", datetime, _TIME, column=Column(10, "timestamp")),
    FillField("trade_date", date, {"type": "string", "format": "date"},
              column=Column(11, "date32")),
    FillField("busted", bool, {"type": "boolean"}, constraints={"default": False},
              column=Column(12, "bool")),
    FillField("captured_at", datetime | None, _TIME, constraints={"default": None}),
    # What the fill is to positions; a message from before had none, and a
    # fill with a leg index is then a leg not placed.
    FillField("kind", FillKind | None, {"enum": ["outright", "leg", "pending_leg", "spread"]},
              "leg: a spread leg on its own contract and side; pending_leg: a leg whose "
              "spread is not defined yet (the spread's market, no side); spread: the "
              "spread-level trade of an order with legs, never a position",
              {"default": None}, Column(13, "string")),
    FillField("spread_market_id", str | None, {"type": ["string", "null"]},
              "a leg's spread market; null otherwise", {"default": None}),
)
"""Every public field of a stored fill, in the order of the message and the API's JSON."""

COLUMNS: tuple[FillField, ...] = tuple(sorted(
    (f for f in FIELDS if f.column is not None),
    key=lambda f: f.column.position if f.column is not None else 0))
"""The fields that are columns of ``fillcapture fills`` (CSV, Parquet, table), in column order."""

COLUMN_NAMES: tuple[str, ...] = tuple(f.name for f in COLUMNS)


Reader = Callable[[PublicFill], Any]
"""Takes one field's value, in one form, from a fill."""


def reader(declared: FillField) -> Reader:
    """``declared``'s value as in the MQTT message: a C-level attribute lookup
    where it is a plain attribute (these run for every fill of every page,
    export and message)."""
    return declared.read if declared.read is not None else attrgetter(declared.name)


def _is(annotation: Any, kind: type) -> bool:
    """Whether ``annotation`` is ``kind`` or a union holding it."""
    return annotation is kind or kind in get_args(annotation)


def utc_text(moment: datetime) -> str:
    """``2026-11-23T15:04:05.123456Z``."""
    return moment.astimezone(UTC).strftime(_TEXT_TIME)


def _json_reader(declared: FillField) -> Reader:
    """``declared``'s reader for the API's JSON: times as :func:`utc_text`,
    dates ``YYYY-MM-DD``; made for its type, so a row costs no type tests."""
    read, kind = reader(declared), declared.message
    if _is(kind, datetime):
        return lambda fill: None if (value := read(fill)) is None else utc_text(value)
    if _is(kind, date):
        return lambda fill: None if (value := read(fill)) is None else value.isoformat()
    return read


def _text_reader(declared: FillField) -> Reader:
    """``declared``'s reader for a cell of ``fillcapture fills``: nothing as
    ``""``, times ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, dates ``YYYY-MM-DD``."""
    read, kind = reader(declared), declared.message
    if _is(kind, datetime):
        return lambda fill: "" if (value := read(fill)) is None else value.strftime(_TEXT_TIME)
    if _is(kind, date):
        return lambda fill: "" if (value := read(fill)) is None else value.isoformat()
    if _is(kind, type(None)):
        return lambda fill: "" if (value := read(fill)) is None else value
    return read


# Each form as (name, reader) pairs, made once: a row is then one pass.
_MESSAGE = tuple((f.name, reader(f)) for f in FIELDS)
_JSON = tuple((f.name, _json_reader(f)) for f in FIELDS)
_TEXT_ROW = tuple((f.name, _text_reader(f)) for f in COLUMNS)


def message_fields(fill: PublicFill) -> dict[str, Any]:
    """``fill``'s MQTT message fields: its owner and bust flag as of now."""
    return {name: read(fill) for name, read in _MESSAGE}


def json_object(fill: PublicFill) -> dict[str, Any]:
    """``fill`` as the API's JSON: the message fields, times and dates as text."""
    return {name: read(fill) for name, read in _JSON}


def text_row(fill: PublicFill) -> dict[str, Any]:
    """``fill`` as the text-ready row of ``fillcapture fills`` (CSV, JSON, table)."""
    return {name: read(fill) for name, read in _TEXT_ROW}


def _check() -> None:
    """The declaration is whole: names unique, column places 0, 1, 2, ... ."""
    names = [f.name for f in FIELDS]
    if len(set(names)) != len(names):
        raise AssertionError(f"fill fields declared twice: {names}")
    places = [f.column.position for f in COLUMNS if f.column is not None]
    if places != list(range(len(places))):
        raise AssertionError(f"fill columns not numbered 0..n-1: {places}")


_check()
