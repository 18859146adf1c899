"""An existing store file opened as found: one readable by others is tightened to
0600 when it is ours (its -wal and -shm too), refused when it is another
user's; a store path that is a symbolic link is refused, read-only or not."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from fillcapture.files import UnsafeFile, keep_private
from fillcapture.store import StoreError
from fillcapture.store._sqlite import SqliteStore
from tests.conftest import run_cli, write_config
from tests.store.factories import make_fill

SIDECARS = ("", "-wal", "-shm")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def widened(path: Path) -> sqlite3.Connection:
    """The store at ``path`` made world-readable (a copy restored carelessly),
    with a connection left open so that its -wal and -shm exist."""
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM fills").fetchone()[0] == 1
    for suffix in SIDECARS:
        os.chmod(f"{path}{suffix}", 0o644)
    return conn


@pytest.mark.parametrize("readonly", [False, True])
async def test_our_wide_store_is_tightened(tmp_path: Path, readonly: bool) -> None:
    db = tmp_path / "fills.db"
    async with SqliteStore(db) as store:
        await store.insert_fills([make_fill(1)])
    other = widened(db)
    try:
        async with SqliteStore(db, readonly=readonly):
            assert [mode(Path(f"{db}{s}")) for s in SIDECARS] == [0o600] * 3
    finally:
        other.close()


def test_another_users_wide_file_is_refused_not_touched(tmp_path: Path) -> None:
    path = tmp_path / "fills.db"
    path.write_bytes(b"")
    os.chmod(path, 0o640)
    with pytest.raises(UnsafeFile) as caught:
        keep_private(path, owner=path.stat().st_uid + 1)
    assert caught.value.filename == str(path)
    assert caught.value.strerror == (
        f"mode 0640 lets others read it and it is owned by uid {path.stat().st_uid}, "
        "so it cannot be made 0600")
    assert mode(path) == 0o640
    os.chmod(path, 0o600)
    keep_private(path, owner=path.stat().st_uid + 1)  # private already: fine whoever owns it


@pytest.mark.parametrize("readonly", [False, True])
async def test_a_store_path_that_is_a_link_is_refused(tmp_path: Path, readonly: bool) -> None:
    real = tmp_path / "real.db"
    async with SqliteStore(real) as store:
        await store.insert_fills([make_fill(1)])
    before = real.read_bytes()
    link = tmp_path / "fills.db"
    link.symlink_to(real)
    with pytest.raises(StoreError) as caught:
        async with SqliteStore(link, readonly=readonly):
            pass
    assert str(caught.value) == f"{link}: is a symbolic link; not followed"
    assert real.read_bytes() == before


def test_the_cli_names_the_file_and_the_cause_in_one_line(tmp_path: Path) -> None:
    real = tmp_path / "elsewhere.db"
    async def create() -> None:
        async with SqliteStore(real):
            pass
    asyncio.run(create())
    link = tmp_path / "fills.db"
    link.symlink_to(real)
    config = write_config(tmp_path / "c.toml", {
        "store": {"url": f"sqlite:///{link}"}, "users": [{"name": "A", "accounts": ["1"]}]})
    for command in (["status"], ["fills"]):
        result = run_cli(config, *command)
        assert result.returncode == 2, result.stderr
        assert result.stderr == f"fillcapture: {link}: is a symbolic link; not followed\n"
