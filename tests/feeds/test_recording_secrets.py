"""Recordings keep no credentials: a login response's session id and
authentication token (and a token refresh's token) are cleared before the
frame is written, and such a recording still replays."""

from __future__ import annotations

import io
import re
import struct
import subprocess
import sys
from pathlib import Path

from fillcapture.feeds.recording import RecordingWriter, read_recording
from fillcapture.feeds.t4.proto import auth_pb2, service_pb2
from tests.conftest import clean_env, stored_rows, write_config

SESSION_ID = "3f1c9a7e-session-secret"
TOKEN = "eyJhbGciOi.token-secret.sig"


def _login() -> bytes:
    response = auth_pb2.LoginResponse(
        result=auth_pb2.LOGIN_RESULT_SUCCESS, session_id=SESSION_ID, firm="SIMFIRM",
        username="WhenTechFillUser", user_id="u-1", firm_id="f-1",
        authentication_token=auth_pb2.AuthenticationToken(request_id="r-1", token=TOKEN))
    response.accounts.add(account_id="acc-11111", account_number="11111")
    return service_pb2.ServerMessage(login_response=response).SerializeToString()


def test_login_response_is_recorded_without_session_id_or_token() -> None:
    refresh = service_pb2.ServerMessage(authentication_token=auth_pb2.AuthenticationToken(
        request_id="r-2", token=TOKEN)).SerializeToString()
    heartbeat = service_pb2.ServerMessage(
        heartbeat=service_pb2.Heartbeat(timestamp=5)).SerializeToString()
    out = io.BytesIO()
    writer = RecordingWriter(out)
    for n, frame in enumerate((_login(), refresh, heartbeat, b"\xff not protobuf")):
        writer.write(frame, n)
    data = out.getvalue()

    assert SESSION_ID.encode() not in data
    assert TOKEN.encode() not in data
    frames = _frames(data)
    login = service_pb2.ServerMessage.FromString(frames[0]).login_response
    assert login.session_id == ""
    assert not login.HasField("authentication_token")
    assert (login.result, login.firm, login.username, login.user_id) == \
        (auth_pb2.LOGIN_RESULT_SUCCESS, "SIMFIRM", "WhenTechFillUser", "u-1")
    assert [a.account_number for a in login.accounts] == ["11111"]
    assert service_pb2.ServerMessage.FromString(frames[1]).authentication_token.token == ""
    assert frames[2] == heartbeat  # other frames exactly as received
    assert frames[3] == b"\xff not protobuf"


def _frames(data: bytes) -> list[bytes]:
    """The frames of a recording held in memory (the format of recording.py)."""
    assert data.startswith(b"FCT4REC1")
    found, at = [], 8
    while at < len(data):
        _, length = struct.unpack(">QI", data[at:at + 12])
        found.append(data[at + 12:at + 12 + length])
        at += 12 + length
    return found


def test_a_recorded_session_has_no_session_id_and_replays(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", {
        "feed": {"adapter": "sim"},
        "sim": {"accounts": ["11111"], "fills_per_second": 200.0},
        "store": {"url": f"sqlite:///{tmp_path / 'fills.db'}"},
        "users": [{"name": "A", "accounts": ["11111"]}],
        "log": {"format": "json", "level": "info"},
    })
    out = tmp_path / "s.t4rec"
    done = subprocess.run(
        [sys.executable, "-m", "fillcapture", "--config", str(config), "record",
         "--out", str(out), "--seconds", "2"],
        capture_output=True, text=True, timeout=60, env=clean_env(), check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    session_ids = set(re.findall(r'"session_id": "([0-9a-f-]{36})"', done.stderr))
    assert session_ids  # the simulator logged the id it gave the session
    data = out.read_bytes()
    assert not any(sid.encode() in data for sid in session_ids)
    assert len(list(read_recording(out))) > 2

    replayed = subprocess.run(
        [sys.executable, "-m", "fillcapture", "--config", str(config), "replay", str(out)],
        capture_output=True, text=True, timeout=60, env=clean_env(), check=False)
    print(replayed.stdout)
    assert replayed.returncode == 0, replayed.stderr[-2000:]
    assert len(stored_rows(tmp_path / "fills.db")) > 10
