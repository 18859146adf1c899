"""What a simulated T4 backend serves: its firm, accounts, fill user and pace,
and the misbehaviour it is told to show (busts, spreads, faults).

The options a ``[sim]`` section (and ``fillcapture sim``'s flags) can set are
declared once, in :class:`fillcapture.config.sim.SimSettings`; :class:`SimConfig`
is those settings and the few things only a test or the embedded backend sets.
"""

from __future__ import annotations

import datetime
import pathlib
import uuid
from typing import Any

from pydantic import ConfigDict, Field, ValidationError, model_validator

from fillcapture.config.sim import SimSettings
from fillcapture.config.sim import login_result as login_result  # where it was

# A fixed namespace makes every id a pure function of the names it stands for,
# so two runs (and a test computing ids on its own) agree on them.
_ID_NAMESPACE = uuid.UUID("5b0f6f2e-3c1d-5a47-9e21-7d1c4a0b8e63")


def sim_id(*parts: str) -> str:
    """A stable GUID string for a firm, user or account, e.g. ``sim_id(firm, "11111")``."""
    return str(uuid.uuid5(_ID_NAMESPACE, "/".join(parts)))


_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
           "less_than_equal": "<="}


def one_line(exc: ValidationError) -> str:
    """``bust_fraction: must be <= 1``: the first problem, naming its field.
    A check of several fields names the field its message starts with."""
    error = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in error["loc"])
    kind, context = error["type"], error.get("ctx", {})
    if kind in _BOUNDS:
        bound = next(iter(context.values()))
        message = f"must be {_BOUNDS[kind]} {bound}"
    elif kind == "finite_number":
        message = "must be a finite number"
    else:
        message = error["msg"].removeprefix("Value error, ")
    if not where:
        where, _, message = message.partition(" ")
    return f"{where}: {message}"


class SimConfig(SimSettings):
    """The simulated T4 backend: the ``[sim]`` options (:class:`SimSettings`,
    where each is declared with its default, bounds and flag) and what only
    a test or the embedded backend sets. Checked once at construction (a
    ``ValueError`` naming the field), so the server never meets a bad value.

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

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=False)

    visible: tuple[str, ...] | None = None
    risk_manager: bool = True
    password: str = "sim-password"  # noqa: S105 - a simulator's well-known default
    api_key: str = "sim-api-key"
    max_fills: int | None = Field(None, ge=0)
    preload_fills: int = Field(0, ge=0)
    snapshot_chunk: int = Field(100, ge=1)
    trade_date: datetime.date | None = None
    heartbeat_interval: float = Field(20.0, gt=0, allow_inf_nan=False)
    ledger_path: pathlib.Path | None = None
    host: str = "127.0.0.1"

    @classmethod
    def from_settings(cls, settings: SimSettings, **overrides: Any) -> SimConfig:
        """The simulator a ``[sim]`` section describes; ``overrides`` are fields
        that win over it, e.g. command-line flags. Raises ``ValueError`` naming
        a field whose value is wrong."""
        try:
            return cls(**(dict(settings) | overrides))
        except ValidationError as exc:
            raise ValueError(one_line(exc)) from None

    @model_validator(mode="after")
    def _visible_are_the_firms(self) -> SimConfig:
        if self.visible is not None:
            unknown = [number for number in self.visible if number not in self.accounts]
            if unknown:
                raise ValueError(f"visible: {unknown[0]} is not one of the firm's accounts")
        return self

    def with_account(self, number: str) -> SimConfig:
        """This backend with ``number`` added to the firm (and to the fill
        user's accounts if only some are assigned)."""
        visible = None if self.visible is None else (*self.visible, number)
        return self.model_copy(update={"accounts": (*self.accounts, number), "visible": visible})

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
