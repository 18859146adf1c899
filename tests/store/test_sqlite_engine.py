"""The SQLite engine itself: what its location knows of the file beside the protocol."""

from __future__ import annotations

from pathlib import Path

from fillcapture.store import locate


async def test_a_sqlite_location_is_its_file(tmp_path: Path) -> None:
    db = tmp_path / "state" / "fills.db"
    location = locate(f"sqlite:///{db}")
    assert location.describe() == str(db)
    assert not location.exists()
    assert location.holds(tmp_path / "state")
    assert not location.holds(tmp_path)
    async with location.open() as store:
        assert await store.count_fills() == 0
        assert location.exists()
        assert location.reader_hint() is None  # the writer keeps the -shm file
    hint = location.reader_hint()
    assert hint is not None
    assert "-wal and -shm" in hint
