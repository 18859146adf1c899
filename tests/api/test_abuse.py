"""A real ``fillcapture serve`` under idle, slow and too many connections.

The server runs with the file limit it would have under systemd
(``LimitNOFILE=``), lowered here so that the limits are reached quickly; the
figures measured (response time, RSS, open files, log size) are printed.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import issue_token, make_store
from tests.conftest import Proc, clean_env, free_port, write_config

N = 300
"""Idle sockets, and as many slow-header clients, against the server at once."""
MAX_CONNECTIONS = 64
MAX_REQUESTS = 32
NOFILE = 256


class LimitedProc(Proc):
    """``fillcapture ARGS`` with its open-file limit lowered to ``nofile``."""

    def __init__(self, args: list[str], workdir: Path, name: str, nofile: int,
                 hard: int | None = None) -> None:
        self.stdout_path = workdir / f"{name}.stdout"
        self.stderr_path = workdir / f"{name}.stderr"

        def lower() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard or nofile))

        self.popen = subprocess.Popen(
            [sys.executable, "-m", "fillcapture", *args],
            stdout=self.stdout_path.open("ab"), stderr=self.stderr_path.open("ab"),
            cwd=workdir, env=clean_env(), preexec_fn=lower)


@dataclass
class Served:
    process: LimitedProc
    url: str
    token: str

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        return host, int(port)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, headers={"Authorization": f"Bearer {self.token}"},
                         timeout=10)

    def rss_kib(self) -> int:
        status = Path(f"/proc/{self.process.popen.pid}/status").read_text()
        (line,) = [line for line in status.splitlines() if line.startswith("VmRSS:")]
        return int(line.split()[1])

    def open_files(self) -> int:
        return len(os.listdir(f"/proc/{self.process.popen.pid}/fd"))

    def log_bytes(self) -> int:
        return self.process.stderr_path.stat().st_size


def serve(workdir: Path, nofile: int, hard: int | None = None, **api: Any) -> Iterator[Served]:
    db, _ = make_store(workdir)
    config = write_config(workdir / "abuse.toml", {
        "store": {"url": f"sqlite:///{db}"},
        "api": {"listen": f"127.0.0.1:{free_port()}", **api},
        "log": {"format": "json"},
    })
    token = issue_token(config, "A")
    process = LimitedProc(["--config", str(config), "serve"], workdir, "api", nofile, hard)
    try:
        url = process.wait_for(r"(?<=listening on )http://\S+")
        yield Served(process, url, token)
    finally:
        process.stop()


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Served]:
    yield from serve(tmp_path, NOFILE, max_connections=MAX_CONNECTIONS,
                     max_requests=MAX_REQUESTS, header_timeout=30.0, log_interval=1.0)


def connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=5)
    sock.setblocking(False)
    return sock


class SlowHeaders(threading.Thread):
    """Clients each sending a request's headers one byte at a time, never ending them."""

    HEADERS = b"GET /v1/accounts HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 10_000

    def __init__(self, sockets: list[socket.socket], interval: float) -> None:
        super().__init__(daemon=True)
        self.sockets = sockets
        self.interval = interval
        self.stopped = threading.Event()
        self.sent = 0

    def run(self) -> None:
        position = 0
        while not self.stopped.wait(self.interval):
            byte = self.HEADERS[position % len(self.HEADERS):][:1]
            position += 1
            for sock in self.sockets:
                try:
                    sock.send(byte)
                    self.sent += 1
                except OSError:
                    pass  # closed by the server: that is its right


def closed_by_server(sockets: list[socket.socket]) -> int:
    count = 0
    for sock in sockets:
        try:
            count += sock.recv(1) == b""
        except BlockingIOError:
            pass
        except OSError:
            count += 1
    return count


def test_a_request_answers_while_idle_and_slow_clients_hold_connections(
        limited: Served) -> None:
    assert limited.get("/v1/accounts").status_code == 200
    baseline_rss, baseline_files = limited.rss_kib(), limited.open_files()
    idle = [connect(limited.address) for _ in range(N)]
    slow = [connect(limited.address) for _ in range(N)]
    writer = SlowHeaders(slow, 0.05)
    writer.start()
    try:
        time.sleep(1.0)  # every slow client has sent part of its headers
        started = time.perf_counter()
        response = limited.get("/v1/accounts")
        elapsed = time.perf_counter() - started
        rss, files, log = limited.rss_kib(), limited.open_files(), limited.log_bytes()
        shed = closed_by_server(idle + slow)
    finally:
        writer.stopped.set()
        writer.join()
        for sock in idle + slow:
            sock.close()
    print(f"\nN={N} idle + {N} slow-header clients, max_connections={MAX_CONNECTIONS}, "
          f"max_requests={MAX_REQUESTS}, LimitNOFILE={NOFILE}: answered {response.status_code} "
          f"in {elapsed * 1000:.0f} ms; RSS {rss} KiB (from {baseline_rss}), "
          f"{files} open files (from {baseline_files}), log {log} bytes, "
          f"{shed} of {2 * N} connections closed by the server, {writer.sent} bytes dribbled")
    assert response.status_code == 200, response.text
    assert response.json()["user"] == "A"
    assert elapsed < 1.0
    assert writer.sent > N  # the slow clients were sending while the request was answered
    assert files <= baseline_files + MAX_CONNECTIONS
    assert rss < baseline_rss + 64 * 1024
    assert shed >= 2 * N - MAX_CONNECTIONS
    assert log < 16 * 1024
    assert "Traceback" not in limited.process.stderr
    shedding = [json.loads(line) for line in limited.process.stderr.splitlines()
                if '"api.connections_shed"' in line]
    assert shedding
    assert sum(line["count"] for line in shedding) <= 2 * N


def test_headers_have_a_deadline_and_idle_keep_alive_ends(tmp_path: Path) -> None:
    for served in serve(tmp_path, NOFILE, header_timeout=2.0, keep_alive_timeout=1):
        silent, dribbling = connect(served.address), connect(served.address)
        kept = socket.create_connection(served.address, timeout=5)
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        answer = b""
        while not answer.endswith(b"}"):  # the whole response, its JSON body last
            answer += kept.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200 ")
        kept.setblocking(False)
        started = time.monotonic()
        ended: dict[str, float] = {}
        while len(ended) < 3 and time.monotonic() - started < 5:
            for name, sock in (("silent", silent), ("dribbling", dribbling), ("kept", kept)):
                if name in ended:
                    continue
                if name == "dribbling":
                    try:
                        sock.send(b"G")
                    except OSError:
                        ended[name] = time.monotonic() - started
                        continue
                if closed_by_server([sock]):
                    ended[name] = time.monotonic() - started
            time.sleep(0.1)
        for sock in (silent, dribbling, kept):
            sock.close()
        print(f"\nclosed after (s): {ended}")
        assert set(ended) == {"silent", "dribbling", "kept"}, ended
        assert 1.8 < ended["silent"] < 3.0
        assert 1.8 < ended["dribbling"] < 3.0
        assert 0.8 < ended["kept"] < 1.6
        assert served.get("/v1/accounts").status_code == 200


def test_accept_errors_at_the_file_limit_log_one_line_per_interval(tmp_path: Path) -> None:
    # The default max_connections is far above this file limit: accept() fails.
    for served in serve(tmp_path, 48, log_interval=1.0):
        held = [connect(served.address) for _ in range(100)]
        time.sleep(3.5)
        log = served.log_bytes()
        for sock in held:
            sock.close()
        lines = served.process.stderr.splitlines()
        refused = [json.loads(line) for line in lines if '"api.accept_failed"' in line]
        print(f"\nat LimitNOFILE=48, 100 connections held 3.5 s: log {log} bytes, "
              f"{len(refused)} accept-error lines: {refused}")
        assert "Traceback" not in served.process.stderr
        assert "out of system resource" not in served.process.stderr
        (low,) = [json.loads(line) for line in lines if '"api.file_limit_low"' in line]
        assert (low["limit"], low["needed"]) == (48, 512 + 128 + 64)
        assert 1 <= len(refused) <= 5
        assert all("Too many open files" in line["error"] for line in refused)
        assert sum(line["count"] for line in refused) > len(refused)
        assert log < 8 * 1024
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if served.get("/v1/accounts").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert served.get("/v1/accounts").status_code == 200


def test_serve_raises_its_soft_file_limit_to_fit_its_connections(tmp_path: Path) -> None:
    for served in serve(tmp_path, 100, hard=4096, max_connections=1000):
        limits = Path(f"/proc/{served.process.popen.pid}/limits").read_text()
        (line,) = [line for line in limits.splitlines() if line.startswith("Max open files")]
        assert line.split()[3:5] == [str(1000 + 128 + 64), "4096"]
        assert "api.file_limit_low" not in served.process.stderr
