"""Serve a recorded T4 session over WebSocket, so the real t4 adapter replays it.

The recording's login response answers any login; after the client subscribes,
the remaining frames follow, as fast as the client reads or at original pace.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Literal

import structlog
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from fillcapture.feeds.recording import RecordedFrame, RecordingError, read_recording
from fillcapture.feeds.t4.proto import service_pb2

log = structlog.get_logger(__name__)


class ReplayServer:
    """A loopback WebSocket server playing one recording to every session."""

    def __init__(
        self, frames: Sequence[RecordedFrame], *, pace: Literal["original", "max"] = "max",
        host: str = "127.0.0.1", port: int = 0,
    ) -> None:
        self.login, self.body = _split_login(frames)
        self.pace = pace
        self.host = host
        self.port = port
        self.sessions = 0
        self.finished = 0
        self._server: Server | None = None

    @classmethod
    def from_file(
        cls, path: Path, *, pace: Literal["original", "max"] = "max", port: int = 0,
    ) -> ReplayServer:
        return cls(list(read_recording(path)), pace=pace, port=port)

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/v1"

    async def __aenter__(self) -> ReplayServer:
        self._server = await serve(self._session, self.host, self.port, compression=None,
                                   max_size=64 * 1024 * 1024)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def drop_connections(self) -> None:
        if self._server is not None:
            for connection in list(self._server.connections):
                await connection.close(code=1001, reason="replay drop")

    async def _session(self, ws: ServerConnection) -> None:
        self.sessions += 1
        try:
            await self._await_kind(ws, "login_request")
            await ws.send(self.login)
            await self._await_kind(ws, "account_subscribe")
            previous: int | None = None
            for record in self.body:
                if self.pace == "original" and previous is not None:
                    await asyncio.sleep(max(0.0, (record.received_ns - previous) / 1e9))
                previous = record.received_ns
                await ws.send(record.frame)
            self.finished += 1
            await ws.wait_closed()
        except ConnectionClosed:
            pass

    @staticmethod
    async def _await_kind(ws: ServerConnection, kind: str) -> None:
        async for frame in ws:
            if isinstance(frame, bytes):
                message = service_pb2.ClientMessage.FromString(frame)
                if message.WhichOneof("payload") == kind:
                    return
        raise ConnectionClosed(None, None)


def _split_login(frames: Sequence[RecordedFrame]) -> tuple[bytes, list[RecordedFrame]]:
    """The recording's login response, and every frame after it."""
    for index, record in enumerate(frames):
        try:
            message = service_pb2.ServerMessage.FromString(record.frame)
        except Exception:  # noqa: S112 - a malformed frame is replayed as recorded
            continue
        if message.WhichOneof("payload") == "login_response":
            return record.frame, list(frames[index + 1 :])
    raise RecordingError("the recording holds no login response")
