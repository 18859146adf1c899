"""``fillcapture serve``: the API in a process of its own, on uvicorn.

The store is opened read-only and stays open; each page, summary and account
listing reads through a connection of its own. The listening socket is bound
here, before uvicorn starts, so that a taken port is a configuration error
naming the setting rather than an exit from inside the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import resource
import socket
from collections.abc import Callable, Iterator

import structlog
import uvicorn

from fillcapture.api.app import create_app
from fillcapture.api.guard import Limits, RateLimitedLog, guarded_protocol, quiet_accept_errors
from fillcapture.config import Settings
from fillcapture.systemd import Notifier

log = structlog.get_logger(__name__)

GRACE_SECONDS = 5
"""How long requests under way may take to finish once the API is told to stop."""

BACKLOG = 128
"""Connections waiting to be accepted, and accepted at most at once: what one
burst can add to the open files beyond ``[api] max_connections``."""

SPARE_FILES = 64
"""Open files beyond connections: the store, the listening socket, the journal."""

MAX_HEADER_BYTES = 16 * 1024
"""A request line and headers longer than this are refused (400) unread."""


class ListenError(Exception):
    """The address cannot be listened on; ``str()`` says why."""


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0: a free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=BACKLOG)
    except OSError as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


async def serve(settings: Settings, sock: socket.socket, on_ready: Callable[[str], None]) -> None:
    """Answer on ``sock`` until cancelled, then finish the requests under way.
    ``on_ready`` gets the URL once the API answers."""
    notifier = Notifier()
    api = settings.api
    shed = RateLimitedLog("api.connections_shed", api.log_interval)
    refused = RateLimitedLog("api.requests_refused", api.log_interval)
    failed = RateLimitedLog("api.accept_failed", api.log_interval)
    async with settings.store.open(readonly=True) as store, notifier.running():
        app = create_app(store, api.point_values, currencies=settings.money.currencies,
                         max_requests=api.max_requests,
                         trusted_proxies=api.trusted_proxies, refused=refused)
        protocol = guarded_protocol(Limits(api.max_connections, api.header_timeout), shed)
        # proxy_headers off: uvicorn would otherwise take the client's address
        # and scheme from X-Forwarded-* of any loopback peer; only the access
        # log reads X-Forwarded-For, and only from [api] trusted_proxies.
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                                server_header=False, timeout_graceful_shutdown=GRACE_SECONDS,
                                http=protocol, proxy_headers=False,
                                timeout_keep_alive=api.keep_alive_timeout,
                                h11_max_incomplete_event_size=MAX_HEADER_BYTES,
                                backlog=BACKLOG)
        server = _Server(config)
        fit_file_limit(api.max_connections + BACKLOG + SPARE_FILES)
        with quiet_accept_errors(asyncio.get_running_loop(), failed):
            try:
                await _run(server, sock, on_ready, notifier)
            finally:
                for limited in (shed, refused, failed):
                    limited.close()


def fit_file_limit(needed: int) -> None:
    """Raise the soft open-file limit to ``needed`` where the hard limit allows
    (under systemd both are ``LimitNOFILE=``); warn once where it does not,
    since at the limit accept() fails and new clients wait for a second."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    raised = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if raised > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        except OSError:  # a sandbox without setrlimit (SystemCallFilter=~@resources)
            raised = soft
    if raised < needed:
        log.warning("api.file_limit_low", limit=raised, needed=needed,
                    hint="raise LimitNOFILE= or lower [api] max_connections")


async def _run(server: uvicorn.Server, sock: socket.socket, on_ready: Callable[[str], None],
               notifier: Notifier) -> None:
    """Run ``server`` on ``sock``; once it answers, tell ``on_ready`` and systemd."""
    task = asyncio.create_task(server.serve(sockets=[sock]), name="api-server")
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the API server stopped while starting")
            await asyncio.sleep(0.01)
        # What starting allocated (modules, the app, its OpenAPI document)
        # lives as long as the process: out of the collector's sight, a
        # request's full collection traverses what requests allocated only
        # (a month's summary: 17 ms a full collection before, 1 ms after).
        gc.freeze()
        host, port = sock.getsockname()[:2]
        url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        on_ready(url)
        notifier.send("READY=1", f"STATUS=answering on {url}")
        await asyncio.shield(task)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The command's event loop owns SIGINT/SIGTERM; uvicorn must neither
        # replace those handlers nor raise the signal again on its way out.
        yield
