"""Registry changes that would hand an account's fills to another user are refused.

A fill's owner is the entry naming its firm, else the firm-less entry of its
account: a new firm-specific entry takes a firm-less owner's history, removing
one hands it back, and a same-key entry replaces the owner. Each is refused
(exit 2, one line) unless ``--force``, which prints what changed hands.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fillcapture.model import Fill, Side
from fillcapture.store import Owner
from tests.conftest import run_cli_here, store_at, write_config

FILLS = [
    Fill("SIMFIRM", "acc-1", "11111", f"o{n}", f"T{n}", 1, None, "XCME_FX 6E (Z26)", Side.BUY,
         1, Decimal("1.085"), "1.085", datetime(2026, 11, 20, 14, 0, n, tzinfo=UTC),
         date(2026, 11, 20))
    for n in range(3)
]


def _setup(tmp_path: Path, users: list[dict[str, Any]], seeded: list[Owner]) -> Path:
    db = tmp_path / "fills.db"
    config = write_config(tmp_path / "c.toml", {
        "feed": {"adapter": "sim"}, "store": {"url": f"sqlite:///{db}"}, "users": users})

    async def fill() -> None:
        async with store_at(db) as store:
            await store.seed_registry(seeded)
            await store.insert_fills(FILLS)

    asyncio.run(fill())
    return config


def _owners(config: Path) -> list[str]:
    result = run_cli_here(config, "fills", "--format", "json")
    assert result.returncode == 0, result.stderr
    return [row["user"] for row in json.loads(result.stdout)]


def _refused(result: Any, *words: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_a_firm_specific_entry_over_a_firmless_one_is_refused(tmp_path: Path) -> None:
    config = _setup(tmp_path, [{"name": "A", "accounts": ["11111"]}], [])

    refused = run_cli_here(config, "users", "add", "C", "--accounts", "11111", "--firm", "SIMFIRM")
    _refused(refused, "11111", "SIMFIRM", "A", "--force")
    assert _owners(config) == ["A", "A", "A"]
    listing = run_cli_here(config, "users", "list")
    assert "C" not in listing.stdout.split(), listing.stdout

    forced = run_cli_here(config, "users", "add", "C", "--accounts", "11111", "--firm", "SIMFIRM",
                     "--force")
    assert forced.returncode == 0, forced.stderr
    assert "11111 (SIMFIRM): A -> C" in forced.stdout.splitlines()
    assert _owners(config) == ["C", "C", "C"]


def test_the_same_key_for_another_user_is_refused(tmp_path: Path) -> None:
    config = _setup(tmp_path, [{"name": "A", "accounts": ["11111"]}], [])

    _refused(run_cli_here(config, "users", "add", "C", "--accounts", "11111"), "11111", "A")
    assert _owners(config) == ["A", "A", "A"]

    forced = run_cli_here(config, "users", "add", "C", "--accounts", "11111", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "11111 (any firm): A -> C" in forced.stdout.splitlines()
    assert _owners(config) == ["C", "C", "C"]
    # The configuration still names A: the store keeps the moved owner.
    assert _owners(config) == ["C", "C", "C"]


def test_removing_a_firm_specific_entry_hands_history_back_only_when_forced(
        tmp_path: Path) -> None:
    config = _setup(tmp_path, [], [Owner("A", None, "11111"), Owner("C", "SIMFIRM", "11111")])
    assert _owners(config) == ["C", "C", "C"]

    _refused(run_cli_here(config, "users", "remove", "C"), "11111", "SIMFIRM", "A")
    assert _owners(config) == ["C", "C", "C"]

    forced = run_cli_here(config, "users", "remove", "C", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "11111 (SIMFIRM): C -> A" in forced.stdout.splitlines()
    assert _owners(config) == ["A", "A", "A"]


def test_removing_a_user_whose_accounts_go_to_nobody_needs_no_force(tmp_path: Path) -> None:
    config = _setup(tmp_path, [], [Owner("A", None, "11111")])
    result = run_cli_here(config, "users", "remove", "A")
    assert result.returncode == 0, result.stderr
    assert _owners(config) == ["", "", ""]  # stored, of no user


def test_a_firmless_entry_shadowed_by_another_users_firm_entry_is_refused(
        tmp_path: Path) -> None:
    config = _setup(tmp_path, [], [Owner("A", "SIMFIRM", "11111")])

    _refused(run_cli_here(config, "users", "add", "C", "--accounts", "11111"),
             "11111", "SIMFIRM", "A")
    forced = run_cli_here(config, "users", "add", "C", "--accounts", "11111", "--force")
    assert forced.returncode == 0, forced.stderr
    assert _owners(config) == ["A", "A", "A"]


def test_a_configured_user_that_would_take_history_is_a_configuration_error(
        tmp_path: Path) -> None:
    config = _setup(tmp_path, [{"name": "A", "accounts": ["11111"]},
                               {"name": "C", "accounts": ["11111"], "firm": "SIMFIRM"}],
                    [Owner("A", None, "11111")])

    for command in (["users", "list"], ["run"], ["quarantine", "retry"]):
        _refused(run_cli_here(config, *command), "users", "11111", "SIMFIRM", "A")
    assert _owners(config) == ["A", "A", "A"]

    forced = run_cli_here(config, "users", "list", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "11111 (SIMFIRM): A -> C" in forced.stdout.splitlines()
    assert _owners(config) == ["C", "C", "C"]


def test_a_fresh_configuration_may_name_both_kinds_of_entry(tmp_path: Path) -> None:
    config = _setup(tmp_path, [{"name": "A", "accounts": ["11111"]},
                               {"name": "C", "accounts": ["11111"], "firm": "SIMFIRM"}], [])
    seeded = run_cli_here(config, "users", "list")
    assert seeded.returncode == 0, seeded.stderr
    assert _owners(config) == ["C", "C", "C"]


def test_adding_own_and_unowned_accounts_is_quiet(tmp_path: Path) -> None:
    config = _setup(tmp_path, [{"name": "A", "accounts": ["11111"]}], [])
    result = run_cli_here(config, "users", "add", "A", "--accounts", "11111,22222", "--firm",
                     "SIMFIRM")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "user A: added 11111, 22222"
