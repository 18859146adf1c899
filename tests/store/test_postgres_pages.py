"""A page of fills on PostgreSQL: its row ids come from the index alone, and
every run of the page's statement is planned for its own values.

``GET /v1/fills`` asks for one account's trade dates, 500 fills at a time.
The page's first step (which rows) is answered by ``fills_account_date``
without visiting the table; the table is read for the page's rows only. The
plans are a PostgreSQL engine's choice, so they are checked with EXPLAIN on
a real cluster.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from fillcapture.store import FillPosition, FillQuery, Owner, open_store
from fillcapture.store._postgres.engine import PostgresStore
from fillcapture.store._postgres.selects import page_select
from tests.store.factories import DAY, make_fill


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += _nodes(child)
    return found


async def test_the_page_rows_are_chosen_from_the_index_alone(postgres_url: str) -> None:
    days = [DAY - timedelta(days=n) for n in range(20)]
    async with open_store(postgres_url) as store:
        await store.seed_registry([Owner("U", None, "11111")])
        await store.insert_fills([make_fill(n, trade_date=days[n % 20]) for n in range(4000)])
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute("VACUUM (ANALYZE) fills")  # as autovacuum does after inserts
    finally:
        await conn.close()
    query = FillQuery(user="U", account="11111", since=days[9], until=days[0],
                      include_busted=False)
    async with open_store(postgres_url, readonly=True) as store:
        assert isinstance(store, PostgresStore)
        first = await store.fill_page(query, None, 500)
        assert first.next is not None
        for after in (None, first.next):
            sql, args = page_select(query, after, 501)
            (plan,) = json.loads(await store._value(
                f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args))
            scans = {(node["Node Type"], node.get("Relation Name"), node.get("Index Name"))
                     for node in _nodes(plan["Plan"]) if node.get("Relation Name") == "fills"}
            assert ("Index Only Scan", "fills", "fills_account_date") in scans, scans
            # The table itself is read by row id, for the page's rows only.
            table = [node for node in _nodes(plan["Plan"])
                     if node.get("Relation Name") == "fills"
                     and node["Node Type"] != "Index Only Scan"]
            assert all(node.get("Index Name") == "fills_pkey" for node in table), table
            assert sum(node["Actual Rows"] * node["Actual Loops"] for node in table) == 501


@pytest.mark.parametrize("readonly", [False, True], ids=["read-write", "read-only"])
async def test_each_run_of_a_read_is_planned_for_its_values(postgres_url: str,
                                                            readonly: bool) -> None:
    """A prepared statement's generic plan, which PostgreSQL would take from
    the sixth run on, cannot use the values of a page's cursor: the
    read-only processes (the API's) plan each run. The capture path keeps
    generic plans, which spare it planning at every commit."""
    async with open_store(postgres_url) as store:
        await store.insert_fills([make_fill(n) for n in range(700)])
    async with open_store(postgres_url, readonly=readonly) as store:
        assert isinstance(store, PostgresStore)
        assert await store._value("SHOW plan_cache_mode") == (
            "force_custom_plan" if readonly else "auto")
        query = FillQuery(account="11111", since=DAY, until=DAY)
        page = await store.fill_page(query, None, 100)
        pages = [await store.fill_page(query, page.next, 100) for _ in range(8)]
        assert all(p.fills == pages[0].fills for p in pages)
        assert isinstance(page.next, FillPosition)
        assert pages[0].fills[0].exchange_time > page.fills[-1].exchange_time
