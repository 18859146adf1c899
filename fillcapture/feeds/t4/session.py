"""The t4 feed adapter: one WebSocket session to T4 at a time, reconnecting.

Logs in, subscribes, keeps the heartbeat, and yields the fills it decodes.
Over 400 lines because it is one session's whole life (login results,
subscriptions, snapshots, silence, reconnects), whose states share one loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from google.protobuf.message import DecodeError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from fillcapture.config import T4Settings
from fillcapture.feeds.base import LoginRefused, ReconcileStep, Reconciliation
from fillcapture.feeds.t4.backoff import Backoff
from fillcapture.feeds.t4.decode import Decoder
from fillcapture.feeds.t4.proto import account_pb2, auth_pb2, service_pb2
from fillcapture.feeds.t4.snapshots import SnapshotTracker
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
from fillcapture.urls import masked

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
# Another session holds the fill user's seat: fighting for it would knock that
# one off in turn, so these wait the long elsewhere_delay, loudly. LOGOUT at
# login is an ordinary retry; after login it means the server ended us.
LONG_WAIT_AT_LOGIN = frozenset({
    auth_pb2.LOGIN_RESULT_LOGGED_IN_ELSEWHERE,
    auth_pb2.LOGIN_RESULT_ADDITIONAL_USERS_NOT_ALLOWED,
})
LONG_WAIT_AFTER_LOGIN = LONG_WAIT_AT_LOGIN | {auth_pb2.LOGIN_RESULT_LOGOUT}
# [t4] price_format: how T4 writes every price it sends this session.
PRICE_FORMATS = {
    "decimal": auth_pb2.PRICE_FORMAT_DECIMAL,
    "real": auth_pb2.PRICE_FORMAT_REAL,
    "clearing_decimal": auth_pb2.PRICE_FORMAT_CLEARING_DECIMAL,
}
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
        # Orders busted by an update naming no trade, kept across sessions.
        self._unresolved_busts: dict[str, datetime] = {}
        # Set by a control frame that ends the session (a login_response after login).
        self._end: _Retry | None = None
        # time.monotonic() when the current (or last) connection attempt began.
        self.attempt_started = 0.0
        self.backoff = Backoff(settings.reconnect_base, settings.reconnect_cap,
                               settings.healthy_after)
        # The snapshots received, and the accounts a reconcile waits for.
        self._snapshots = SnapshotTracker()
        self._sessions = 0  # sessions logged in so far
        self._restart: str | None = None  # why the reconcile closed the session

    # --- FeedAdapter ------------------------------------------------------

    async def events(self) -> AsyncIterator[FeedEvent]:
        backoff = self.backoff
        while not self._closing:
            delay: float | None = None
            try:
                async for event in self._session():
                    if isinstance(event, Connected):
                        backoff.up()
                    yield event
            except _Retry as exc:
                delay = exc.delay
                reason = str(exc)
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake) as exc:
                reason = masked(f"{type(exc).__name__}: {exc}")
            except InvalidURI as exc:
                raise LoginRefused("INVALID_URL", masked(str(exc))) from None
            finally:
                self._ws = None
            if self._closing:
                break
            if self._restart is not None:  # the reconcile's new session: at once
                reason, delay, self._restart = self._restart, 0.0, None
            # Decided as the session ends: only a healthy spell forgives the back-off.
            delay = backoff.next_delay(delay)
            self.metrics.inc("feed.disconnects")
            yield Disconnected(reason)
            log.info("feed.reconnect_wait", seconds=round(delay, 3), attempt=backoff.attempt,
                     ceiling=round(backoff.ceiling, 3))
            await asyncio.sleep(delay)

    async def registry_changed(self) -> None:
        if self._ws is not None and not self.settings.subscribe_all:
            await self._subscribe(self._ws)

    async def reconcile(self, step_seconds: float) -> Reconciliation:
        """See a fresh snapshot of every subscribed owned account: the day's
        whole book as T4 still has it. First subscribe again; if some account's
        snapshot has not begun within ``step_seconds``, unsubscribe and
        subscribe; failing that too, close the session, whose successor's login
        and subscription bring them. While disconnected, it waits one step for
        the reconnect's."""
        decoder = self._decoder
        if decoder is None:
            return Reconciliation(False, reason="not connected to T4")
        owned = self.ownership().accounts_of(decoder.firm)
        expected = {account_id: number for account_id, number in decoder.accounts.items()
                    if number in owned and ("*" in self._subscribed
                                            or account_id in self._subscribed)}
        if not expected:  # nothing to see: nothing is proven either
            return Reconciliation(False, reason="no owned account is subscribed: the fill "
                                                "user sees none of them")
        self._snapshots.expect(expected)
        steps: list[tuple[ReconcileStep, Callable[[ClientConnection], Awaitable[None]]]] = [
            ("resubscribe", self._resubscribe),
            ("unsubscribe_subscribe", self._unsubscribe_subscribe),
            ("new_session", self._new_session),
        ]
        if self._ws is None:
            del steps[:2]  # a reconnect is under way: its subscription brings them
        for step, action in steps:
            session = self._sessions
            ws = self._ws
            log.info("feed.reconcile", step=step, accounts=len(expected),
                     waiting=len(self._snapshots.missing), connected=ws is not None)
            if ws is not None:
                # Closed meanwhile: the reconnect's subscription brings them.
                with contextlib.suppress(ConnectionClosed):
                    await action(ws)
            if await self._snapshots.wait(step_seconds):
                return Reconciliation(
                    True, step if self._sessions == session else "new_session", len(expected))
            log.warning("feed.reconcile_no_snapshot", step=step, seconds=step_seconds,
                        missing=sorted(expected.get(i) or i for i in self._snapshots.missing))
        missing = tuple(sorted(expected.get(i) or i for i in self._snapshots.missing))
        return Reconciliation(
            False, accounts=len(expected), missing=missing,
            reason=f"no fresh snapshot of {len(missing)} of {len(expected)} accounts within "
                   f"{step_seconds:g} s of each step ({', '.join(step for step, _ in steps)})")

    def _account_subscribe(self, kind: account_pb2.AccountSubscribeType) -> bytes:
        """An AccountSubscribe of ``kind`` for every account subscribed now."""
        request = account_pb2.AccountSubscribe(
            subscribe=kind,
            upl_mode=account_pb2.UPL_MODE_AVERAGE,
        )
        if "*" in self._subscribed:
            request.subscribe_all_accounts = True
        else:
            request.account_id.extend(sorted(self._subscribed))
        return service_pb2.ClientMessage(account_subscribe=request).SerializeToString()

    async def _resubscribe(self, ws: ClientConnection) -> None:
        await ws.send(self._account_subscribe(account_pb2.ACCOUNT_SUBSCRIBE_TYPE_ALL_UPDATES))

    async def _unsubscribe_subscribe(self, ws: ClientConnection) -> None:
        await ws.send(self._account_subscribe(account_pb2.ACCOUNT_SUBSCRIBE_TYPE_NONE))
        await ws.send(self._account_subscribe(account_pb2.ACCOUNT_SUBSCRIBE_TYPE_ALL_UPDATES))

    async def _new_session(self, ws: ClientConnection) -> None:
        self._restart = "closed for a new session: the reconcile saw no fresh snapshot"
        await ws.close(code=1000, reason="reconcile")

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()

    # --- one session ------------------------------------------------------

    async def _session(self) -> AsyncIterator[FeedEvent]:
        settings = self.settings
        self.attempt_started = time.monotonic()
        log.info("feed.connecting", url=masked(settings.url))
        async with connect(
            settings.url, open_timeout=settings.connect_timeout, ping_interval=None,
            compression=None, max_size=_MAX_FRAME, max_queue=256, close_timeout=2,
        ) as ws:
            self._ws = ws
            connected = await self._login(ws)
            self.metrics.inc("feed.logins")
            self._sessions += 1
            self._snapshots.new_session()
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
        price_format = PRICE_FORMATS[s.price_format]
        if s.uses_api_key and s.api_key is not None:
            # As CTS's clients send it: the key alone names the user and the
            # application. The price format is no credential: it is sent so that
            # the stored prices mean what [t4] price_format says (the default,
            # DECIMAL, is proto3's zero and so not on the wire at all).
            request = auth_pb2.LoginRequest(api_key=s.api_key.get_secret_value(),
                                            price_format=price_format)
        else:
            request = auth_pb2.LoginRequest(
                firm=s.firm, username=s.username,
                password=s.password.get_secret_value() if s.password else "",
                app_name=s.app_name, app_license=s.app_license, price_format=price_format)
        await ws.send(service_pb2.ClientMessage(login_request=request).SerializeToString())
        response = await asyncio.wait_for(self._await_login(ws), s.connect_timeout)
        result = response.result
        if result != auth_pb2.LOGIN_RESULT_SUCCESS:
            name = login_result_name(result)
            self.metrics.inc(f"feed.login_refused.{name}")
            if result in NON_RETRYABLE:
                raise LoginRefused(name, response.error_message)
            if result in LONG_WAIT_AT_LOGIN:
                raise self._held_elsewhere(name, after_login=False)
            raise _Retry(f"{name}: {response.error_message}")
        self._decoder = Decoder(response.firm or s.firm, self.metrics)
        self._decoder.unresolved_busts = self._unresolved_busts
        accounts = tuple(
            VisibleAccount(a.account_id, a.account_number, a.account_name)
            for a in response.accounts
        )
        for account in accounts:
            self._decoder.learn_account(account.account_id, account.account, name=account.name)
        self._decoder.new_accounts.clear()  # reported by Connected itself
        self._visible = accounts
        log.info("feed.logged_in", firm=self._decoder.firm, username=response.username,
                 accounts=len(accounts), roles=list(response.roles),
                 price_format=s.price_format)
        return Connected(self._decoder.firm, response.username or s.username, accounts,
                         s.subscribe_all, price_format=s.price_format)

    def _held_elsewhere(self, name: str, *, after_login: bool) -> _Retry:
        """Another session holds the fill user's seat: loud, counted (by the
        caller), and a long wait before the next attempt."""
        s = self.settings
        log.error("feed.logged_in_elsewhere", result=name, after_login=after_login,
                  username=s.username or "(api key)", retry_in=s.elsewhere_delay,
                  count=self.metrics[f"feed.login_refused.{name}"])
        return _Retry(name, s.elsewhere_delay)

    def _late_login_response(self, response: auth_pb2.LoginResponse) -> None:
        """A login_response after login: T4 ending (or repeating) the session."""
        result = response.result
        if result == auth_pb2.LOGIN_RESULT_SUCCESS:
            log.warning("feed.login_response_repeated")
            return
        name = login_result_name(result)
        self.metrics.inc(f"feed.login_refused.{name}")
        if result in LONG_WAIT_AFTER_LOGIN:
            self._end = self._held_elsewhere(name, after_login=True)
            return
        log.error("feed.session_ended_by_server", result=name,
                  message=response.error_message[:200])
        self._end = _Retry(f"{name} after login: {response.error_message}")

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
            # An entry may name the account by number, T4 id or code.
            codes = self._decoder.codes
            wanted = {a.account_id for a in self._visible
                      if a.account in owned or a.account_id in owned
                      or codes.get(a.account_id, a.code or "\0") in owned}
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
        self._end = None
        while True:
            self._waiting_since = monotonic()
            frame = await ws.recv()
            received_ns = time.monotonic_ns()
            self._waiting_since = None
            for event in frame_events(frame, received_ns):
                yield event
            if self._end is not None:
                end, self._end = self._end, None
                raise end

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
        if decoder.new_conflicts:
            events.extend(decoder.new_conflicts)
            decoder.new_conflicts.clear()
        if decoder.recounts:
            events.extend(decoder.recounts)
            decoder.recounts.clear()
        if decoder.new_spreads:
            events.append(SpreadsSeen(tuple(decoder.new_spreads)))
            decoder.new_spreads.clear()
        events.extend(sides)
        if fills:
            events.append(FillsReceived(tuple(fills), received_ns))
        if busts:
            self.metrics.inc("busts.received", len(busts))
            events.append(BustsReceived(tuple(busts)))
        if kind == "account_snapshot":
            events.append(self._snapshots.received(
                decoder.firm, decoder.accounts, message.account_snapshot, decoder.tally))
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
        if kind == "login_response":
            self._late_login_response(message.login_response)
        elif kind == "account_subscribe_response":
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
