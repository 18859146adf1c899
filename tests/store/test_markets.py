"""Markets' terms from T4's market details, kept in the store."""

from __future__ import annotations

from decimal import Decimal

from fillcapture.model import Market
from fillcapture.store import Store

ES = Market("XCME_Eq ES (Z26)", "XCME_Eq", "ES", Decimal("50"))
CL = Market("XNYM_En CL (F27)", "XNYM_En", "CL", Decimal("1000"))


async def test_markets_are_saved_and_only_changes_count(store: Store) -> None:
    assert await store.markets() == {}
    assert await store.save_markets([ES, CL]) == 2
    assert await store.save_markets([ES, CL]) == 0
    changed = Market(ES.market_id, ES.exchange_id, ES.contract_id, Decimal("12.5"))
    assert await store.save_markets([changed, CL]) == 1
    assert await store.markets() == {ES.market_id: changed, CL.market_id: CL}


async def test_point_values_keep_every_digit(store: Store) -> None:
    fine = Market("XCME_FX 6E (Z26)", "XCME_FX", "6E", Decimal("125000.000000000000000001"))
    await store.save_markets([fine])
    assert (await store.markets())[fine.market_id].point_value == fine.point_value
