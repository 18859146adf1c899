"""The t4 feed adapter: one WebSocket session to T4 at a time, reconnecting.

Logs in, subscribes, keeps the heartbeat, and yields the fills it decodes.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from google.protobuf.message import DecodeError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from fillcapture.config import T4Settings
from fillcapture.feeds.base import LoginRefused
from fillcapture.feeds.t4.decode import Decoder
from fillcapture.feeds.t4.proto import account_pb2, auth_pb2, service_pb2
from fillcapture.metrics import Metrics
from fillcapture.model import (
    AccountsSeen,
    Bust,
    BustsReceived,
    Connected,
    Disconnected,
    FeedEvent,
    Fill,
    FillsReceived,
    MarketsSeen,
    OrderSide,
    Quarantined,
    RecordsQuarantined,
    SpreadsSeen,
    Subscribed,
    VisibleAccount,
)
from fillcapture.ownership import Ownership

log = structlog.get_logger(__name__)

# Results that retrying cannot fix; repeated bad logins lead to LOCKED_OUT.
NON_RETRYABLE = frozenset({
    auth_pb2.LOGIN_RESULT_FAILED,
    auth_pb2.LOGIN_RESULT_APPLICATION_NOT_VALID,
    auth_pb2.LOGIN_RESULT_FIRM_NOT_ALLOWED,
    auth_pb2.LOGIN_RESULT_USER_NOT_ALLOWED,
    auth_pb2.LOGIN_RESULT_INCORRECT_VERSION,
    auth_pb2.LOGIN_RESULT_UNAUTHORIZED,
    auth_pb2.LOGIN_RESULT_ROLE_NOT_SUPPORTED,
    auth_pb2.LOGIN_RESULT_PASSWORD_EXPIRED,
    auth_pb2.LOGIN_RESULT_LOCKED_OUT,
    auth_pb2.LOGIN_RESULT_TWO_FACTOR_NOT_SETUP,
    auth_pb2.LOGIN_RESULT_TWO_FACTOR_FAILED,
    auth_pb2.LOGIN_RESULT_TWO_FACTOR_REQUIRED,
})
_MAX_FRAME = 64 * 1024 * 1024
_CONTROL = frozenset({"heartbeat", "login_response", "authentication_token",
                      "account_subscribe_response"})


class _Retry(Exception):
    """The session ended in a way a later attempt may fix."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


def _bytes(frame: str | bytes) -> bytes:
    return frame if isinstance(frame, bytes) else frame.encode()


def login_result_name(result: int) -> str:
    try:
        return auth_pb2.LoginResult.Name(result)
    except ValueError:
        return f"LOGIN_RESULT_{result}"


class T4Feed:
    """The real T4 v1 adapter (also what the daemon uses against the simulator)."""

    def __init__(
        self, settings: T4Settings, ownership: Callable[[], Ownership], metrics: Metrics,
        *, frame_tap: Callable[[bytes, int], None] | None = None,
    ) -> None:
        self.settings = settings
        self.ownership = ownership
        self.metrics = metrics
        # Sees every raw server frame with its receive time (wall clock, ns): recording.
        self.frame_tap = frame_tap
        self._closing = False
        self._ws: ClientConnection | None = None
        self._decoder: Decoder | None = None
        self._visible: tuple[VisibleAccount, ...] = ()
        self._subscribed: set[str] = set()
        self._waiting_since: float | None = None
        # time.monotonic() when the current (or last) connection attempt began.
        self.attempt_started = 0.0

    # --- FeedAdapter ------------------------------------------------------

    async def events(self) -> AsyncIterator[FeedEvent]:
        attempt = 0
        while not self._closing:
            delay: float | None = None
            try:
                async for event in self._session():
                    if isinstance(event, Connected):
                        attempt = 0
                    yield event
            except _Retry as exc:
                delay = exc.delay
                reason = str(exc)
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            except InvalidURI as exc:
                raise LoginRefused("INVALID_URL", str(exc)) from None
            finally:
                self._ws = None
            if self._closing:
                break
            self.metrics.inc("feed.disconnects")
            yield Disconnected(reason)
            if delay is None:
                delay = self._backoff(attempt)
            attempt += 1
            log.info("feed.reconnect_wait", seconds=round(delay, 3), attempt=attempt)
            await asyncio.sleep(delay)

    async def registry_changed(self) -> None:
        if self._ws is not None and not self.settings.subscribe_all:
            await self._subscribe(self._ws)

    async def reconcile(self) -> bool:
        """Subscribe again to every subscribed account: T4 answers with a fresh
        snapshot of each, the day's whole book as T4 still has it."""
        ws = self._ws
        if ws is None or not self._subscribed:
            return False
        request = account_pb2.AccountSubscribe(
            subscribe=account_pb2.ACCOUNT_SUBSCRIBE_TYPE_ALL_UPDATES,
            upl_mode=account_pb2.UPL_MODE_AVERAGE,
        )
        if "*" in self._subscribed:
            request.subscribe_all_accounts = True
        else:
            request.account_id.extend(sorted(self._subscribed))
        log.info("feed.reconcile", all_accounts=request.subscribe_all_accounts,
                 accounts=len(request.account_id))
        await ws.send(service_pb2.ClientMessage(account_subscribe=request).SerializeToString())
        return True

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()

    # --- one session ------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        # Exponential back-off with full jitter.
        ceiling = min(self.settings.reconnect_cap, self.settings.reconnect_base * 2**attempt)
        return random.uniform(0, ceiling)

    async def _session(self) -> AsyncIterator[FeedEvent]:
        settings = self.settings
        self.attempt_started = time.monotonic()
        log.info("feed.connecting", url=settings.url)
        async with connect(
            settings.url, open_timeout=settings.connect_timeout, ping_interval=None,
            compression=None, max_size=_MAX_FRAME, max_queue=256, close_timeout=2,
        ) as ws:
            self._ws = ws
            connected = await self._login(ws)
            self.metrics.inc("feed.logins")
            yield connected
            self._subscribed = set()
            await self._subscribe(ws)
            keepalive = asyncio.create_task(self._keepalive(ws))
            try:
                async for event in self._frames(ws):
                    yield event
            finally:
                keepalive.cancel()
                self._waiting_since = None
        raise _Retry("connection closed by server")

    async def _login(self, ws: ClientConnection) -> Connected:
        s = self.settings
        request = auth_pb2.LoginRequest(app_name=s.app_name, app_license=s.app_license)
        if s.uses_api_key and s.api_key is not None:
            request.api_key = s.api_key.get_secret_value()
        else:
            request.firm = s.firm
            request.username = s.username
            request.password = s.password.get_secret_value() if s.password else ""
        await ws.send(service_pb2.ClientMessage(login_request=request).SerializeToString())
        response = await asyncio.wait_for(self._await_login(ws), s.connect_timeout)
        result = response.result
        if result != auth_pb2.LOGIN_RESULT_SUCCESS:
            name = login_result_name(result)
            self.metrics.inc(f"feed.login_refused.{name}")
            if result in NON_RETRYABLE:
                raise LoginRefused(name, response.error_message)
            if result == auth_pb2.LOGIN_RESULT_LOGGED_IN_ELSEWHERE:
                # Another process holds this user's session: fighting for it
                # would knock that one off in turn. Loud, counted, and slow.
                log.error("feed.logged_in_elsewhere", username=s.username or "(api key)",
                          retry_in=s.elsewhere_delay,
                          count=self.metrics[f"feed.login_refused.{name}"])
                raise _Retry(name, s.elsewhere_delay)
            raise _Retry(f"{name}: {response.error_message}")
        self._decoder = Decoder(response.firm or s.firm, self.metrics)
        accounts = tuple(
            VisibleAccount(a.account_id, a.account_number, a.account_name)
            for a in response.accounts
        )
        for account in accounts:
            self._decoder.learn_account(account.account_id, account.account, name=account.name)
        self._decoder.new_accounts.clear()  # reported by Connected itself
        self._visible = accounts
        log.info("feed.logged_in", firm=self._decoder.firm, username=response.username,
                 accounts=len(accounts), roles=list(response.roles))
        return Connected(self._decoder.firm, response.username or s.username, accounts,
                         s.subscribe_all)

    async def _await_login(self, ws: ClientConnection) -> Any:
        while True:
            message = self._parse(await ws.recv())
            if message is not None and message.WhichOneof("payload") == "login_response":
                return message.login_response

    async def _subscribe(self, ws: ClientConnection) -> None:
        request = account_pb2.AccountSubscribe(
            subscribe=account_pb2.ACCOUNT_SUBSCRIBE_TYPE_ALL_UPDATES,
            upl_mode=account_pb2.UPL_MODE_AVERAGE,
        )
        if self.settings.subscribe_all:
            if self._subscribed:
                return
            request.subscribe_all_accounts = True
            self._subscribed = {"*"}
        else:
            assert self._decoder is not None
            owned = self.ownership().accounts_of(self._decoder.firm)
            wanted = {a.account_id for a in self._visible if a.account in owned}
            new = sorted(wanted - self._subscribed)
            if not new:
                return
            request.account_id.extend(new)
            self._subscribed |= wanted
        log.info("feed.subscribing", all_accounts=request.subscribe_all_accounts,
                 accounts=len(request.account_id))
        await ws.send(service_pb2.ClientMessage(account_subscribe=request).SerializeToString())

    async def _frames(self, ws: ClientConnection) -> AsyncIterator[FeedEvent]:
        frame_events = self.frame_events
        monotonic = time.monotonic
        while True:
            self._waiting_since = monotonic()
            frame = await ws.recv()
            received_ns = time.monotonic_ns()
            self._waiting_since = None
            for event in frame_events(frame, received_ns):
                yield event

    def frame_events(self, frame: str | bytes, received_ns: int) -> list[FeedEvent]:
        """What one server frame after login means to the pipeline, in order.

        A frame's records are judged one at a time: those that cannot be
        stored are quarantined (:class:`RecordsQuarantined`), the rest are
        captured. A frame that does not decode at all is quarantined whole and
        counted as ``frames.malformed``. No exception escapes, so no frame can
        end the session.
        """
        decoder = self._decoder
        assert decoder is not None
        message = self._parse(frame)
        if message is None:
            return self._take_quarantined()
        kind = message.WhichOneof("payload")
        if kind is None:
            return []
        if kind in _CONTROL:
            return self._control(kind, message)
        fills: list[Fill] = []
        sides: list[OrderSide] = []
        busts: list[Bust] = []
        try:
            decoder.handle(kind, message, fills, sides, busts)
        except Exception as exc:  # a decoder bug costs one frame, never the session
            decoder.unresolve(sides)
            log.exception("frame.decoder_failed")
            self.metrics.inc("frames.decoder_failed")
            self._malformed(_bytes(frame), f"decoder failed: {type(exc).__name__}",
                            "decoder_failed")
            return self._take_quarantined()
        events: list[FeedEvent] = []
        if decoder.new_accounts:
            events.append(AccountsSeen(decoder.firm, tuple(decoder.new_accounts)))
            decoder.new_accounts.clear()
        if decoder.new_markets:
            events.append(MarketsSeen(tuple(decoder.new_markets)))
            decoder.new_markets.clear()
        if decoder.new_spreads:
            events.append(SpreadsSeen(tuple(decoder.new_spreads)))
            decoder.new_spreads.clear()
        events.extend(sides)
        if fills:
            events.append(FillsReceived(tuple(fills), received_ns))
        if busts:
            self.metrics.inc("busts.received", len(busts))
            events.append(BustsReceived(tuple(busts)))
        events.extend(self._take_quarantined())
        return events

    def _take_quarantined(self) -> list[FeedEvent]:
        decoder = self._decoder
        if decoder is None or not decoder.quarantined:
            return []
        records = tuple(decoder.quarantined)
        decoder.quarantined.clear()
        return [RecordsQuarantined(records)]

    def _control(self, kind: str, message: service_pb2.ServerMessage) -> list[FeedEvent]:
        if kind == "account_subscribe_response":
            response = message.account_subscribe_response
            if response.success:
                log.info("feed.subscribed", errors=list(response.errors))
                return [Subscribed(tuple(response.errors))]
            log.error("feed.subscribe_failed", errors=list(response.errors))
        return []

    def _parse(self, frame: str | bytes) -> service_pb2.ServerMessage | None:
        """One server frame decoded, or None (counted, logged and quarantined
        whole) if it is not a binary protobuf ServerMessage. The recording tap
        sees every binary frame."""
        if not isinstance(frame, bytes):
            self._malformed(frame.encode(), "text frame", "text_frame")
            return None
        if self.frame_tap is not None:
            self.frame_tap(frame, time.time_ns())
        try:
            return service_pb2.ServerMessage.FromString(frame)
        except DecodeError as exc:
            self._malformed(frame, f"undecodable: {exc}", "undecodable")
            return None

    def _malformed(self, frame: bytes, reason: str, code: str) -> None:
        """Count, log and quarantine a frame none of which could be read. The
        log shows its size and a short hex prefix (never the whole frame: it
        may be large); the quarantine keeps it whole."""
        self.metrics.inc("frames.malformed")
        log.warning("frame.malformed", reason=reason, size=len(frame),
                    prefix=frame[:16].hex())
        decoder = self._decoder
        if decoder is None:
            return  # before login: nothing of the firm's can be in it
        self.metrics.inc(f"quarantined.{code}")
        decoder.quarantined.append(Quarantined(
            decoder.firm, "", "", "", code, reason[:200], "frame", frame, None,
            datetime.now(UTC)))

    async def _keepalive(self, ws: ClientConnection) -> None:
        """Send heartbeats; declare the connection dead after a silent spell."""
        interval = self.settings.heartbeat_interval
        timeout = self.settings.silence_timeout
        tick = min(1.0, interval, timeout / 4)
        next_beat = time.monotonic() + interval
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            waiting = self._waiting_since
            if waiting is not None and now - waiting > timeout:
                log.warning("feed.silent", seconds=round(now - waiting, 1))
                self.metrics.inc("feed.silent_timeouts")
                await ws.close(code=1001, reason="silent")
                return
            if now >= next_beat:
                next_beat = now + interval
                beat = service_pb2.Heartbeat(timestamp=int(time.time() * 1000))
                await ws.send(service_pb2.ClientMessage(heartbeat=beat).SerializeToString())
