"""Files the product writes, against a hostile directory: symbolic links planted at
the target and at its ``.partial`` name, a leftover ``.partial``, umask 0.

Real commands in child processes (export, record, sim --ledger) on real files;
the child inherits the test's umask of 0, so every mode checked is the one the
product chose, not one the umask took bits from.
"""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fillcapture.files import UnsafeFile, append_private, private_dirs, replacing, staged
from fillcapture.model import Bust
from fillcapture.sim.ledger import LedgerWriter, corrupt_path
from fillcapture.store import Owner
from tests.conftest import clean_env, run_cli_here, store_at, write_config
from tests.store.factories import make_fill

VICTIM_TEXT = "the victim's own data\n"


@pytest.fixture
def umask0() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim.txt"
    path.write_text(VICTIM_TEXT)
    os.chmod(path, 0o644)
    return path


def untouched(path: Path) -> bool:
    return path.read_text() == VICTIM_TEXT and mode(path) == 0o644


def store_config(tmp_path: Path) -> Path:
    config = write_config(tmp_path / "c.toml", {
        "store": {"url": f"sqlite:///{tmp_path / 'fills.db'}"},
        "users": [{"name": "A", "accounts": ["11111"]}],
        "feed": {"adapter": "sim"},
    })

    async def fill() -> None:
        async with store_at(tmp_path / "fills.db") as store:
            await store.seed_registry([Owner("A", None, "11111")])
            fills = [make_fill(n) for n in range(20)]
            await store.insert_fills(fills)
            await store.insert_busts([Bust(fills[0], fills[0].exchange_time)])

    asyncio.run(fill())
    return config


# --- exports -----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_is_private_under_umask_0(tmp_path: Path, umask0: None, fmt: str) -> None:
    config = store_config(tmp_path)
    out = tmp_path / f"out.{fmt}"
    result = run_cli_here(config, "export", "--format", fmt, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert mode(out) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir() if "out." in p.name) == [out.name]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_refuses_a_symlink_at_its_target(tmp_path: Path, umask0: None, fmt: str) -> None:
    config = store_config(tmp_path)
    target = victim(tmp_path)
    out = tmp_path / f"out.{fmt}"
    out.symlink_to(target)
    result = run_cli_here(config, "export", "--format", fmt, "--out", str(out))
    print(result.stderr)
    assert result.returncode == 1
    assert result.stderr == f"fillcapture: cannot write {out}: is a symbolic link; not followed\n"
    assert untouched(target)
    assert out.is_symlink()
    assert not list(tmp_path.glob("*partial*"))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_never_touches_what_lies_at_its_partial_name(
        tmp_path: Path, umask0: None, fmt: str) -> None:
    config = store_config(tmp_path)
    target = victim(tmp_path)
    out = tmp_path / f"out.{fmt}"
    link = tmp_path / f"out.{fmt}.partial"
    link.symlink_to(target)
    result = run_cli_here(config, "export", "--format", fmt, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert untouched(target)
    assert link.is_symlink()
    assert link.readlink() == target
    assert mode(out) == 0o600
    assert out.stat().st_size > 0

    # A planted regular file at the .partial name is neither reused nor removed.
    link.unlink()
    link.write_text(VICTIM_TEXT)
    os.chmod(link, 0o644)
    result = run_cli_here(config, "export", "--format", fmt, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert untouched(link)
    assert mode(out) == 0o600


# --- recordings --------------------------------------------------------------


def record(config: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fillcapture", "--config", str(config), "record",
         "--out", str(out), "--seconds", "1.5"],
        capture_output=True, text=True, timeout=60, env=clean_env(), check=False)


def test_record_is_private_and_never_follows_a_link(tmp_path: Path, umask0: None) -> None:
    config = store_config(tmp_path)
    target = victim(tmp_path)
    out = tmp_path / "session.t4rec"
    (tmp_path / "session.t4rec.partial").symlink_to(target)
    done = record(config, out)
    assert done.returncode == 0, done.stderr[-2000:]
    assert mode(out) == 0o600
    assert out.read_bytes().startswith(b"FCT4REC1")
    assert untouched(target)

    out.unlink()
    out.symlink_to(target)
    done = record(config, out)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == \
        f"fillcapture: {out}: is a symbolic link; not followed"
    assert "Traceback" not in done.stderr
    assert untouched(target)


# --- simulator ledgers -------------------------------------------------------


def test_sim_ledger_refuses_a_symlink_and_is_private(tmp_path: Path, umask0: None) -> None:
    target = victim(tmp_path)
    ledger = tmp_path / "sim.ledger.jsonl"
    ledger.symlink_to(target)
    done = subprocess.run(
        [sys.executable, "-m", "fillcapture", "sim", "--port", "0", "--ledger", str(ledger)],
        capture_output=True, text=True, timeout=60, env=clean_env(), cwd=tmp_path, check=False)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == \
        f"fillcapture: {ledger}: is a symbolic link; not followed"
    assert "Traceback" not in done.stderr
    assert untouched(target)

    ledger.unlink()
    sim = subprocess.Popen(
        [sys.executable, "-m", "fillcapture", "sim", "--port", "0", "--rate", "max",
         "--max-fills", "50", "--corrupt", "0.5", "--ledger", str(ledger)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=clean_env(), cwd=tmp_path)
    try:
        deadline = time.monotonic() + 20
        while not ledger.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mode(ledger) == 0o600
    finally:
        sim.terminate()
        sim.wait(10)


def test_ledger_writer_corrupt_sibling_refuses_a_symlink(tmp_path: Path, umask0: None) -> None:
    target = victim(tmp_path)
    ledger = tmp_path / "l.jsonl"
    corrupt_path(ledger).symlink_to(target)
    writer = LedgerWriter(ledger)
    with pytest.raises(UnsafeFile, match="symbolic link"):
        writer.write_corrupt([("11111", "o", "t")])
    writer.close()
    assert untouched(target)
    corrupt_path(ledger).unlink()
    writer = LedgerWriter(ledger)
    writer.write_corrupt([("11111", "o", "t")])
    writer.close()
    assert mode(ledger) == 0o600
    assert mode(corrupt_path(ledger)) == 0o600


# --- the primitives ----------------------------------------------------------


def test_append_private_tightens_our_own_wide_file(tmp_path: Path, umask0: None) -> None:
    path = tmp_path / "l.jsonl"
    path.write_text("one\n")
    os.chmod(path, 0o666)  # noqa: S103 - the wide mode under test
    with append_private(path) as handle:
        handle.write(b"two\n")
    assert path.read_text() == "one\ntwo\n"
    assert mode(path) == 0o600


def test_staged_failure_leaves_nothing(tmp_path: Path, umask0: None) -> None:
    out = tmp_path / "x.bin"
    def interrupted() -> None:
        with replacing(out) as handle:
            handle.write(b"half")
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        interrupted()
    assert list(tmp_path.iterdir()) == []
    with staged(out) as partial:
        assert mode(partial) == 0o600
        assert mode(partial.parent) == 0o700
        partial.write_bytes(b"whole")
    assert out.read_bytes() == b"whole"
    assert mode(out) == 0o600
    assert list(tmp_path.iterdir()) == [out]


def test_private_dirs_are_0700_to_the_top(tmp_path: Path, umask0: None) -> None:
    private_dirs(tmp_path / "a" / "b" / "c")
    assert [mode(tmp_path / p) for p in ("a", "a/b", "a/b/c")] == [0o700] * 3
