"""A store the command line cannot use: one line naming the store and the cause,
no traceback; exit 2 when a restart cannot fix it (systemd then stops
restarting), 1 when it may pass by itself (a full disk)."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli, write_config
from tests.smallfs import fill_up, remount, tmpfs

COMMANDS = [
    ("run",),
    ("status",),
    ("fills",),
    ("gaps", "list"),
    ("seals",),
    ("markets",),
    ("report", "daily", "--user", "A"),
    ("export", "--format", "csv", "--out", "OUT"),
    ("serve", "--port", "0"),
]


def _config(tmp_path: Path, db: Path) -> Path:
    return write_config(tmp_path / "fillcapture.toml", {
        "feed": {"adapter": "sim"},
        "store": {"url": f"sqlite:///{db}"},
        "users": [{"name": "A", "accounts": ["11111"]}],
        "metrics": {"enabled": False},
        "schedule": {"enabled": False},
        "log": {"format": "json", "level": "info"},
    })


def _store(tmp_path: Path, db: Path) -> Path:
    """A real, current store at ``db`` (made by the command line)."""
    config = _config(tmp_path, db)
    made = run_cli(config, "users", "list")
    assert made.returncode == 0, made.stderr
    return config


def _run(config: Path, tmp_path: Path, command: tuple[str, ...]
         ) -> subprocess.CompletedProcess[str]:
    args = [str(tmp_path / "out.csv") if arg == "OUT" else arg for arg in command]
    return run_cli(config, *args)


def _one_line(result: subprocess.CompletedProcess[str], db: Path, *words: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert str(db) in line, line
    for word in words:
        assert word in line, line
    return line


def _not_a_database(tmp_path: Path, db: Path) -> Path:
    db.parent.mkdir(parents=True, exist_ok=True)
    db.write_bytes(b"this is a spreadsheet, not a database\n" * 200)
    return _config(tmp_path, db)


def _malformed(tmp_path: Path, db: Path) -> Path:
    config = _store(tmp_path, db)
    data = bytearray(db.read_bytes())
    assert len(data) > int.from_bytes(data[16:18], "big")  # more than one page
    # Keep the header, scramble the schema page and the tables behind it.
    data[100:] = bytes((i * 7 + 13) % 256 for i in range(len(data) - 100))
    db.write_bytes(bytes(data))
    return config


def _newer(tmp_path: Path, db: Path) -> Path:
    config = _store(tmp_path, db)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA user_version = 999")
        conn.commit()
    return config


BROKEN: dict[str, tuple[Callable[[Path, Path], Path], str]] = {
    "not a database": (_not_a_database, "not an SQLite database"),
    "malformed": (_malformed, "malformed"),
    "newer schema": (_newer, "newer than this fillcapture"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_broken_store_is_one_line_and_exit_2(
        tmp_path: Path, case: str, command: tuple[str, ...]) -> None:
    db = tmp_path / "state" / "fills.db"
    make, cause = BROKEN[case]
    config = make(tmp_path, db)
    before = db.read_bytes()
    result = _run(config, tmp_path, command)
    assert result.returncode == 2, result.stderr
    _one_line(result, db, cause)
    assert db.read_bytes() == before  # nothing already stored is touched


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "small", "1m") as mounted:
        yield mounted


def test_a_read_only_store_is_one_line_and_exit_2(tmp_path: Path, small: Path) -> None:
    db = small / "fills.db"
    config = _store(tmp_path, db)
    remount(small, readonly=True)
    try:
        for command in COMMANDS:
            result = _run(config, tmp_path, command)
            if command[0] in ("fills", "export", "status", "gaps", "seals", "markets",
                              "report") and result.returncode == 0:
                continue  # reading a read-only store may well work
            assert result.returncode == 2, (command, result.stderr)
            _one_line(result, db, "read-only")
    finally:
        remount(small, readonly=False)


def test_a_read_only_directory_without_a_store_is_exit_2(tmp_path: Path, small: Path) -> None:
    db = small / "state" / "fills.db"
    config = _config(tmp_path, db)
    remount(small, readonly=True)
    try:
        result = run_cli(config, "run")
    finally:
        remount(small, readonly=False)
    assert result.returncode == 2, result.stderr
    _one_line(result, db, "read-only")


def test_a_full_disk_is_one_line_and_exit_1(tmp_path: Path, small: Path) -> None:
    """A daemon started on a full disk exits 1: systemd restarts it until
    there is room again, then it runs."""
    db = small / "fills.db"
    config = _config(tmp_path, db)
    filler = fill_up(small)
    result = run_cli(config, "run")
    assert result.returncode == 1, result.stderr
    _one_line(result, db, "disk full")
    filler.unlink()
    assert run_cli(config, "users", "list").returncode == 0


def test_the_units_stop_restarting_on_exit_2() -> None:
    units = sorted((Path(__file__).parent.parent / "deploy").glob("*.service"))
    assert units
    for unit in units:
        lines = [line.split("=", 1)[1].split() for line in unit.read_text().splitlines()
                 if line.startswith("RestartPreventExitStatus=")]
        assert lines, unit
        assert "2" in lines[0], unit
