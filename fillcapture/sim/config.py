"""What a simulated T4 backend serves: its firm, accounts, fill user and pace,
and the misbehaviour it is told to show (busts, spreads, faults).

One frozen dataclass, checked once at construction so the server never meets a bad value.
The options a ``[sim]`` section (and ``fillcapture sim``'s flags) can set are
declared once, in :class:`fillcapture.config.sim.SimSettings`: their defaults
here are its defaults.
"""

from __future__ import annotations

import datetime
import math
import pathlib
import uuid
from dataclasses import dataclass
from typing import Any

from fillcapture.config.sim import SimSettings
from fillcapture.config.sim import login_result as login_result  # where it was
from fillcapture.feeds.t4.proto import auth_pb2

# A fixed namespace makes every id a pure function of the names it stands for,
# so two runs (and a test computing ids on its own) agree on them.
_ID_NAMESPACE = uuid.UUID("5b0f6f2e-3c1d-5a47-9e21-7d1c4a0b8e63")


def sim_id(*parts: str) -> str:
    """A stable GUID string for a firm, user or account, e.g. ``sim_id(firm, "11111")``."""
    return str(uuid.uuid5(_ID_NAMESPACE, "/".join(parts)))


_SIM = SimSettings()  # the defaults of the options [sim] sets


@dataclass(frozen=True)
class SimConfig:
    """The simulated T4 backend.

    ``accounts`` are the firm's account numbers; ``visible`` those assigned to
    the fill user and listed at login (``None``: all). With ``risk_manager``
    the user has the Risk Manager role and ``subscribe_all_accounts`` gives
    every firm account, otherwise only the visible ones. Logins are accepted
    with ``api_key`` alone or with ``firm``, ``username`` and ``password``.
    ``seed`` fixes every generated value except timestamps and session ids.
    ``fills_per_second`` is the firm-wide live rate (0: none; ``math.inf``: as
    fast as subscribed clients read; with nobody subscribed, nothing is made).
    ``max_fills`` caps live fills (after the ``preload_fills`` put in today's
    book before serving); a spread fill counts once, though the ledger holds
    one entry per leg. ``snapshot_chunk`` caps fills per ``account_snapshot``
    frame. ``trade_date`` fixes the trade date; ``None`` follows the wall clock
    with the CME rule and clears the book at each roll. ``ledger_path``
    receives every generated fill and bust as one JSON line. ``port = 0`` picks a free port.

    Content (drawn from the seeded generator, so a seed still fixes the run):
    ``spread_fraction`` of new orders are orders of a spread market
    (:data:`fillcapture.sim.book.SPREADS`, whose legs its market details
    define), whose every fill is one leg fill per leg, each at its leg's own
    price; after each fill, with probability ``bust_fraction``, one earlier
    fill of the day that is not yet busted is busted. With ``spread_trades``
    a spread order's updates (live and in snapshots) carry its spread-level
    trades as well as its legs; with ``late_definitions`` a spread market's
    details come only after its first fills (live: after the first fill of
    an account's first order of it; in a snapshot: after its orders).

    Faults (each drawn from its own random stream, so they never change the
    fills a seed makes), all off by default:

    - ``drop_every`` / ``drop_random``: abort every client socket, without a
      closing handshake, every that many seconds / at exponentially distributed
      intervals of that mean.
    - ``duplicate_fraction``: a live frame is sent twice.
    - ``reorder_window``: live frames are shuffled within windows of up to that
      many frames per session; a window is sent within 20 ms even if not full.
    - ``fill_before_order_fraction``: a new order's announcing ``order_update``
      comes after its first fill.
    - ``malformed_fraction``: a junk frame (undecodable, a text frame, or
      protobuf of the wrong shape; never a valid fill) precedes a live frame.
    - ``refuse_login``: a correct login is answered with this ``LoginResult``
      and closed, the first ``refuse_logins`` times (``None``: always).
    - ``top_level_updates``, ``account_codes``, ``ids_on_block``,
      ``busts_as_orders``, ``corrupt_fraction``: message shapes, see
      :mod:`fillcapture.sim.shapes`.
    - ``stall_after`` / ``stall_seconds``: that long after its login a session
      goes silent (no heartbeats, no fills) for that long (``math.inf``: for
      good) without closing; what it missed is queued and sent when it
      resumes (a full queue holds the generator back, as a slow reader does).
    - ``drop_after_login``: every session is accepted, then closed at once,
      as by a server that cannot hold one.
    - ``logged_in_elsewhere_after``: that long after its login, a session gets
      a ``login_response`` of ``LOGIN_RESULT_LOGGED_IN_ELSEWHERE`` and is closed,
      as when another client logs in as the same user.
    - ``trade_date_offset_ticks``: added to every ``trade_date`` sent (.NET
      ticks of 100 ns), making trade dates that are no midnight (or, by whole
      days of 864,000,000,000 ticks, the wrong day); the ledger keeps the true date.
    - ``resubscribe_no_snapshot``: the first N subscriptions of a session
      after its first one (a reconcile's re-subscription, or the subscribe
      after an unsubscribe) are answered with success but no snapshot; the
      accounts' subscription stays as it was. A new session starts counting
      again, so its first subscription always brings snapshots.
    """

    accounts: tuple[str, ...] = tuple(_SIM.accounts)
    visible: tuple[str, ...] | None = None
    risk_manager: bool = True
    firm: str = _SIM.firm
    username: str = _SIM.username
    password: str = "sim-password"  # noqa: S105 - a simulator's well-known default
    api_key: str = "sim-api-key"
    seed: int = _SIM.seed
    fills_per_second: float = _SIM.fills_per_second
    max_fills: int | None = None
    preload_fills: int = 0
    snapshot_chunk: int = 100
    trade_date: datetime.date | None = None
    heartbeat_interval: float = 20.0
    ledger_path: pathlib.Path | None = None
    host: str = "127.0.0.1"
    port: int = _SIM.port
    wait_for_subscriber: bool = _SIM.wait_for_subscriber
    spread_fraction: float = _SIM.spread_fraction
    bust_fraction: float = _SIM.bust_fraction
    drop_every: float | None = _SIM.drop_every
    drop_random: float | None = _SIM.drop_random
    duplicate_fraction: float = _SIM.duplicate_fraction
    reorder_window: int = _SIM.reorder_window
    fill_before_order_fraction: float = _SIM.fill_before_order_fraction
    malformed_fraction: float = _SIM.malformed_fraction
    refuse_login: int | None = _SIM.refuse_login
    refuse_logins: int | None = _SIM.refuse_logins
    stall_after: float | None = _SIM.stall_after
    stall_seconds: float = _SIM.stall_seconds
    # Message shapes (fillcapture.sim.shapes).
    top_level_updates: bool = _SIM.top_level_updates
    account_codes: bool = _SIM.account_codes
    ids_on_block: bool = _SIM.ids_on_block
    busts_as_orders: bool = _SIM.busts_as_orders
    corrupt_fraction: float = _SIM.corrupt_fraction
    drop_after_login: bool = _SIM.drop_after_login
    logged_in_elsewhere_after: float | None = _SIM.logged_in_elsewhere_after
    trade_date_offset_ticks: int = _SIM.trade_date_offset_ticks
    resubscribe_no_snapshot: int = _SIM.resubscribe_no_snapshot
    # Spread orders (with spread_fraction).
    spread_trades: bool = _SIM.spread_trades
    late_definitions: bool = _SIM.late_definitions

    @classmethod
    def from_settings(cls, settings: SimSettings, **overrides: Any) -> SimConfig:
        """The simulator a ``[sim]`` section describes (its keys are field names
        here); ``overrides`` are fields that win over it, e.g. command-line
        flags. Raises ``ValueError`` naming a field whose value is wrong."""
        fields: dict[str, Any] = settings.model_dump()
        fields["accounts"] = tuple(settings.accounts)
        return cls(**(fields | overrides))

    def __post_init__(self) -> None:
        if not self.accounts:
            raise ValueError("accounts: at least one account is required")
        if len(set(self.accounts)) != len(self.accounts):
            raise ValueError("accounts: an account number appears twice")
        if self.visible is not None:
            unknown = [number for number in self.visible if number not in self.accounts]
            if unknown:
                raise ValueError(f"visible: {unknown[0]} is not one of the firm's accounts")
        if math.isnan(self.fills_per_second) or self.fills_per_second < 0:
            raise ValueError("fills_per_second: must be >= 0 (math.inf for unpaced)")
        if self.max_fills is not None and self.max_fills < 0:
            raise ValueError("max_fills: must be >= 0")
        if self.preload_fills < 0:
            raise ValueError("preload_fills: must be >= 0")
        if self.snapshot_chunk < 1:
            raise ValueError("snapshot_chunk: must be >= 1")
        if not self.heartbeat_interval > 0:
            raise ValueError("heartbeat_interval: must be > 0")
        if not 0 <= self.port <= 65535:
            raise ValueError("port: must be 0..65535")
        self._check_faults()

    def _check_faults(self) -> None:
        for name in (
            "spread_fraction",
            "bust_fraction",
            "duplicate_fraction",
            "fill_before_order_fraction",
            "malformed_fraction",
            "corrupt_fraction",
        ):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name}: must be a fraction from 0 to 1")
        for name in ("drop_every", "drop_random"):
            seconds = getattr(self, name)
            if seconds is not None and not 0 < seconds < math.inf:
                raise ValueError(f"{name}: must be a number of seconds > 0")
        if self.reorder_window < 0:
            raise ValueError("reorder_window: must be >= 0")
        if self.refuse_login is not None and (
            self.refuse_login not in auth_pb2.LoginResult.values()
            or self.refuse_login == auth_pb2.LOGIN_RESULT_SUCCESS
        ):
            raise ValueError("refuse_login: must be a LoginResult other than SUCCESS")
        if self.refuse_logins is not None:
            if self.refuse_login is None:
                raise ValueError("refuse_logins: needs refuse_login")
            if self.refuse_logins < 1:
                raise ValueError("refuse_logins: must be >= 1 (None: every login)")
        if self.stall_after is not None and not 0 <= self.stall_after < math.inf:
            raise ValueError("stall_after: must be a number of seconds >= 0")
        if not self.stall_seconds > 0:  # also refuses NaN
            raise ValueError("stall_seconds: must be > 0 (math.inf: for good)")
        after = self.logged_in_elsewhere_after
        if after is not None and not 0 <= after < math.inf:
            raise ValueError("logged_in_elsewhere_after: must be a number of seconds >= 0")
        if not -(10**16) < self.trade_date_offset_ticks < 10**16:  # about 31 years
            raise ValueError("trade_date_offset_ticks: must be within +-10**16 ticks")
        if self.resubscribe_no_snapshot < 0:
            raise ValueError("resubscribe_no_snapshot: must be >= 0")

    @property
    def visible_accounts(self) -> tuple[str, ...]:
        """The account numbers listed at login, in firm order."""
        if self.visible is None:
            return self.accounts
        return tuple(number for number in self.accounts if number in self.visible)

    @property
    def firm_id(self) -> str:
        return sim_id(self.firm)

    @property
    def user_id(self) -> str:
        return sim_id(self.firm, "user", self.username)

    def account_id(self, number: str) -> str:
        """The GUID T4 uses for the firm's account ``number``."""
        return sim_id(self.firm, "account", number)
