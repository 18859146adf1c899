"""A throwaway PostgreSQL cluster for the tests: initdb and pg_ctl on a free
loopback port, in a directory of its own, run as an unprivileged user.

PostgreSQL refuses to run as root, so when the tests run as root the cluster's
directory belongs to ``nobody`` and its programs run through ``runuser``;
otherwise they run as the current user. Durability is production's
(``fsync`` and ``synchronous_commit`` on) unless ``durable=False``: the
tests break clients, connections and the server's sessions, never the
machine under the server, so what a commit promises them holds either way,
and the suite's cluster skips the flushes to disk; benchmarks keep them.
Administrative statements go through ``psql`` (the client in the server's
own bindir) over the cluster's Unix socket, where the superuser is trusted;
every other login is over TCP with a SCRAM password.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import quote, urlsplit

from tests.ports import free_port

ADMIN = "fillcapture_admin"
HOST = "127.0.0.1"
UNPRIVILEGED = "nobody"


class ClusterError(RuntimeError):
    """The cluster could not be set up or driven; the message is one line."""


def server_bindir() -> Path:
    """The directory holding initdb, pg_ctl, postgres and psql:
    ``pg_config --bindir`` when it has initdb, else the newest
    /usr/lib/postgresql/*/bin that has it."""
    try:
        named = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                               check=False).stdout.strip()
    except OSError:
        named = ""
    if named and (Path(named) / "initdb").is_file():
        return Path(named)

    def version(path: str) -> tuple[int, ...]:
        part = Path(path).parent.name
        return tuple(int(p) for p in part.split(".") if p.isdigit())

    found = sorted((p for p in glob.glob("/usr/lib/postgresql/*/bin")
                    if (Path(p) / "initdb").is_file()), key=version)
    if not found:
        raise ClusterError("PostgreSQL server binaries missing (no initdb in `pg_config --bindir` "
                           "nor /usr/lib/postgresql/*/bin): `make test` installs them")
    return Path(found[-1])


def _env() -> dict[str, str]:
    """This environment without libpq's PG* settings, which would redirect psql."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie awaiting its parent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _name(database: str) -> str:
    """The database a name or a URL names."""
    return urlsplit(database).path.lstrip("/") if "://" in database else database


class PostgresCluster:
    """A cluster of its own, started on ``__enter__`` and removed on ``__exit__``.

    ``admin_url`` is the superuser's URL (password included); ``database()``
    makes a new empty database owned by a new login role and returns its URL;
    ``terminate(database)`` ends that database's sessions; ``drop(database)``
    removes it; ``restart()``
    restarts the server on the same port (fast shutdown); ``stop()`` stops it
    at once (immediate shutdown, as a crash) and removes its directory.
    """

    def __init__(self, *, durable: bool = True) -> None:
        self.durable = durable
        self.bindir = server_bindir()
        self.as_root = os.geteuid() == 0
        self.directory: Path | None = None
        self.port = 0
        self.password = secrets.token_urlsafe(24)
        self.startup_seconds = 0.0
        self._databases = 0

    # -- paths and commands -------------------------------------------------

    @property
    def root(self) -> Path:
        if self.directory is None:
            raise ClusterError("the cluster is not started")
        return self.directory

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def admin_url(self) -> str:
        """The superuser's URL over TCP, with its password."""
        return f"postgresql://{ADMIN}:{quote(self.password, safe='')}@{HOST}:{self.port}/postgres"

    def _run(self, program: str, *args: str,
             timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a server program as the cluster's owner (``nobody`` when root)."""
        command = [str(self.bindir / program), *args]
        if self.as_root:
            command = ["runuser", "-u", UNPRIVILEGED, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              cwd=self.root, env=_env(), check=False)

    def _server_options(self) -> str:
        settings = {"listen_addresses": HOST, "port": str(self.port),
                    "unix_socket_directories": str(self.root), "max_connections": "200",
                    "fsync": "on" if self.durable else "off", "synchronous_commit": "on",
                    "full_page_writes": "on" if self.durable else "off"}
        return " ".join(f"-c {key}={value}" for key, value in settings.items())

    def _failed(self, what: str, done: subprocess.CompletedProcess[str]) -> ClusterError:
        logged: list[str] = []
        if self.directory is not None and self.log.exists():
            logged = self.log.read_text(errors="replace").strip().splitlines()
        tail = f"; log: {logged[-1]}" if logged else ""
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()
        return ClusterError(f"{what} failed (exit {done.returncode}): "
                            f"{said[-1] if said else 'no output'}{tail}")

    def psql(self, sql: str, *, variables: dict[str, str] | None = None) -> str:
        """Run ``sql`` as the superuser over the Unix socket (trusted); the
        unaligned, tuples-only output. Statements go on standard input, so
        passwords in them are never on a command line; ``variables`` are
        psql variables (``:'name'`` quotes one as a literal)."""
        command = [str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                   "-h", str(self.root), "-p", str(self.port), "-U", ADMIN, "-d", "postgres"]
        for name, value in (variables or {}).items():
            command += ["-v", f"{name}={value}"]
        done = subprocess.run(command, input=sql, capture_output=True, text=True, timeout=60,
                              env=_env(), check=False)
        if done.returncode != 0:
            raise self._failed("psql", done)
        return done.stdout.strip()

    # -- life cycle ---------------------------------------------------------

    def __enter__(self) -> PostgresCluster:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        """initdb and start the server; ``startup_seconds`` says how long it took."""
        began = time.monotonic()
        self.directory = Path(tempfile.mkdtemp(prefix="fillcapture-pg-"))
        if self.as_root:
            shutil.chown(self.directory, user=UNPRIVILEGED)
        pwfile = self.root / "pwfile"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(self.password + "\n")
        if self.as_root:
            shutil.chown(pwfile, user=UNPRIVILEGED)
        try:
            done = self._run("initdb", "-D", str(self.data), "-U", ADMIN, "--auth-local=trust",
                             "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8",
                             "--locale=C")
            if done.returncode != 0:
                raise self._failed("initdb", done)
        finally:
            pwfile.unlink()
        for attempt in range(3):  # the free port may be taken between the check and the bind
            self.port = free_port()
            done = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                             "-o", self._server_options(), "start")
            if done.returncode == 0:
                break
            if attempt == 2 or "could not bind" not in self.log.read_text(errors="replace"):
                raise self._failed("pg_ctl start", done)
        self.startup_seconds = time.monotonic() - began

    def restart(self) -> None:
        """Restart the server on the same port: a fast shutdown (sessions are
        ended, the checkpoint written) and a start."""
        done = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                         "-m", "fast", "-o", self._server_options(), "restart")
        if done.returncode != 0:
            raise self._failed("pg_ctl restart", done)

    def stop(self) -> None:
        """Stop the server at once (immediate shutdown) and remove its directory.
        Safe to call twice."""
        if self.directory is None:
            return
        if (self.data / "postmaster.pid").exists():
            pids = self.pids()
            done = self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "60", "-m", "immediate",
                             "stop")
            if done.returncode != 0 and (self.data / "postmaster.pid").exists():
                raise self._failed("pg_ctl stop", done)
            # pg_ctl returns once the pid file is gone, a moment before the
            # postmaster's own exit: wait for it, so that gone means gone.
            deadline = time.monotonic() + 10
            while any(map(running, pids)) and time.monotonic() < deadline:
                time.sleep(0.01)
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory = None

    # -- what the tests use -------------------------------------------------

    def pids(self) -> list[int]:
        """The server's processes: the postmaster first, then its children."""
        pidfile = self.data / "postmaster.pid"
        if not pidfile.exists():
            return []
        postmaster = int(pidfile.read_text().split()[0])
        children = []
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines()
                              if ":\t" in line)
            except OSError:
                continue
            if fields.get("PPid", "").strip() == str(postmaster):
                children.append(int(status.parent.name))
        return [postmaster, *sorted(children)]

    def database(self) -> str:
        """A new empty database ``fc_<n>`` owned by a new login role ``fc_<n>``
        with a random password; its URL, carrying user and password."""
        self._databases += 1
        name, password = f"fc_{self._databases}", secrets.token_urlsafe(18)
        self.psql("CREATE ROLE :\"name\" LOGIN PASSWORD :'password';\n"
                  "CREATE DATABASE :\"name\" OWNER :\"name\";\n",
                  variables={"name": name, "password": password})
        return (f"postgresql://{name}:{quote(password, safe='')}@{HOST}:{self.port}/{name}")

    def drop(self, database: str) -> None:
        """Remove ``database`` (a name or a URL) and its role, ending its sessions."""
        name = _name(database)
        self.psql("DROP DATABASE IF EXISTS :\"name\" WITH (FORCE);\n"
                  "DROP ROLE IF EXISTS :\"name\";\n", variables={"name": name})

    def terminate(self, database: str) -> int:
        """End every session of ``database`` (a name or a URL from
        :meth:`database`) but this one, waiting for each to be gone; how many."""
        name = _name(database)
        count = self.psql("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000))\n"
                          "FROM pg_stat_activity\n"
                          "WHERE datname = :'name' AND pid <> pg_backend_pid();\n",
                          variables={"name": name})
        return int(count)
