"""The PostgreSQL engine's sessions run without JIT compilation.

Its reads carry each fill's owner as subqueries of the registry, which the
planner costs high enough to compile with LLVM once a few thousand fills are
stored: 0.7 s of compilation for a read that takes 50 ms (every outbox batch
the publisher reads, every page the API serves). The engine turns JIT off on
its connections.
"""

from __future__ import annotations

import json

import pytest

from fillcapture.store import FillQuery, OutboxCursor, open_store
from fillcapture.store._postgres import outbox
from fillcapture.store._postgres.engine import PostgresStore
from fillcapture.store._postgres.selects import select
from tests.store.factories import make_fill


@pytest.mark.parametrize("readonly", [False, True], ids=["read-write", "read-only"])
async def test_reads_of_many_fills_are_not_jit_compiled(postgres_url: str,
                                                        readonly: bool) -> None:
    async with open_store(postgres_url) as store:
        await store.insert_fills([make_fill(n) for n in range(3000)])
    async with open_store(postgres_url, readonly=readonly) as store:
        assert isinstance(store, PostgresStore)
        assert await store._value("SHOW jit") == "off"
        sql, args = select(FillQuery())
        for statement, values in ((sql, args), (outbox._OUTBOX_FILLS, [0, 5000])):
            (plan,) = json.loads(await store._value(
                f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", *values))
            assert "JIT" not in plan, plan.get("JIT")
        assert len((await store.outbox_batch(OutboxCursor(), 5000)).fills) == 3000
