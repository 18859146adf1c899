"""Store URLs: each engine reads its own, and a bad one is one line, secrets masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from fillcapture.store import StoreLocation, locate
from fillcapture.store._postgres.location import PostgresLocation


@pytest.mark.parametrize(("url", "cause"), [
    ("mysql://ops:s3cret@db.internal/fills", "unsupported scheme 'mysql'"),
    ("postgresql://ops:s3cret@db.internal/", "no database name"),
    ("postgresql://ops:s3cret@db.internal:54x/fills", "port must be a number"),
    ("postgresql://ops:s3cret@db.internal/fills?sslmode=maybe", "sslmode 'maybe'"),
    ("postgresql://ops:s3cret@db.internal/fills?connect_timeout=3", "unknown option"),
    ("postgresql://ops:s3cret@db.internal/fills", "no sslmode (libpq's default prefer) to "
     "db.internal, another machine, may fall back to plaintext"),
    ("postgresql://ops:s3cret@10.1.2.3/fills?sslmode=prefer", "sslmode=prefer to 10.1.2.3"),
    ("postgresql://ops:s3cret@[fd00::1]/fills?sslmode=allow", "sslmode=allow to fd00::1"),
    ("sqlite:///", "must look like sqlite:///"),
    ("fills.db", "unsupported scheme 'fills.db'"),
])
def test_a_url_no_engine_reads_is_one_line_naming_it_without_its_secret(
        url: str, cause: str) -> None:
    with pytest.raises(ValueError, match="store url") as raised:
        locate(url)
    message = str(raised.value)
    assert cause in message
    assert "\n" not in message
    assert "s3cret" not in message


def test_a_postgresql_url_names_its_server_without_its_password() -> None:
    location = locate("postgresql://ops:s3cret@db.internal:6543/fills?sslmode=verify-full")
    assert location.describe() == "postgresql://***@db.internal:6543/fills?sslmode=verify-full"
    assert "s3cret" not in repr(location)
    assert location.exists()  # the operator's database: nothing to ask the network
    assert location.reader_hint() is None
    assert not location.holds(Path.cwd())


def test_the_postgres_scheme_is_the_same_engine() -> None:
    assert locate("postgres://ops@db/fills?sslmode=require").describe() == \
        "postgresql://***@db/fills?sslmode=require"


@pytest.mark.parametrize("url", [
    "postgresql://ops@127.0.0.1:5432/fills", "postgresql://ops@localhost/fills",
    "postgresql://ops@[::1]/fills", "postgresql://ops@127.8.9.10/fills?sslmode=prefer",
    "postgresql://ops@db.internal/fills?sslmode=disable",
    "postgresql://ops@db.internal/fills?sslmode=require",
    "postgresql://ops@db.internal/fills?sslmode=verify-ca&sslrootcert=ca.pem",
])
def test_plaintext_is_allowed_on_loopback_or_when_said(url: str) -> None:
    assert locate(url).describe().startswith("postgresql://***@")


def test_a_postgresql_password_comes_from_the_url_else_the_config_else_the_credential(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "store_password").write_text("from-systemd\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    url = "postgresql://ops@db/fills?sslmode=require"
    assert secret(locate("postgresql://ops:in%40url@db/fills?sslmode=require")) == "in@url"
    assert secret(locate(url, password="configured")) == "configured"
    assert secret(locate(url)) == "from-systemd"
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    assert secret(locate(url)) is None  # the driver's PGPASSWORD, .pgpass


def test_a_postgresql_password_given_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="keep one") as raised:
        locate("postgresql://ops:s3cret@db/fills?sslmode=require", password="other")
    assert "s3cret" not in str(raised.value)


def test_a_sqlite_url_takes_no_password() -> None:
    with pytest.raises(ValueError, match="takes no password"):
        locate("sqlite:///x.db", password="s3cret")


def secret(location: StoreLocation) -> str | None:
    assert isinstance(location, PostgresLocation)
    return location.secret()
