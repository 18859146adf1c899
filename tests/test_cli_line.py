"""The command line as people type it: ``--config`` before or after the
command, ``--version``, and one line (exit 1) where there is no store yet."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import cli_here, write_config


def _fc(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return cli_here(args, cwd)


def _config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "x.toml", {
        "store": {"url": f"sqlite:///{tmp_path / 'elsewhere' / 'fills.db'}"},
        "users": [{"name": "A", "accounts": ["11111"]}]})


@pytest.mark.parametrize("command", [
    ["users", "add", "C", "--accounts", "55555"],
    ["users", "list"],
    ["quarantine", "list"],
    ["gaps", "list"],
    ["fills", "--format", "json"],
    ["config", "check"],
])
@pytest.mark.parametrize("form", ["after", "equals", "middle"])
def test_config_is_accepted_after_the_command(tmp_path: Path, command: list[str],
                                              form: str) -> None:
    config = _config(tmp_path)
    if command[0] not in ("config", "users"):  # readers need a store: make it
        assert _fc("--config", str(config), "users", "list", cwd=tmp_path).returncode == 0
    if form == "after":
        args = [*command, "--config", str(config)]
    elif form == "equals":
        args = [*command, f"--config={config}"]
    else:  # between a command and its subcommand
        args = [command[0], "--config", str(config), *command[1:]]
    result = _fc(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # The named file applied, not the built-in demo (whose store is ./var/fills.db).
    assert not (tmp_path / "var").exists()
    assert (tmp_path / "elsewhere" / "fills.db").exists() or command[0] == "config"


def test_config_after_the_command_wins_over_one_before(tmp_path: Path) -> None:
    config = _config(tmp_path)
    other = write_config(tmp_path / "other.toml", {
        "store": {"url": f"sqlite:///{tmp_path / 'other.db'}"}})
    result = _fc("--config", str(other), "users", "list", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "elsewhere" / "fills.db").exists()
    assert not (tmp_path / "other.db").exists()


def test_version_comes_from_the_package_metadata(tmp_path: Path) -> None:
    result = _fc("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"fillcapture {importlib.metadata.version('fillcapture')}"
    from fillcapture import __version__
    assert __version__ == importlib.metadata.version("fillcapture")


@pytest.mark.parametrize("command", [
    ["fills"],
    ["fills", "--format", "json"],
    ["fills", "--format", "csv"],
    ["status"],
    ["status", "--json"],
    ["report", "daily", "--user", "A"],
    ["report", "daily", "--user", "A", "--format", "json"],
    ["export", "--format", "csv", "--out", "out.csv"],
])
def test_no_store_is_one_line_and_exit_1(tmp_path: Path, command: list[str]) -> None:
    config = _config(tmp_path)
    result = _fc(*command, "--config", str(config), cwd=tmp_path)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"no store at {tmp_path / 'elsewhere' / 'fills.db'}" in lines[0]
    assert not (tmp_path / "elsewhere").exists(), "a reader creates no store"
    assert not (tmp_path / "out.csv").exists()


def test_an_empty_store_is_still_valid_json(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert _fc("users", "list", "--config", str(config), cwd=tmp_path).returncode == 0
    result = _fc("fills", "--format", "json", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
