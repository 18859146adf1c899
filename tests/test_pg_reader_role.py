"""deploy/README's read-only role works: a role granted SELECT alone serves
the query side (fills, status), and the server refuses its writes."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from fillcapture.store import FillQuery, Owner, StoreError, open_store
from tests.conftest import run_cli_here, write_config
from tests.pgcluster import PostgresCluster
from tests.store.factories import make_fill

GRANTS = """
GRANT USAGE ON SCHEMA public TO :"reader";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"reader";
ALTER ROLE :"reader" SET default_transaction_read_only = on;
"""


def _as(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    netloc = f"{user}:{password}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


async def test_a_select_only_role_reads_the_store_and_cannot_write(
        tmp_path: Path, postgres_cluster: PostgresCluster, postgres_url: str) -> None:
    async with open_store(postgres_url) as store:  # the daemon's role makes the schema
        await store.seed_registry([Owner("A", None, "11111")])
        await store.insert_fills([make_fill(1), make_fill(2)])
    reader, password = f"reader_{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    database = urlsplit(postgres_url).path.lstrip("/")
    postgres_cluster.psql(f'CREATE ROLE :"reader" LOGIN PASSWORD :\'password\';\n'
                          f'\\c {database}\n{GRANTS}',
                          variables={"reader": reader, "password": password})
    reader_url = _as(postgres_url, reader, password)
    try:
        async with open_store(reader_url, readonly=True) as store:
            assert len([f async for f in store.fills(FillQuery())]) == 2
            assert [o.user for o in await store.registry()] == ["A"]
        config = write_config(tmp_path / "reader.toml", {"store": {"url": reader_url}})
        status = await asyncio.to_thread(run_cli_here, config, "status", "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["accounts"][0]["account"] == "11111"
        # Even opened read-write, the role cannot change a thing.
        with pytest.raises(StoreError) as refused:
            async with open_store(reader_url) as store:
                await store.insert_fills([make_fill(3)])
        assert password not in str(refused.value)
    finally:
        postgres_cluster.psql(f'\\c {database}\nDROP OWNED BY :"reader";\n\\c postgres\n'
                              'DROP ROLE :"reader";\n', variables={"reader": reader})
