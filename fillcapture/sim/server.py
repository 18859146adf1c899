"""The simulated T4 server: a WebSocket endpoint speaking T4 API v1 plus the
paced fill generator that feeds its sessions and its ledger, and the timed
faults (dropped sockets) that concern every session at once."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import math
from collections import Counter
from collections.abc import Callable, Iterator
from types import TracebackType

import structlog
from websockets.asyncio.server import Server, ServerConnection, serve

from fillcapture.sim.book import SimAccount, cme_trade_date
from fillcapture.sim.config import SimConfig
from fillcapture.sim.faults import Faults
from fillcapture.sim.generator import FillGenerator
from fillcapture.sim.ledger import LedgerFill, LedgerWriter
from fillcapture.sim.session import Router, Session
from fillcapture.sim.shapes import Shaper

log = structlog.get_logger(__name__)

TICK_SECONDS = 0.01
UNPACED_CHUNK = 256  # fills per step at math.inf: big enough to amortize, small enough to stay fair
_CLOSE_GRACE = 1.0  # seconds a client gets to complete the closing handshake at shutdown
_MAX_CATCH_UP = 0.5  # seconds of fills made up after a stall, so a stall is not one huge burst


class SimServer:
    """A running simulator: ``async with SimServer(config) as sim`` binds the
    socket, preloads the book and starts live fills; leaving stops them.

    ``ledger`` is every fill made, in order, a busted one replaced by its busted
    copy; ``busts`` the busted fills in bust order. ``login_attempts`` counts
    logins by ``LoginResult`` name and ``logins`` holds what each login request
    set (:class:`~fillcapture.sim.faults.LoginSeen`); ``stats`` counts the faults shown.
    """

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.port = config.port
        self._accounts = {
            number: SimAccount(number, config.account_id(number), f"Sim account {number}")
            for number in config.accounts
        }
        trade_date = config.trade_date or cme_trade_date(_utc_now())
        self._clock_day = trade_date
        self._generator = FillGenerator(config, list(self._accounts.values()), trade_date)
        self.ledger: list[LedgerFill] = self._generator.ledger
        self.busts: list[LedgerFill] = self._generator.busts
        self._faults = Faults(config)
        self.login_attempts: Counter[str] = self._faults.login_attempts
        self.logins = self._faults.logins
        self.stats: Counter[str] = self._faults.stats
        self.shaper = Shaper(config)
        self._router = Router(config, self._generator.book, self._accounts, self._faults,
                              self.shaper)
        # Each open socket and an event set once its session has been cleaned up.
        self._connections: dict[ServerConnection, asyncio.Event] = {}
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._writer: LedgerWriter | None = None
        self._server: Server | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def url(self) -> str:
        return f"ws://{self.config.host}:{self.port}/v1"

    @property
    def connections(self) -> int:
        """Client sockets open right now, logged in or not."""
        return len(self._connections)

    async def __aenter__(self) -> SimServer:
        config = self.config
        if config.ledger_path is not None:
            self._writer = LedgerWriter(config.ledger_path)
        try:
            if config.preload_fills:
                self._generate(config.preload_fills)
            self._server = await serve(
                self._handle,
                config.host,
                config.port,
                compression=None,  # deflate costs more CPU than loopback bandwidth saves
                max_size=2**20,
            )
        except BaseException:
            if self._writer is not None:
                self._writer.close()
            raise
        self.port = self._server.sockets[0].getsockname()[1]
        self._tasks.append(asyncio.create_task(self._run(), name="sim-generator"))
        for intervals in self._faults.drop_intervals():
            self._tasks.append(asyncio.create_task(self._drops(intervals), name="sim-drops"))
        trade_date = self._generator.book.trade_date.isoformat()
        log.info("sim.server.started", url=self.url, trade_date=trade_date)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            self._server.close()
            try:
                async with asyncio.timeout(_CLOSE_GRACE):
                    await self._server.wait_closed()
            except TimeoutError:
                # A client that stopped reading never sees our close frame behind
                # the data it left unread; do not wait the full close timeout.
                for ws in list(self._connections):
                    ws.transport.abort()
                await self._server.wait_closed()
        if self._writer is not None:
            self._writer.close()
        log.info(
            "sim.server.stopped",
            fills=len(self.ledger),
            busts=len(self.busts),
            logins=dict(self.login_attempts),
            **self.stats,
        )

    async def wait_generated(self, n: int) -> None:
        """Return once at least ``n`` fills (preloaded ones included) exist."""
        if len(self.ledger) >= n:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((n, waiter))
        await waiter

    def add_account(self, number: str) -> str:
        """Open firm account ``number`` (as onboarding does) and return its account id.

        The fill user sees it at its next login, the generator starts trading
        it, and every session subscribed to all accounts gets its (empty)
        snapshot and then its live fills. Raises ``ValueError`` if it exists.
        """
        config = self.config
        if number in self._accounts:
            raise ValueError(f"account {number} already exists")
        self.config = config.with_account(number)
        account = SimAccount(number, config.account_id(number), f"Sim account {number}")
        self._accounts[number] = account
        self._generator.add_account(account)
        self._router.add_account(self.config, number)
        log.info("sim.account.added", account=number, account_id=account.account_id)
        return account.account_id

    async def drop_connections(self) -> None:
        """Cut every client socket without a closing handshake, as a network failure would."""
        dropped = list(self._connections.items())
        for ws, _ in dropped:
            ws.transport.abort()
        self.stats["dropped_connections"] += len(dropped)
        for _, finished in dropped:
            await finished.wait()

    async def _drops(self, intervals: Iterator[float]) -> None:
        """Drop every connection after each of ``intervals`` seconds, a fault."""
        for seconds in intervals:
            await asyncio.sleep(seconds)
            log.info("sim.connections.dropping", connections=len(self._connections))
            await self.drop_connections()

    async def _handle(self, ws: ServerConnection) -> None:
        finished = self._connections[ws] = asyncio.Event()
        try:
            await Session(ws, self._router, self._accounts, self._faults).run()
        except Exception:
            log.exception("sim.session.failed")
        finally:
            del self._connections[ws]
            finished.set()

    async def _run(self) -> None:
        """Make live fills at the configured pace until ``max_fills``, if any."""
        rate = self.config.fills_per_second
        remaining = self.config.max_fills
        if rate == 0:
            return
        loop = asyncio.get_running_loop()
        last = loop.time()
        carry = 0.0
        # Up to 1,000 ticks a second so fills arrive spread out, as from a
        # market, rather than in bursts a tick long.
        tick = TICK_SECONDS if math.isinf(rate) else min(TICK_SECONDS, max(0.001, 1.0 / rate))
        if self.config.wait_for_subscriber:
            await self._router.wait_listener()
            last = loop.time()
        while remaining is None or remaining > 0:
            if math.isinf(rate):
                await self._router.wait_listener()
                await self._router.wait_space()
                count = UNPACED_CHUNK
            else:
                await self._router.wait_space()
                await asyncio.sleep(tick)
                now = loop.time()
                carry += rate * min(now - last, _MAX_CATCH_UP)
                last = now
                count = int(carry)
                carry -= count
            if remaining is not None:
                count = min(count, remaining)
                remaining -= count
            self._roll_if_due()
            if count:
                self._generate(count)
            if math.isinf(rate):
                await asyncio.sleep(0)  # let the senders drain before the next chunk
        log.info("sim.generator.done", fills=len(self.ledger))

    def _generate(self, count: int) -> None:
        """Make fills, queue their frames, write the ledger and wake waiters — all
        without an ``await``, so subscriptions see each fill exactly once."""
        start, busts = len(self.ledger), len(self.busts)
        frames = self._generator.generate(count, self._router.listeners)
        if self.shaper.live_active:
            sent = len(self.shaper.corrupt)
            frames = self.shaper.live(frames)
            if self._writer is not None:
                self._writer.write_corrupt(self.shaper.corrupt[sent:])
        self._router.route(frames)
        if self._writer is not None:
            self._writer.write(self.ledger[start:], self.busts[busts:])
            self._writer.flush()
        if self._waiters:
            total = len(self.ledger)
            pending = []
            for n, waiter in self._waiters:
                if n <= total:
                    if not waiter.done():
                        waiter.set_result(None)
                else:
                    pending.append((n, waiter))
            self._waiters = pending

    @property
    def trade_date(self) -> datetime.date:
        """The trade date of today's book."""
        return self._generator.book.trade_date

    def roll(self, trade_date: datetime.date | None = None) -> datetime.date:
        """Roll the book to ``trade_date`` (default: the next weekday) now, as
        T4 does at 17:00 Chicago: the old day's orders and fills are forgotten,
        so snapshots hold the new day only. Returns the new trade date."""
        day = trade_date or self._generator.book.trade_date + datetime.timedelta(days=1)
        while trade_date is None and day.weekday() >= 5:
            day += datetime.timedelta(days=1)
        log.info("sim.trade_date.rolled", trade_date=str(day), on="command")
        self._generator.roll(day)
        return day

    def refuse_logins(self, result: int | None, count: int | None = None) -> None:
        """Refuse correct logins with ``result`` from now on (``count`` times, or
        until called with ``None``): T4 unreachable for a while, on command."""
        self._faults.refuse(result, count)

    def lose_live_frames(self, lose: bool) -> None:
        """While ``lose``, live frames are made (and in the ledger and the book)
        but never sent: a session that silently misses fills, as after a
        server-side failover, which only a fresh snapshot repairs."""
        self._router.losing = lose

    def _roll_if_due(self) -> None:
        if self.config.trade_date is not None:
            return
        today = cme_trade_date(_utc_now())
        # Only a change of the clock's trade date rolls: a roll on command stays.
        if today != self._clock_day:
            self._clock_day = today
            log.info("sim.trade_date.rolled", trade_date=str(today))
            self._generator.roll(today)


async def serve_forever(
    config: SimConfig, on_ready: Callable[[SimServer], None] | None = None
) -> None:
    """Run a simulator until cancelled; ``on_ready`` is called once it listens."""
    async with SimServer(config) as server:
        if on_ready is not None:
            on_ready(server)
        await asyncio.Future()


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
