"""The simulator's fault injection on the wire: duplicated, reordered and junk
live frames, refused logins and dropped sockets, with counts of what was done.

Each fault draws from its own seeded stream, never from the fill generator's,
so turning a fault on changes what a client receives, not what the ledger holds.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from random import Random
from typing import cast

from google.protobuf.message import DecodeError

from fillcapture.feeds.t4.proto import auth_pb2, orderrouting_pb2, service_pb2
from fillcapture.sim.config import SimConfig

REORDER_HOLD = 0.02  # seconds a reorder window waits to fill up before it is sent anyway

JUNK_KINDS = (
    "random_bytes",
    "truncated",
    "text",
    "client_message",
    "empty_ids",
    "negative_volume",
    "bad_price",
)
"""The junk frames ``malformed_fraction`` sends, in the order they take turns:
bytes that do not decode; a real frame cut short so it does not decode; a text
WebSocket frame; a serialized ``ClientMessage`` (it decodes as an unasked-for
``authentication_token``); and three copies of the real frame's fill (or of a
fill of the order it announces or the market it describes) with ``change =
ORDER_CHANGE_TRADE`` and one defect each: empty ``unique_id`` and
``account_id``, a negative ``volume``, price text ``"abc"``. None of them is a
valid fill."""

TEXT_JUNK = "fillcapture-sim: this text frame is junk; T4 sends binary frames only"
_CLIENT_JUNK = service_pb2.ClientMessage(
    authentication_token_request=auth_pb2.AuthenticationTokenRequest(request_id="sim-junk")
).SerializeToString()

Push = Callable[[bytes | str], None]


@dataclass(frozen=True)
class LoginSeen:
    """A login request as the simulator received it, without any value that
    could be a secret: the names of the fields set, and the price format asked
    for (``PRICE_FORMAT_DECIMAL`` when the field is absent, as proto3 has it)."""

    fields: tuple[str, ...]
    price_format: str

    @classmethod
    def of(cls, request: auth_pb2.LoginRequest) -> LoginSeen:
        try:
            price_format = auth_pb2.PriceFormat.Name(request.price_format)
        except ValueError:
            price_format = f"PRICE_FORMAT_{request.price_format}"
        return cls(tuple(sorted(field.name for field, _ in request.ListFields())), price_format)


class Faults:
    """Shared by a server's sessions: the login refusals left, the fault draws,
    and the counters ``stats`` (``junk_frames``, ``duplicate_frames``,
    ``dropped_connections``, ``stalled_sessions``, ``dropped_after_login``,
    ``logged_in_elsewhere``; ``sessions_max_live``, the most sessions logged in
    at once, and ``sessions_overlapping``, logins while another session was
    live: T4 would allow one) and ``login_attempts`` (by ``LoginResult`` name);
    ``logins`` is every login request received, as :class:`LoginSeen`."""

    def __init__(self, config: SimConfig) -> None:
        self.stats: Counter[str] = Counter()
        self.login_attempts: Counter[str] = Counter()
        self.logins: list[LoginSeen] = []
        self._config = config
        # Sessions logged in now (the simulator serves one fill user).
        self.live_sessions = 0
        # SimConfig keeps a plain int; the generated stubs want the enum type.
        self._refuse = (
            None if config.refuse_login is None else cast(auth_pb2.LoginResult, config.refuse_login)
        )
        self._refusals_left = config.refuse_logins
        self._duplicate = config.duplicate_fraction
        self._malformed = config.malformed_fraction
        self._rng = Random(f"{config.seed}/frames")
        self._drop_rng = Random(f"{config.seed}/drops")
        self._junk_kinds = itertools.cycle(JUNK_KINDS)
        # Whether live frames need more than a push onto the outbox.
        self.on_live = bool(self._duplicate or self._malformed or config.reorder_window > 1)

    def refuse(self, result: int | None, count: int | None = None) -> None:
        """From now on refuse correct logins with ``result``, ``count`` times
        (``None``: until told otherwise); ``result=None`` accepts them again."""
        self._refuse = None if result is None else cast(auth_pb2.LoginResult, result)
        self._refusals_left = count

    def refusal(self) -> auth_pb2.LoginResult | None:
        """The ``LoginResult`` to refuse a correct login with, or ``None`` to accept it."""
        result = self._refuse
        if result is None or self._refusals_left == 0:
            return None
        if self._refusals_left is not None:
            self._refusals_left -= 1
        return result

    def drop_intervals(self) -> list[Iterator[float]]:
        """One endless run of seconds between socket drops per drop fault configured."""
        schedules: list[Iterator[float]] = []
        if self._config.drop_every is not None:
            schedules.append(itertools.repeat(self._config.drop_every))
        mean = self._config.drop_random
        if mean is not None:
            rng = self._drop_rng
            schedules.append(rng.expovariate(1 / mean) for _ in itertools.count())
        return schedules

    def reorder_window(self, push: Push) -> ReorderWindow | None:
        """A session's reorder window in front of ``push``, if reordering is on."""
        size = self._config.reorder_window
        return ReorderWindow(size, push, self._rng) if size > 1 else None

    def deliver(self, frame: bytes, push: Push) -> None:
        """Hand one live frame to a session, with junk before it or a copy after it."""
        random = self._rng.random
        if self._malformed and random() < self._malformed:
            push(self.junk(frame))
            self.stats["junk_frames"] += 1
        push(frame)
        if self._duplicate and random() < self._duplicate:
            push(frame)
            self.stats["duplicate_frames"] += 1

    def junk(self, frame: bytes) -> bytes | str:
        """The next kind of junk in turn, made from the real ``frame`` it precedes."""
        kind = next(self._junk_kinds)
        if kind == "random_bytes":
            return self._random_bytes()
        if kind == "truncated":
            return self._truncated(frame)
        if kind == "text":
            return TEXT_JUNK
        if kind == "client_message":
            return _CLIENT_JUNK
        return _defective_fill(frame, kind)

    def _random_bytes(self) -> bytes:
        rng = self._rng
        while True:  # about one draw in 200 happens to parse; draw again
            data = rng.randbytes(8 + int(rng.random() * 56))
            if not _decodes(data):
                return data

    def _truncated(self, frame: bytes) -> bytes:
        for end in range(len(frame) // 2, 0, -1):
            if not _decodes(frame[:end]):
                return frame[:end]
        return self._random_bytes()


class ReorderWindow:
    """Holds a session's live frames until ``size`` are in (or ``REORDER_HOLD``
    seconds pass), then sends them shuffled. Only live frames pass through it:
    snapshots are never reordered, and :meth:`flush` runs before one is queued,
    so no live frame crosses a snapshot."""

    def __init__(self, size: int, push: Push, rng: Random) -> None:
        self._size = size
        self._push = push
        self._rng = rng
        self._frames: list[bytes | str] = []
        self._timer: asyncio.TimerHandle | None = None

    def push(self, frame: bytes | str) -> None:
        frames = self._frames
        frames.append(frame)
        if len(frames) >= self._size:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(REORDER_HOLD, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        frames = self._frames
        if frames:
            self._rng.shuffle(frames)
            for frame in frames:
                self._push(frame)
            frames.clear()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._frames.clear()


def _decodes(data: bytes) -> bool:
    try:
        service_pb2.ServerMessage.FromString(data)
    except DecodeError:
        return False
    return True


def _defective_fill(frame: bytes, defect: str) -> bytes:
    """A copy of the fill ``frame`` carries (or a fill of the order it
    announces, or of the market it describes) spoiled by ``defect``, so that
    it is valid protobuf but no valid fill."""
    message = service_pb2.ServerMessage.FromString(frame)
    kind = message.WhichOneof("payload")
    if kind == "order_update_multi" and message.order_update_multi.updates:
        # A live update in its block (the default shape): the update itself,
        # with the block's ids where it leaves them empty.
        block = message.order_update_multi
        inner = block.updates[0].WhichOneof("payload") or "order_update"
        record = getattr(block.updates[0], inner)
        message = service_pb2.ServerMessage()
        getattr(message, inner).CopyFrom(record)
        copy = getattr(message, inner)
        copy.account_id = copy.account_id or block.account_id
        copy.market_id = copy.market_id or block.market_id
        kind = inner
    part: orderrouting_pb2.OrderUpdateTrade | orderrouting_pb2.OrderUpdateTradeLeg
    if kind == "order_update_trade":
        part = message.order_update_trade
    elif kind == "order_update_trade_leg":
        part = message.order_update_trade_leg
    elif kind == "market_details":  # no fill or order: a made-up fill of the market
        market_id = message.market_details.market_id
        message = service_pb2.ServerMessage()
        part = message.order_update_trade
        part.unique_id = part.account_id = part.exchange_trade_id = "sim-junk"
        part.market_id = market_id
        part.sequence_order = part.volume = 1
        part.price.value = "1"
    else:
        order = message.order_update
        message = service_pb2.ServerMessage()
        part = message.order_update_trade
        part.unique_id = order.unique_id
        part.account_id = order.account_id
        part.market_id = order.market_id
        part.exchange_trade_id = "sim-junk"
        part.sequence_order = 1
        part.volume = 1
        part.price.value = "1"
        part.trade_date = order.trade_date
        part.time.CopyFrom(order.time)
        part.exchange_time.CopyFrom(order.time)
    part.change = orderrouting_pb2.ORDER_CHANGE_TRADE
    if defect == "empty_ids":
        part.unique_id = ""
        part.account_id = ""
    elif defect == "negative_volume":
        part.volume = -max(part.volume, 1)
    else:
        part.price.value = "abc"
    return message.SerializeToString()
