"""Fee schedules in the store: kept by key, replaced, removed, seeded; on both engines."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from fillcapture.fees import FeeSchedule
from fillcapture.model import Side
from fillcapture.store import Store, StoreError
from fillcapture.store.tables import BY_NAME

START = date(2026, 11, 2)


def fee(component: str, amount: str, *, start: date = START, currency: str = "USD",
        **scope: Any) -> FeeSchedule:
    return FeeSchedule(component, Decimal(amount), currency, start, **scope)


async def test_set_replace_remove_round_trip_with_exact_amounts(store: Store) -> None:
    open_scope = fee("commission", "1.250")
    narrow = fee("commission", "0.85", exchange="CME_Eq", contract="ES", account="11111",
                 user="A", side=Side.SELL)
    later = fee("commission", "0.000001", start=date(2026, 12, 1))
    clearing = fee("clearing", "0.10", currency="EUR", exchange="EUREX")
    assert await store.fee_schedules() == []

    for schedule in (open_scope, narrow, later, clearing):
        assert await store.set_fee_schedule(schedule) is True
    assert await store.set_fee_schedule(open_scope) is False  # the same again changes nothing

    found = await store.fee_schedules()
    assert found == sorted([open_scope, narrow, later, clearing], key=lambda s: s.key)
    assert [str(s.amount) for s in found] == ["0.10", "1.250", "0.000001", "0.85"]
    assert found[3].side is Side.SELL
    assert found[3].user == "A"
    assert found[0].contract is None

    # The same key with another amount or currency replaces it, in place.
    assert await store.set_fee_schedule(fee("commission", "1.5")) is True
    assert await store.set_fee_schedule(fee("commission", "1.5", currency="CAD")) is True
    found = await store.fee_schedules()
    assert len(found) == 4
    assert (found[1].amount, found[1].currency) == (Decimal("1.5"), "CAD")

    assert await store.remove_fee_schedule(narrow.key) is True
    assert await store.remove_fee_schedule(narrow.key) is False
    assert await store.remove_fee_schedule(fee("commission", "1", start=date(2026, 11, 3)).key) \
        is False
    assert [s.key for s in await store.fee_schedules()] == [clearing.key, open_scope.key,
                                                           later.key]


async def test_seed_adds_the_absent_and_never_overwrites(store: Store) -> None:
    await store.set_fee_schedule(fee("commission", "2.00"))  # changed with the CLI

    added = await store.seed_fee_schedules([fee("commission", "1.00"),
                                            fee("exchange", "1.18", exchange="CME_Eq")])
    assert added == 1
    assert await store.seed_fee_schedules([fee("commission", "1.00"),
                                           fee("exchange", "9", exchange="CME_Eq")]) == 0
    assert {s.component: str(s.amount) for s in await store.fee_schedules()} == {
        "commission": "2.00", "exchange": "1.18"}
    assert await store.seed_fee_schedules([]) == 0


async def test_a_stored_row_that_is_no_schedule_is_a_store_error(store: Store) -> None:
    await store.write_rows(BY_NAME["fee_schedules"], [
        ("commission", "CME_Eq", "", "", "", "", START, "abc", "USD",
         datetime(2026, 11, 2, tzinfo=UTC))])

    with pytest.raises(StoreError, match=r"fee_schedules row \(commission, CME_Eq.*'abc'") as got:
        await store.fee_schedules()
    assert got.value.permanent

    await store.write_rows(BY_NAME["fee_schedules"], [
        ("commission", "CME_Eq", "", "", "", "", START, "1", "usd",
         datetime(2026, 11, 2, tzinfo=UTC))])
    with pytest.raises(StoreError, match="three capital letters"):
        await store.fee_schedules()
