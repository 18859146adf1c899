"""One client's T4 session on the simulator: login, subscriptions, heartbeats and
the bounded outbound queue that carries snapshots and live frames in order,
with the faults a session can show (refused login, stall, frames mangled on the way).
Over 400 lines because it is the server side of one session's whole life, as
the adapter's session module is the client side."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import deque
from collections.abc import Iterator, Mapping, Sequence

import structlog
from google.protobuf.message import DecodeError
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.protocol import State

from fillcapture.feeds.t4.proto import account_pb2, auth_pb2, service_pb2
from fillcapture.sim import wire
from fillcapture.sim.book import Book, SimAccount
from fillcapture.sim.config import SimConfig
from fillcapture.sim.faults import Faults, LoginSeen
from fillcapture.sim.shapes import Shaper

log = structlog.get_logger(__name__)

OUTBOX_LIMIT = 20_000
SEND_BATCH = 512  # frames per socket write when the client keeps up
SNAPSHOT_BATCH = 8  # snapshot frames are ~9 kB each
LOGIN_TIMEOUT = 30.0

OutItem = bytes | str | Iterator[bytes]
"""A serialized frame, a text frame (junk, as a fault), or a lazily built run of
binary frames (an account snapshot)."""


class Outbox:
    """A session's outbound frames, in send order.

    Only live fills respect the limit (the generator waits in :meth:`wait_space`);
    replies and snapshots are pushed unconditionally, because making them wait
    would let live frames overtake the snapshot they follow.
    """

    def __init__(self, limit: int = OUTBOX_LIMIT) -> None:
        self._items: deque[OutItem] = deque()
        self._limit = limit
        self._resume_at = limit // 2  # hysteresis: wake the generator for a batch, not a frame
        self._readable: asyncio.Future[None] | None = None
        self._space: asyncio.Future[None] | None = None
        self.closed = False

    def __len__(self) -> int:
        return len(self._items)

    def push(self, item: OutItem) -> None:
        if self.closed:
            return
        self._items.append(item)
        waiter = self._readable
        if waiter is not None:
            self._readable = None
            if not waiter.done():
                waiter.set_result(None)

    @property
    def full(self) -> bool:
        return not self.closed and len(self._items) >= self._limit

    async def wait_space(self) -> None:
        while self.full:
            if self._space is None or self._space.done():
                self._space = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._space)

    async def get_many(self, limit: int) -> list[OutItem]:
        """Wait for at least one item; return up to ``limit`` of them, oldest first."""
        items = self._items
        while not items:
            self._readable = asyncio.get_running_loop().create_future()
            await self._readable
        taken = [items.popleft() for _ in range(min(limit, len(items)))]
        if self._space is not None and len(items) <= self._resume_at:
            self._release_space()
        return taken

    def close(self) -> None:
        self.closed = True
        self._items.clear()
        self._release_space()

    def _release_space(self) -> None:
        space, self._space = self._space, None
        if space is not None and not space.done():
            space.set_result(None)


class Router:
    """Which sessions receive which account's live frames."""

    def __init__(
        self,
        config: SimConfig,
        book: Book,
        accounts: Mapping[str, SimAccount],
        faults: Faults,
        shaper: Shaper | None = None,
    ) -> None:
        # The firm as it is now: replaced (never mutated) when an account is added.
        self.config = config
        self._shaper = shaper
        self._book = book
        self._accounts = accounts
        self._faults = faults
        self.listeners: dict[str, list[Session]] = {}
        # Sessions that asked for all their accounts, and so get new ones too.
        self._all_accounts: set[Session] = set()
        self._anyone = asyncio.Event()
        # Live frames are dropped while set (SimServer.lose_live_frames).
        self.losing = False

    def subscribe(
        self, session: Session, numbers: Sequence[str], *, all_accounts: bool = False
    ) -> None:
        """Queue each account's snapshot and start its live frames, atomically.

        There is no ``await`` here: a fill made before this call is in the
        snapshot, one made after it arrives live behind the snapshot, and none
        is both or neither. An account already subscribed gets a fresh snapshot
        (a reconcile); its live frames were queued before it, so none is lost.
        """
        session.flush_live()  # live frames held back for reordering go before the snapshot
        for number in numbers:
            views = self._book.snapshot(number)
            frames = wire.snapshot_frames(
                self.config, self._accounts[number], views, self.config.snapshot_chunk)
            if self._shaper is not None and self._shaper.snapshot_active:
                frames = self._shaper.snapshot(frames)
            session.outbox.push(frames)
            sessions = self.listeners.setdefault(number, [])
            if session not in sessions:
                sessions.append(session)
            session.accounts.add(number)
        if all_accounts:
            self._all_accounts.add(session)
        if self.listeners:
            self._anyone.set()

    def add_account(self, config: SimConfig, number: str) -> None:
        """A new firm account: sessions subscribed to all accounts get its
        snapshot (T4 sends one for every newly subscribed account) and its live frames."""
        self.config = config
        for session in list(self._all_accounts):
            self.subscribe(session, [number])

    def unsubscribe(self, session: Session, numbers: Sequence[str]) -> None:
        for number in numbers:
            sessions = self.listeners.get(number)
            if sessions and session in sessions:
                sessions.remove(session)
                if not sessions:
                    del self.listeners[number]
            session.accounts.discard(number)
        if not session.accounts:
            self._all_accounts.discard(session)
        if not self.listeners:
            self._anyone.clear()

    def route(self, frames: Sequence[tuple[str, bytes]]) -> None:
        """Hand each live frame (one shared bytes object) to its account's sessions."""
        if self.losing:
            return
        listeners = self.listeners
        if self._faults.on_live:
            deliver = self._faults.deliver
            for number, frame in frames:
                for session in listeners.get(number, ()):
                    deliver(frame, session.push_live)
            return
        for number, frame in frames:
            for session in listeners.get(number, ()):
                session.outbox.push(frame)

    async def wait_listener(self) -> None:
        await self._anyone.wait()

    async def wait_space(self) -> None:
        """Back-pressure: wait until no listening session's outbox is full."""
        for session in {s for sessions in self.listeners.values() for s in sessions}:
            await session.outbox.wait_space()


def check_login(
    config: SimConfig, request: auth_pb2.LoginRequest
) -> tuple[auth_pb2.LoginResult, str]:
    """``(LoginResult, error_message)`` for a login request."""
    if request.api_key:
        if request.api_key == config.api_key:
            return auth_pb2.LOGIN_RESULT_SUCCESS, ""
        return auth_pb2.LOGIN_RESULT_FAILED, "Invalid API key."
    if request.firm != config.firm:
        return auth_pb2.LOGIN_RESULT_FIRM_NOT_ALLOWED, f"Firm '{request.firm}' is not allowed."
    if request.username != config.username or request.password != config.password:
        return auth_pb2.LOGIN_RESULT_FAILED, "Invalid username or password."
    return auth_pb2.LOGIN_RESULT_SUCCESS, ""


class Session:
    """Serves one WebSocket from login to close."""

    def __init__(
        self,
        ws: ServerConnection,
        router: Router,
        accounts: Mapping[str, SimAccount],
        faults: Faults,
    ) -> None:
        self._ws = ws
        self._router = router
        self._accounts = accounts
        self._faults = faults
        self.session_id = str(uuid.uuid4())
        self.accounts: set[str] = set()
        self.outbox = Outbox()
        self._window = faults.reorder_window(self.outbox.push)
        # Where live frames go: straight onto the outbox unless they are reordered first.
        self.push_live = self.outbox.push if self._window is None else self._window.push
        self._sending = asyncio.Event()  # cleared while the session stalls
        self._sending.set()
        self._subscriptions = 0  # ALL_UPDATES requests so far (resubscribe_no_snapshot)
        self._log = log.bind(session_id=self.session_id, peer=str(ws.remote_address))

    @property
    def _config(self) -> SimConfig:
        # Through the router: accounts opened after this session began count too.
        return self._router.config

    def flush_live(self) -> None:
        """Queue the live frames a reorder window holds, now."""
        if self._window is not None:
            self._window.flush()

    async def run(self) -> None:
        if not await self._login():
            return
        faults = self._faults
        faults.live_sessions += 1
        faults.stats["sessions_max_live"] = max(faults.stats["sessions_max_live"],
                                                faults.live_sessions)
        if faults.live_sessions > 1:
            # T4 lets one session of a user live: a second is a client's fault.
            faults.stats["sessions_overlapping"] += 1
            self._log.warning("sim.session.overlap", live=faults.live_sessions)
        try:
            await self._logged_in()
        finally:
            faults.live_sessions -= 1

    async def _logged_in(self) -> None:
        if self._config.drop_after_login:
            self._faults.stats["dropped_after_login"] += 1
            self._log.info("sim.session.dropped_after_login")
            await self._ws.close(CloseCode.NORMAL_CLOSURE, "dropped after login")
            return
        tasks = [asyncio.create_task(self._send_loop()), asyncio.create_task(self._heartbeats())]
        if self._config.stall_after is not None:
            tasks.append(asyncio.create_task(self._stall(self._config.stall_after)))
        if self._config.logged_in_elsewhere_after is not None:
            tasks.append(asyncio.create_task(
                self._logged_in_elsewhere(self._config.logged_in_elsewhere_after)))
        try:
            await self._read_loop()
        finally:
            self._router.unsubscribe(self, list(self.accounts))
            if self._window is not None:
                self._window.close()
            self.outbox.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._log.info("sim.session.closed", code=self._ws.close_code)

    async def _login(self) -> bool:
        ws = self._ws
        try:
            async with asyncio.timeout(LOGIN_TIMEOUT):
                data = await ws.recv()
        except TimeoutError:
            await ws.close(CloseCode.POLICY_VIOLATION, "login_request expected")
            return False
        except ConnectionClosed:
            return False
        message = _decode(data)
        if message is None or message.WhichOneof("payload") != "login_request":
            await ws.close(CloseCode.POLICY_VIOLATION, "login_request expected")
            return False
        request = message.login_request
        seen = LoginSeen.of(request)
        self._faults.logins.append(seen)
        result, error = check_login(self._config, request)
        if result == auth_pb2.LOGIN_RESULT_SUCCESS:
            refused = self._faults.refusal()
            if refused is not None:
                result, error = refused, _refusal_message(refused)
        name = auth_pb2.LoginResult.Name(result)
        self._faults.login_attempts[name] += 1
        try:
            if result != auth_pb2.LOGIN_RESULT_SUCCESS:
                self._log.info("sim.session.login_failed", username=request.username, result=name)
                await ws.send(wire.login_failed(result, error))
                await ws.close(CloseCode.NORMAL_CLOSURE, "login failed")
                return False
            visible = [self._accounts[number] for number in self._config.visible_accounts]
            await ws.send(wire.login_ok(self._config, self.session_id, visible))
        except ConnectionClosed:
            return False
        self._log.info("sim.session.login", username=self._config.username, accounts=len(visible),
                       fields=list(seen.fields), price_format=seen.price_format)
        return True

    async def _read_loop(self) -> None:
        ws = self._ws
        try:
            async for data in ws:
                message = _decode(data)
                if message is None:
                    await ws.close(CloseCode.UNSUPPORTED_DATA, "one ClientMessage per binary frame")
                    return
                kind = message.WhichOneof("payload")
                if kind == "account_subscribe":
                    self._on_subscribe(message.account_subscribe)
                elif kind == "login_request":
                    self._log.warning("sim.session.login_repeated")
                # Client heartbeats and token requests need no reply from the simulator.
        except ConnectionClosed:
            pass

    def _on_subscribe(self, request: account_pb2.AccountSubscribe) -> None:
        config = self._config
        if request.subscribe_all_accounts:
            allowed = config.accounts if config.risk_manager else config.visible_accounts
            numbers, errors = list(allowed), []
        else:
            by_id = {self._accounts[n].account_id: n for n in config.visible_accounts}
            numbers = [by_id[i] for i in dict.fromkeys(request.account_id) if i in by_id]
            errors = [
                f"Account {i} not found or not available to this user."
                for i in request.account_id
                if i not in by_id
            ]
        if request.subscribe == account_pb2.ACCOUNT_SUBSCRIBE_TYPE_NONE:
            self._router.unsubscribe(self, numbers)
            self.outbox.push(wire.subscribe_response(True, errors))
            return
        success = bool(numbers) or not errors
        self.outbox.push(wire.subscribe_response(success, errors))
        self._subscriptions += 1
        if 1 < self._subscriptions <= 1 + config.resubscribe_no_snapshot:
            # A fault: accepted, and nothing more (no snapshot, no change).
            self._faults.stats["resubscriptions_ignored"] += 1
            self._log.info("sim.session.resubscription_ignored", accounts=len(numbers))
            return
        self._router.subscribe(self, numbers, all_accounts=request.subscribe_all_accounts)
        self._log.info("sim.session.subscribed", accounts=len(numbers), errors=len(errors))

    async def _send_loop(self) -> None:
        outbox = self.outbox
        try:
            while True:
                batch: list[bytes] = []
                for item in await outbox.get_many(SEND_BATCH):
                    if isinstance(item, bytes):
                        batch.append(item)
                        continue
                    if isinstance(item, str):  # a junk text frame, as a fault
                        if batch:
                            await self._send(batch)
                            batch = []
                        await self._sending.wait()
                        await self._ws.send(item)
                        continue
                    for frame in item:  # a snapshot, built frame by frame as it goes out
                        batch.append(frame)
                        if len(batch) >= SNAPSHOT_BATCH:
                            await self._send(batch)
                            batch = []
                if batch:
                    await self._send(batch)
        except ConnectionClosed:
            pass
        except Exception:
            # A bug here must end this session only, never the server or generator.
            self._log.exception("sim.session.send_failed")
            await self._ws.close(CloseCode.INTERNAL_ERROR, "simulator error")

    async def _send(self, batch: list[bytes]) -> None:
        if not self._sending.is_set():
            await self._sending.wait()  # stalled: hold everything, in order, until it ends
        await send_frames(self._ws, batch)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self._config.heartbeat_interval)
            if self._sending.is_set():  # a stalled server sends no heartbeats, not even late
                self.outbox.push(wire.heartbeat(time.time_ns() // 1_000_000))

    async def _stall(self, after: float) -> None:
        """Go silent ``after`` seconds into the session, without closing it, for
        ``stall_seconds``; what is queued meanwhile is sent when it ends."""
        await asyncio.sleep(after)
        seconds = self._config.stall_seconds
        self._sending.clear()
        self._faults.stats["stalled_sessions"] += 1
        self._log.info("sim.session.stalled", seconds=seconds)
        if math.isinf(seconds):
            return
        await asyncio.sleep(seconds)
        self._sending.set()
        self._log.info("sim.session.resumed")


    async def _logged_in_elsewhere(self, after: float) -> None:
        """``after`` seconds into the session, end it as T4 does when the same
        user logs in elsewhere: a ``login_response`` saying so, then the close."""
        await asyncio.sleep(after)
        result = auth_pb2.LOGIN_RESULT_LOGGED_IN_ELSEWHERE
        self._faults.stats["logged_in_elsewhere"] += 1
        self._log.info("sim.session.logged_in_elsewhere")
        try:
            await self._ws.send(wire.login_failed(result, _refusal_message(result)))
            await self._ws.close(CloseCode.NORMAL_CLOSURE, "logged in elsewhere")
        except ConnectionClosed:
            pass


async def send_frames(ws: ServerConnection, frames: list[bytes]) -> None:
    """Send binary frames, many per socket write.

    ``ws.send`` costs one system call and one flow-control check per frame,
    which was half the simulator's CPU at 50,000 fills/s. This writes the
    whole batch's frames in one go through websockets' Sans-I/O protocol and
    waits on its flow control once. Whenever the connection is not plainly
    open, it falls back to ``ws.send``, which raises ``ConnectionClosed``.
    """
    protocol = ws.protocol
    if protocol.state is not State.OPEN or len(frames) == 1:
        for frame in frames:
            await ws.send(frame)
        return
    for frame in frames:
        protocol.send_binary(frame)
    ws.transport.write(b"".join(protocol.data_to_send()))
    await ws.drain()


def _refusal_message(result: int) -> str:
    """``error_message`` for a refused login, e.g. "Logged in elsewhere."."""
    words = auth_pb2.LoginResult.Name(result).removeprefix("LOGIN_RESULT_").replace("_", " ")
    return f"{words.capitalize()}."


def _decode(data: str | bytes) -> service_pb2.ClientMessage | None:
    if isinstance(data, str):
        return None
    try:
        return service_pb2.ClientMessage.FromString(data)
    except DecodeError:
        return None
