"""Shared fixtures: real processes (simulator, daemon) on free loopback ports."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from fillcapture.sim import LedgerFill, read_ledger
from fillcapture.store import FillQuery, Store, StoreError, locate, open_store
from tests.pgcluster import ClusterError, PostgresCluster
from tests.ports import free_port

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def store_at(path: Path, *, readonly: bool = False) -> Store:
    """The store in the file ``path``, as the configuration names it: tests
    outside tests/store speak to the store only through its protocol."""
    return open_store(f"sqlite:///{path}", readonly=readonly)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: no stray FILLCAPTURE_ settings, and
    no systemd notification socket of whatever runs the tests."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FILLCAPTURE_", "NOTIFY_SOCKET", "WATCHDOG_"))
           and k != "CREDENTIALS_DIRECTORY"}
    env.update(extra)
    return env


def run_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``fillcapture --config CONFIG ARGS`` in a child process, its output captured."""
    return subprocess.run([sys.executable, "-m", "fillcapture", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=60, env=clean_env(),
                          check=False)


def cli_here(args: Sequence[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``fillcapture ARGS`` run in this process, as a child would run it: in
    ``cwd``, with the environment of :func:`clean_env` (plus ``env``), its
    standard output and error and its exit code captured. The process's own
    environment and directory are restored after. For commands where a
    process of their own is not the point: an interpreter's start-up costs
    more than most commands. The command's logging set-up is undone after it
    too, and its loggers are not cached, so later tests see structlog as
    they would have (``capture_logs`` misses a cached logger)."""
    import structlog

    from fillcapture.cli import run_cli as run_here

    saved_env, saved_cwd, child_env = dict(os.environ), Path.cwd(), clean_env(**env)
    saved_logging, configure = structlog.get_config(), structlog.configure
    out, err = io.StringIO(), io.StringIO()

    def uncached(**settings: Any) -> None:
        configure(**(settings | {"cache_logger_on_first_use": False}))

    os.environ.clear()
    os.environ.update(child_env)
    os.chdir(cwd)
    structlog.configure = uncached  # type: ignore[assignment]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = run_here(list(args))
            except SystemExit as exc:  # argparse: --help, --version, a usage error
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        structlog.configure = configure  # type: ignore[assignment]
        configure(**saved_logging)
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def run_cli_here(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """:func:`run_cli` in this process (:func:`cli_here`), in the config's directory."""
    return cli_here(["--config", str(config), *args], config.parent)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table, where a section holds one as a value
        return "{" + ", ".join(f"{toml_value(str(k))} = {toml_value(v)}"
                               for k, v in value.items()) + "}"
    raise TypeError(value)


def write_config(path: Path, config: dict[str, Any]) -> Path:
    """Write ``{section: {key: value}}`` (and ``users: [...]``) as TOML."""
    lines: list[str] = []
    for section, body in config.items():
        if isinstance(body, list):
            for entry in body:
                lines.append(f"[[{section}]]")
                lines += [f"{k} = {toml_value(v)}" for k, v in entry.items()]
        else:
            lines.append(f"[{section}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in body.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


class Proc:
    """A child ``fillcapture`` process whose output goes to files."""

    def __init__(self, args: list[str], workdir: Path, name: str,
                 env: dict[str, str] | None = None) -> None:
        self.stdout_path = workdir / f"{name}.stdout"
        self.stderr_path = workdir / f"{name}.stderr"
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "fillcapture", *args],
            stdout=self.stdout_path.open("ab"), stderr=self.stderr_path.open("ab"),
            cwd=workdir, env=env or clean_env(),
        )

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def events(self, name: str) -> list[dict[str, Any]]:
        """The JSON log lines on stderr whose event is ``name``, in order."""
        return [event for line in self.stderr.splitlines() if line.startswith("{")
                for event in [json.loads(line)] if event.get("event") == name]

    def wait_for(self, pattern: str, timeout: float = 20.0, stream: str = "stdout") -> str:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            text = self.stdout if stream == "stdout" else self.stderr
            match = regex.search(text)
            if match:
                return match.group(0)
            if self.popen.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(
            f"{pattern!r} not seen (exit={self.popen.poll()}):\n{self.stdout[-2000:]}\n"
            f"{self.stderr[-4000:]}")

    def signal(self, signum: int) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signum)

    def wait(self, timeout: float = 20.0) -> int:
        return self.popen.wait(timeout)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


class SimProc(Proc):
    def __init__(self, workdir: Path, *flags: str, name: str = "sim") -> None:
        self.ledger_path = workdir / f"{name}.ledger.jsonl"
        super().__init__(["sim", "--port", "0", "--ledger", str(self.ledger_path), *flags],
                         workdir, name)
        self.url = self.wait_for(r"ws://127\.0\.0\.1:\d+/v1")

    def ledger(self) -> list[LedgerFill]:
        return read_ledger(self.ledger_path) if self.ledger_path.exists() else []


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[list[Proc]]:
    """Processes registered here are stopped at the end of the test."""
    started: list[Proc] = []
    yield started
    for proc in reversed(started):
        proc.stop()


@pytest.fixture
def start_sim(tmp_path: Path, procs: list[Proc]) -> Callable[..., SimProc]:
    def start(*flags: str, name: str = "sim") -> SimProc:
        sim = SimProc(tmp_path, *flags, name=name)
        procs.append(sim)
        return sim
    return start


@pytest.fixture
def start_daemon(tmp_path: Path, procs: list[Proc]) -> Callable[..., Proc]:
    def start(config: Path, name: str = "daemon", env: dict[str, str] | None = None) -> Proc:
        daemon = Proc(["--config", str(config), "run"], tmp_path, name, env=env)
        procs.append(daemon)
        return daemon
    return start


def daemon_config(tmp_path: Path, sim: SimProc, *, subscribe_all: bool = True,
                  users: list[dict[str, Any]] | None = None, password: str = "sim-password",
                  metrics: dict[str, Any] | None = None, store_url: str | None = None,
                  **t4: Any) -> Path:
    """A daemon configuration against a standalone simulator. Its metrics
    endpoint is on a free port unless ``metrics`` says otherwise, so that
    daemons side by side, and one a developer runs, do not collide. The
    store is ``store_url`` (see the ``engine_store_url`` fixture), by default
    the SQLite file ``fills.db`` in ``tmp_path``."""
    if metrics is None:
        metrics = {"listen": f"127.0.0.1:{free_port()}"}
    if users is None:
        users = [{"name": "A", "accounts": ["11111", "22222"]},
                 {"name": "B", "accounts": ["33333", "44444"]}]
    return write_config(tmp_path / "fillcapture.toml", {
        "feed": {"adapter": "t4"},
        "t4": {"url": sim.url, "firm": "SIMFIRM", "username": "WhenTechFillUser",
               "password": password, "app_license": "00000000-0000-0000-0000-000000000000",
               "subscribe_all": subscribe_all, "reconnect_base": 0.2, "reconnect_cap": 1.0}
              | t4,
        "store": {"url": store_url or f"sqlite:///{tmp_path / 'fills.db'}"},
        "users": users,
        "metrics": metrics,
        # No jobs: a seal at start would make fills of the simulator's fixed
        # trade date amendments on a later calendar day (tests/test_operations.py
        # runs the jobs with a clock of its own).
        "schedule": {"enabled": False},
        "log": {"format": "json", "level": "info"},
    })


def stored_rows(where: Path | str, *, busted: bool = False) -> list[tuple[Any, ...]]:
    """(firm, account, order_id, exchange_trade_id, leg_index, side, volume, price),
    and whether the fill is busted if ``busted``, of every fill in the store
    ``where``: a SQLite file's path, or a store URL of any engine (read
    through the store protocol, read-only). A store not created yet has none."""
    if isinstance(where, str):
        return _protocol_rows(where, busted=busted)
    db = where
    if not db.exists():
        return []
    flag = ", busted_at IS NOT NULL" if busted else ""
    # closing: sqlite3's own context manager only commits, and a connection
    # left open keeps the store's -shm mapped (a tmpfs under it cannot go read-only).
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        try:
            rows = conn.execute(
                "SELECT firm, account, order_id, exchange_trade_id, "  # noqa: S608 - constant
                "CASE WHEN leg_index < 0 THEN NULL ELSE leg_index END, side, volume, price"
                f"{flag} FROM fills").fetchall()
            return [(*row[:8], bool(row[8])) for row in rows] if busted else rows
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # the daemon has not created its schema yet
                return []
            raise


NO_SCHEMA_YET = ("run the daemon once", "open it read-write")
"""What a read-only open says of a store whose daemon has not made its schema
yet, or not all of it (PostgreSQL, SQLite): to :func:`stored_rows`, a store
with no fills."""


def read_store(url: str, read: Callable[[Store], Awaitable[T]]) -> T:
    """``await read(store)`` on the store at ``url`` opened read-only, from
    synchronous code: on an event loop of its own (in a thread of its own
    when the caller is on one already)."""

    async def opened() -> T:
        async with open_store(url, readonly=True) as store:
            return await read(store)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(opened())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, opened()).result()


def _protocol_rows(url: str, *, busted: bool) -> list[tuple[Any, ...]]:
    """:func:`stored_rows` of the store at ``url``, through ``Store.fills``."""

    async def rows(store: Store) -> list[tuple[Any, ...]]:
        return [(f.firm, f.account, f.order_id, f.exchange_trade_id, f.leg_index,
                 f.side.value if f.side is not None else None, f.volume, f.price,
                 *((f.busted,) if busted else ()))
                async for f in store.fills(FillQuery(include_busted=True))]

    if not locate(url).exists():  # a SQLite file not created yet
        return []
    try:
        return read_store(url, rows)
    except StoreError as exc:
        if any(said in str(exc) for said in NO_SCHEMA_YET):
            return []
        raise


def stored_count(where: Path | str) -> int:
    """``len(stored_rows(where))`` in one count: for polling while a daemon
    captures, where reading every row would compete with it for the CPU."""
    if isinstance(where, Path):
        return len(stored_rows(where))

    async def count(store: Store) -> int:
        return await store.count_fills()

    if not locate(where).exists():
        return 0
    try:
        return read_store(where, count)
    except StoreError as exc:
        if any(said in str(exc) for said in NO_SCHEMA_YET):
            return 0
        raise


def ledger_rows(ledger: list[LedgerFill], owned: set[str], *, busted: bool = False
                ) -> list[tuple[Any, ...]]:
    """The ``stored_rows`` the owned part of a simulator ledger should leave."""
    return [(f.firm, f.account, f.order_id, f.exchange_trade_id, f.leg_index, f.side,
             f.volume, f.price, *((f.busted_at is not None,) if busted else ()))
            for f in ledger if f.account in owned]


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


MOSQUITTO = Path("/usr/sbin/mosquitto")  # `make test` installs it when missing


class Mosquitto:
    """A real Mosquitto broker on a free loopback port, anonymous, no persistence.
    ``kill()`` and ``start()`` again keep the port: a broker outage and its return."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.config = workdir / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 0\nmax_inflight_messages 0\n")
        self.log = workdir / "mosquitto.log"
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self) -> None:
        assert MOSQUITTO.exists(), f"{MOSQUITTO} missing: run the suite with `make test`"
        with self.log.open("ab") as log:
            self.popen = subprocess.Popen([str(MOSQUITTO), "-c", str(self.config)],
                                          stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.popen.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"mosquitto did not start:\n{self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no goodbye to clients, nothing saved."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One throwaway PostgreSQL cluster for the session (tests/pgcluster.py),
    without flushes to disk: no test takes the machine from under the server."""
    try:
        cluster = PostgresCluster(durable=False)
        cluster.start()
    except ClusterError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """The URL (user and password in it) of a new empty database for this test,
    owned by a role of its own; dropped after the test."""
    url = postgres_cluster.database()
    yield url
    postgres_cluster.drop(url)


ENGINES = ("sqlite", "postgresql")


@pytest.fixture(params=ENGINES)
def engine_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store URL of each engine in turn (the test id names it): a
    SQLite file ``fills.db`` under ``tmp_path``, or a new empty PostgreSQL
    database (``postgres_url``; the cluster starts only when asked for)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fills.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url
