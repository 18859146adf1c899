"""Recorded T4 sessions: the raw server frames of a session, with receive times.

File format (all integers big-endian): the 8-byte magic ``FCT4REC1``, then one
record per server frame: ``uint64`` receive time in nanoseconds since the Unix
epoch, ``uint32`` frame length, the frame bytes (one serialized ServerMessage).

A recording holds no credentials: a login response's ``session_id`` and
``authentication_token`` and a token refresh's ``token`` are cleared before the
frame is written (:func:`redacted`); nothing reads them back, so replays are
unchanged. Every other frame is written exactly as received.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from google.protobuf.message import DecodeError

from fillcapture.feeds.t4.proto import service_pb2

MAGIC = b"FCT4REC1"
_HEADER = struct.Struct(">QI")


class RecordingError(ValueError):
    """The file is not a recording, or is cut short."""


@dataclass(frozen=True, slots=True)
class RecordedFrame:
    received_ns: int
    frame: bytes


class RecordingWriter:
    """Appends frames to a recording; flushes after every frame so a killed
    recorder loses at most the frame it was writing."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        handle.write(MAGIC)

    def write(self, frame: bytes, received_ns: int) -> None:
        frame = redacted(frame)
        self._handle.write(_HEADER.pack(received_ns, len(frame)) + frame)
        self._handle.flush()


def redacted(frame: bytes) -> bytes:
    """``frame`` without the session's credentials, if it carries any; else as is
    (a frame that does not decode too: replaying it must show the same fault)."""
    try:
        message = service_pb2.ServerMessage.FromString(frame)
    except DecodeError:
        return frame
    kind = message.WhichOneof("payload")
    if kind == "login_response":
        login = message.login_response
        if not login.session_id and not login.HasField("authentication_token"):
            return frame
        login.ClearField("session_id")
        login.ClearField("authentication_token")
    elif kind == "authentication_token" and message.authentication_token.token:
        message.authentication_token.ClearField("token")
    else:
        return frame
    return message.SerializeToString()


def read_recording(path: Path) -> Iterator[RecordedFrame]:
    """Every frame of a recording, in order."""
    with path.open("rb") as handle:
        if handle.read(len(MAGIC)) != MAGIC:
            raise RecordingError(f"{path}: not a fillcapture T4 recording")
        while header := handle.read(_HEADER.size):
            if len(header) < _HEADER.size:
                raise RecordingError(f"{path}: truncated record header")
            received_ns, length = _HEADER.unpack(header)
            frame = handle.read(length)
            if len(frame) < length:
                raise RecordingError(f"{path}: truncated frame")
            yield RecordedFrame(received_ns, frame)
