"""A loopback WebSocket server playing a recorded T4 session, as T4 sent it.

:class:`ReplayServer` serves a recording over loopback WebSocket. A recording
holds one segment per session the recorder had: each begins with that
session's login response. The first client session gets the first segment, the
next one the second, and so on; a segment that is not the last ends with the
server closing the socket, so the adapter reconnects, logs in and gets the
next session's snapshot exactly as it did live. Once all are served, later
sessions get the last segment again.

The replay adapter (:mod:`fillcapture.feeds.replay`) runs the real t4
adapter against it; tests use it as a T4 of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from fillcapture.feeds.recording import RecordedFrame, RecordingError, read_recording
from fillcapture.feeds.t4.proto import service_pb2

Pace = Literal["original", "max"]


@dataclass(frozen=True, slots=True)
class Segment:
    """One recorded session: its login response and every frame after it."""

    login: bytes
    body: Sequence[RecordedFrame]


class ReplayServer:
    """A loopback WebSocket server playing a recording's sessions in turn.

    ``pace="original"`` keeps the recorded gaps between frames; ``"max"``
    sends as fast as the client reads. With ``close_when_done`` the last
    segment also ends by closing the socket (``fillcapture replay`` stops on it).
    """

    def __init__(
        self, frames: Sequence[RecordedFrame], *, pace: Pace = "max",
        host: str = "127.0.0.1", port: int = 0, close_when_done: bool = False,
    ) -> None:
        self.segments = split_sessions(frames)
        self.pace = pace
        self.host = host
        self.port = port
        self.close_when_done = close_when_done
        self.sessions = 0
        self.finished = 0  # segments sent to the end
        self.complete = asyncio.Event()  # every segment sent once
        self._server: Server | None = None

    @classmethod
    def from_file(
        cls, path: Path, *, pace: Pace = "max", port: int = 0, close_when_done: bool = False,
    ) -> ReplayServer:
        return cls(list(read_recording(path)), pace=pace, port=port,
                   close_when_done=close_when_done)

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/v1"

    @property
    def frames(self) -> int:
        """Frames in the recording, login responses included."""
        return sum(1 + len(segment.body) for segment in self.segments)

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
                await connection.close(code=CloseCode.GOING_AWAY, reason="replay drop")

    async def _session(self, ws: ServerConnection) -> None:
        index = min(self.sessions, len(self.segments) - 1)
        self.sessions += 1
        segment = self.segments[index]
        last = index == len(self.segments) - 1
        try:
            await self._await_kind(ws, "login_request")
            await ws.send(segment.login)
            await self._await_kind(ws, "account_subscribe")
            previous: int | None = None
            for record in segment.body:
                if self.pace == "original" and previous is not None:
                    await asyncio.sleep(max(0.0, (record.received_ns - previous) / 1e9))
                previous = record.received_ns
                await ws.send(record.frame)
            self.finished += 1
            if last:
                self.complete.set()
            if not last or self.close_when_done:
                # As the recorded session ended: the adapter reconnects.
                await ws.close(CloseCode.GOING_AWAY, "recorded session ended")
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


def split_sessions(frames: Sequence[RecordedFrame]) -> list[Segment]:
    """The recording cut before each login response; frames before the first are dropped."""
    segments: list[Segment] = []
    login: bytes | None = None
    body: list[RecordedFrame] = []
    for record in frames:
        if _is_login_response(record.frame):
            if login is not None:
                segments.append(Segment(login, body))
            login, body = record.frame, []
        elif login is not None:
            body.append(record)
    if login is None:
        raise RecordingError("the recording holds no login response")
    segments.append(Segment(login, body))
    return segments


def _is_login_response(frame: bytes) -> bool:
    try:
        message = service_pb2.ServerMessage.FromString(frame)
    except Exception:
        return False
    return bool(message.WhichOneof("payload") == "login_response")
