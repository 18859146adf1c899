"""A third party's feed adapter: ``[feed] adapter`` names any installed in the
``fillcapture.feeds`` group, and its section is validated with the model the
adapter declares. tests/plugins/fillcapture_echo is such a package, installed
here into a directory of its own (no network, nothing in the environment)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import ROOT, Proc, clean_env, cli_here, stored_rows, wait_until, write_config

PLUGIN = Path(__file__).resolve().parent / "plugins" / "fillcapture_echo"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory the echo adapter is installed in, as pip installs it."""
    root = tmp_path_factory.mktemp("plugin")
    source = shutil.copytree(PLUGIN, root / "src")  # the build leaves files beside its source
    target = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index",
                    "--no-build-isolation", "--no-deps", "--target", str(target), str(source)],
                   check=True, capture_output=True, timeout=120, env=clean_env())
    assert (target / "fillcapture_echo").is_dir()
    return target


@pytest.fixture
def with_plugin(site: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(site))
    return site


def _check(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return cli_here(["--config", str(path), "config", "check"], tmp_path)


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_the_adapters_section_is_validated_with_its_model(with_plugin: Path,
                                                          tmp_path: Path) -> None:
    result = _check(tmp_path, '[feed]\nadapter = "echo"\n[echo]\naccount = "77777"\ncount = 2\n')
    assert result.returncode == 0, result.stderr
    assert '"echo": {' in result.stdout
    assert '"account": "77777"' in result.stdout

    assert "echo.count: Input should be greater than or equal to 1 (got 0)" in _one_line(
        _check(tmp_path, '[feed]\nadapter = "echo"\n[echo]\naccount = "7"\ncount = 0\n'))
    assert "echo.colour: unknown key" in _one_line(
        _check(tmp_path, '[feed]\nadapter = "echo"\n[echo]\naccount = "7"\ncolour = 1\n'))
    assert "echo.account: Field required" in _one_line(
        _check(tmp_path, '[feed]\nadapter = "echo"\n'))


def test_other_unknown_sections_are_still_refused(with_plugin: Path, tmp_path: Path) -> None:
    assert "nonsense: unknown key" in _one_line(_check(
        tmp_path, '[feed]\nadapter = "echo"\n[echo]\naccount = "7"\n[nonsense]\nx = 1\n'))
    # [echo] belongs to the echo adapter only while it is the one configured.
    assert "echo: unknown key" in _one_line(
        _check(tmp_path, '[feed]\nadapter = "t4"\n[echo]\naccount = "7"\n'))


def test_an_unknown_adapter_names_the_key_and_the_installed_ones(with_plugin: Path,
                                                                 tmp_path: Path) -> None:
    line = _one_line(_check(tmp_path, '[feed]\nadapter = "carrier-pigeon"\n'))
    assert "feed.adapter: no feed adapter named 'carrier-pigeon' is installed" in line
    assert "(installed: echo, mqtt, sim, t4)" in line


def test_the_daemon_captures_the_adapters_fills(site: Path, tmp_path: Path,
                                                start_daemon: Callable[..., Proc]) -> None:
    db = tmp_path / "fills.db"
    config = write_config(tmp_path / "fillcapture.toml", {
        "feed": {"adapter": "echo"},
        "echo": {"account": "77777", "count": 3, "price": "99.5"},
        "store": {"url": f"sqlite:///{db}"},
        "users": [{"name": "E", "accounts": ["77777"]}],
        "metrics": {"enabled": False},
        "schedule": {"enabled": False},
        "log": {"format": "json"},
    })
    path = os.pathsep.join([str(ROOT), str(site)])
    daemon = start_daemon(config, env=clean_env(PYTHONPATH=path))
    wait_until(lambda: len(stored_rows(db)) == 3, 20, "the echo adapter's fills stored")
    daemon.stop()
    assert sorted(stored_rows(db)) == [
        ("ECHOFIRM", "77777", f"echo-{n}", f"E{n}", None, "BUY", 1, "99.5") for n in (1, 2, 3)]
    assert Decimal("99.5") == Decimal(stored_rows(db)[0][7])
