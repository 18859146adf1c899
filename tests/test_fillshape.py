"""Every public form of a stored fill lists exactly the fields
``fillcapture.fillshape`` declares, in its order: the MQTT messages, the
API's JSON and OpenAPI schema, and the CSV and Parquet columns."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import AsyncIterator, Iterable
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fillcapture.api import openapi
from fillcapture.api.app import fill_object
from fillcapture.exports import FILL_COLUMNS, fill_row, write_csv, write_parquet
from fillcapture.fillshape import COLUMNS, FIELDS, FillField
from fillcapture.model import Bust
from fillcapture.publish.mqtt import bust_message, fill_message
from fillcapture.publish.schema import BustMessage, FillMessage
from fillcapture.store import FillQuery, Owner, StoredFill, columns
from tests.conftest import store_at
from tests.store.factories import make_fill

DECLARED = [field.name for field in FIELDS]
COLUMN_NAMES = [field.name for field in COLUMNS]


async def _each(fills: Iterable[StoredFill]) -> AsyncIterator[StoredFill]:
    for fill in fills:
        yield fill


@pytest.fixture
async def stored(tmp_path: Path) -> list[StoredFill]:
    """An outright fill, a placed leg and a busted fill of nobody, as a real store reads them."""
    busted = make_fill(3, account="55555", account_id="acc-55555", side=None)
    async with store_at(tmp_path / "fills.db") as store:
        await store.seed_registry([Owner("A", None, "11111")])
        await store.insert_fills([make_fill(1), make_fill(2, leg_index=0), busted])
        await store.insert_busts([Bust(busted, busted.exchange_time + timedelta(minutes=1))])
        return [fill async for fill in store.fills(FillQuery(include_busted=True))]


def test_the_declaration_is_of_stored_fill_attributes() -> None:
    attributes = {f.name for f in dataclasses.fields(StoredFill)}
    assert set(DECLARED) - attributes == {"fill_id"}  # the identity as text, computed
    assert COLUMN_NAMES == ["user", "firm", "account", "order_id", "exchange_trade_id",
                            "leg_index", "market_id", "side", "volume", "price",
                            "exchange_time", "trade_date", "busted", "kind"]


def test_the_store_keeps_every_declared_field_in_a_column() -> None:
    assert set(columns.KEPT) | set(columns.COMPUTED) == set(DECLARED)
    assert [f.name for f in dataclasses.fields(StoredFill)] == ["user", *columns.SELECTED_FIELDS]
    assert columns.SELECT_COLUMNS[:len(columns.KEPT)] == tuple(
        columns.KEPT[name] for name in DECLARED if name in columns.KEPT)
    columns.check()  # the declaration as it is passes


def test_a_field_declared_without_a_store_column_is_refused() -> None:
    fee = FillField("fee", str, {"type": "string"})
    with pytest.raises(AssertionError, match=r"without a store column: \['fee'\]"):
        columns.check((*FIELDS, fee), StoredFill)


def test_a_stored_fill_out_of_the_declared_order_is_refused() -> None:
    @dataclasses.dataclass
    class Swapped:
        user: str
        account: str
        firm: str

    with pytest.raises(AssertionError, match="not the owner and then the kept fields"):
        columns.check(FIELDS, Swapped)


def test_the_messages_have_the_declared_fields(stored: list[StoredFill]) -> None:
    assert list(FillMessage.model_fields) == DECLARED
    assert list(BustMessage.model_fields) == [*DECLARED, "busted_at"]
    for fill in stored:
        assert list(fill_message(fill).model_dump()) == DECLARED
        message = bust_message(fill, fill.exchange_time)
        assert list(message.model_dump(mode="json")) == [*DECLARED, "busted_at"]
        again = BustMessage.model_validate_json(message.model_dump_json())
        assert again.to_fill().order_id == fill.order_id


def test_the_api_json_and_schema_have_the_declared_fields(stored: list[StoredFill]) -> None:
    schema = openapi.document("0")["components"]["schemas"]["Fill"]
    assert list(schema["properties"]) == DECLARED
    assert schema["required"] == DECLARED
    for fill in stored:
        assert list(fill_object(fill)) == DECLARED
        assert list(FillMessage.model_validate(fill_object(fill)).model_dump()) == DECLARED


async def test_the_files_have_the_declared_columns(stored: list[StoredFill],
                                                   tmp_path: Path) -> None:
    assert list(FILL_COLUMNS) == COLUMN_NAMES
    out = io.StringIO()
    assert await write_csv(_each(stored), out) == len(stored)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == COLUMN_NAMES
    assert [len(row) for row in rows[1:]] == [len(COLUMN_NAMES)] * len(stored)
    assert all(list(fill_row(fill)) == COLUMN_NAMES for fill in stored)
    path = tmp_path / "fills.parquet"
    assert await write_parquet(_each(stored), path) == len(stored)
    table = pq.read_table(path)
    assert table.schema.names == COLUMN_NAMES
    assert table.num_rows == len(stored)
