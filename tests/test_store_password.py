"""``[store] password``: handed to the store's engine with the URL, read from
the configuration or ``$CREDENTIALS_DIRECTORY/store_password``, never shown,
and refused by an engine that takes none (SQLite).

The engine here is a store on a server as the configuration sees one (a URL
and a password beside it); its fills are kept in a real SQLite file, so the
commands run against a real store. It is registered for these in-process runs
only, under a scheme of its own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from fillcapture.config import load_settings
from fillcapture.store import Store
from fillcapture.store._sqlite.location import SqliteLocation
from fillcapture.urls import masked
from tests.conftest import cli_here, run_cli_here, write_config

SECRET = "Store-Secret-7f3a9c"
SERVER_URL = "fcserver://capture@db.example:5432/fills"


@dataclass(frozen=True)
class ServerLocation:
    """A store on a server: it needs the password configured beside its URL."""

    url: str
    password: str | None
    file: Path
    opened: list[str | None]

    def describe(self) -> str:
        return masked(self.url)

    def exists(self) -> bool:
        return True

    def reader_hint(self) -> str | None:
        return None

    def holds(self, directory: Path) -> bool:
        return False

    def open(self, *, readonly: bool = False) -> Store:
        self.opened.append(self.password)
        return SqliteLocation(self.file).open(readonly=readonly)


@pytest.fixture
def opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The password each open of the server store was given."""
    import fillcapture.store.url as urls

    seen: list[str | None] = []

    def parse(url: str, password: str | None) -> ServerLocation:
        return ServerLocation(url, password, tmp_path / "server.db", seen)

    monkeypatch.setitem(urls.ENGINES, "fcserver", (parse, "fcserver://user@host/db"))
    return seen


def config(tmp_path: Path, name: str = "c.toml", **store: str) -> Path:
    return write_config(tmp_path / name, {"store": store, "log": {"level": "debug"},
                                              "users": [{"name": "A", "accounts": ["1"]}]})


def credentials(tmp_path: Path, content: str = SECRET) -> Path:
    directory = tmp_path / "creds"
    directory.mkdir()
    (directory / "store_password").write_text(content + "\n")
    return directory


def test_the_password_reaches_the_engine_and_is_never_shown(
        tmp_path: Path, opened: list[str | None]) -> None:
    path = config(tmp_path, url=SERVER_URL, password=SECRET)
    results = [run_cli_here(path, "config", "check"),
               run_cli_here(path, "users", "add", "B", "--accounts", "2"),
               run_cli_here(path, "status"), run_cli_here(path, "users", "list")]
    for result in results:
        assert result.returncode == 0, result.stderr
        assert SECRET not in result.stdout + result.stderr
    assert '"password": "**********"' in results[0].stdout
    assert opened == [SECRET] * 3  # users add, status, users list
    settings = load_settings(path)
    assert SECRET not in repr(settings) + repr(settings.store) + str(settings.store)
    assert settings.store.location.password == SECRET  # type: ignore[attr-defined]


def test_the_password_is_read_from_the_credentials_directory(
        tmp_path: Path, opened: list[str | None]) -> None:
    path = config(tmp_path, url=SERVER_URL)
    creds = credentials(tmp_path)
    result = cli_here(["--config", str(path), "users", "add", "B", "--accounts", "2"],
                      tmp_path, CREDENTIALS_DIRECTORY=str(creds))
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert opened == [SECRET]
    result = run_cli_here(path, "users", "list")  # no credentials directory: no password
    assert result.returncode == 0, result.stderr
    assert opened == [SECRET, None]


@pytest.mark.parametrize("name", ["store_password", "t4_password"])
def test_a_symlinked_credentials_file_is_refused(
        tmp_path: Path, opened: list[str | None], name: str) -> None:
    path = config(tmp_path, url=SERVER_URL)
    creds = tmp_path / "creds"
    creds.mkdir()
    (tmp_path / "elsewhere").write_text(SECRET + "\n")
    (creds / name).symlink_to(tmp_path / "elsewhere")
    for command in (["config", "check"], ["users", "list"]):
        result = cli_here(["--config", str(path), *command], tmp_path,
                          CREDENTIALS_DIRECTORY=str(creds))
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert f"{creds / name}: is a symbolic link" in lines[0]
        assert SECRET not in result.stdout + result.stderr
    assert opened == []


@pytest.mark.parametrize(("content", "expected"), [
    (b"\xff\xfe not text", "cannot read: not UTF-8 text"),
    (None, "not a regular file"),
])
def test_an_unreadable_credentials_file_is_refused(
        tmp_path: Path, opened: list[str | None], content: bytes | None, expected: str) -> None:
    path = config(tmp_path, url=SERVER_URL)
    creds = tmp_path / "creds"
    creds.mkdir()
    if content is None:
        (creds / "store_password").mkdir()
    else:
        (creds / "store_password").write_bytes(content)
    result = cli_here(["--config", str(path), "users", "list"], tmp_path,
                      CREDENTIALS_DIRECTORY=str(creds))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"fillcapture: configuration error: {creds / 'store_password'}: {expected}"]
    assert opened == []


def test_a_sqlite_store_with_a_password_is_a_config_error(tmp_path: Path) -> None:
    path = config(tmp_path, url="sqlite:///var/fills.db", password=SECRET)
    creds_path = config(tmp_path, "creds.toml", url="sqlite:///var/fills.db")
    runs = [run_cli_here(path, "config", "check"), run_cli_here(path, "run"),
            cli_here(["--config", str(creds_path), "config", "check"], tmp_path,
                     CREDENTIALS_DIRECTORY=str(credentials(tmp_path)))]
    for result in runs:
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "store.password: " in lines[0]
        assert "a sqlite store takes no password" in lines[0]
        assert SECRET not in result.stdout + result.stderr
    assert not (tmp_path / "var").exists()
