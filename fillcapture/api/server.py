"""``fillcapture serve``: the API in a process of its own, on uvicorn.

The store is opened read-only and stays open; each page, summary and account
listing reads through a connection of its own. The listening socket is bound
here, before uvicorn starts, so that a taken port is a configuration error
naming the setting rather than an exit from inside the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator

import uvicorn

from fillcapture.api.app import create_app
from fillcapture.config import Settings
from fillcapture.store import open_store
from fillcapture.systemd import Notifier

GRACE_SECONDS = 5
"""How long requests under way may take to finish once the API is told to stop."""


class ListenError(Exception):
    """The address cannot be listened on; ``str()`` says why."""


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0: a free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=128)
    except OSError as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


async def serve(settings: Settings, sock: socket.socket, on_ready: Callable[[str], None]) -> None:
    """Answer on ``sock`` until cancelled, then finish the requests under way.
    ``on_ready`` gets the URL once the API answers."""
    notifier = Notifier()
    async with open_store(settings.store.url, readonly=True) as store, notifier.running():
        app = create_app(store, settings.api.point_values)
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                                server_header=False, timeout_graceful_shutdown=GRACE_SECONDS)
        server = _Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name="api-server")
        try:
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("the API server stopped while starting")
                await asyncio.sleep(0.01)
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
