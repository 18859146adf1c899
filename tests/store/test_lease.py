"""The SQLite store's lease: a lock file beside the store, one holder per instance."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from fillcapture.store import StoreError
from fillcapture.store._sqlite import SqliteStore
from fillcapture.store._sqlite.lease import lease_path


@pytest.fixture
def store(sqlite_store: SqliteStore) -> SqliteStore:
    """These tests are about SQLite itself: the SQLite engine only."""
    return sqlite_store


async def test_a_second_lease_of_one_instance_is_refused_naming_the_holder(
        store: SqliteStore, db_path: Path) -> None:
    async with store.lease("SIMFIRM"):
        path = lease_path(db_path, "SIMFIRM")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert json.loads(path.read_text())["pid"] == os.getpid()
        async with SqliteStore(db_path) as other:
            with pytest.raises(StoreError) as refused:
                async with other.lease("SIMFIRM"):
                    pass
            assert refused.value.permanent
            assert f"pid {os.getpid()} on host " in str(refused.value)
            async with other.lease("OTHER FIRM/2"):  # another instance: its own lease
                assert lease_path(db_path, "OTHER FIRM/2").parent == db_path.parent
    async with store.lease("SIMFIRM"):  # released at the end of the block
        pass


async def test_a_symlink_in_the_leases_place_is_refused(
        store: SqliteStore, db_path: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("precious\n")
    lease_path(db_path, "SIMFIRM").symlink_to(target)
    with pytest.raises(StoreError, match="symlink") as refused:
        async with store.lease("SIMFIRM"):
            pass
    assert refused.value.permanent
    assert target.read_text() == "precious\n"
