"""``[sim]``: the simulated T4 backend's options, declared once.

Each option is a field of :class:`SimSettings`: its type, default, bounds and
its ``fillcapture sim`` flag (:func:`sim_flag`: name, help, metavar, group),
from which the command line makes its flags; the simulator
(:class:`fillcapture.sim.config.SimConfig`) takes its defaults from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic.config import JsonDict
from pydantic.fields import FieldInfo

from fillcapture.config.base import Section

_LOGIN_RESULT_PREFIX = "LOGIN_RESULT_"

# Groups of ``fillcapture sim --help``; None is the command's own options.
FAULTS = "faults"
SHAPES = "shapes"
SPREADS = "spreads"


@dataclass(frozen=True, slots=True)
class SimFlag:
    """How a ``[sim]`` option is given on the ``fillcapture sim`` command line."""

    flag: str
    help: str
    metavar: str | None
    group: str | None


def _opt(default: Any, help: str, group: str | None = None, flag: str | None = None,
         metavar: str | None = None, **bounds: Any) -> Any:
    """A ``[sim]`` field and its flag (default ``--<field-name>``, filled in by
    :func:`sim_flag`)."""
    extra: JsonDict = {"flag": flag, "help": help, "metavar": metavar, "group": group}
    return Field(default, json_schema_extra=extra, **bounds)


def sim_flag(name: str, field: FieldInfo) -> SimFlag:
    """The ``fillcapture sim`` flag of the ``[sim]`` field ``name``."""
    extra = field.json_schema_extra
    assert isinstance(extra, dict)
    flag = extra["flag"] or "--" + name.replace("_", "-")
    return SimFlag(str(flag), str(extra["help"]),
                   None if extra["metavar"] is None else str(extra["metavar"]),
                   None if extra["group"] is None else str(extra["group"]))


def login_result(value: str | int) -> int:
    """The ``LoginResult`` number named by ``value``: ``6``, ``"6"``,
    ``"LOGGED_IN_ELSEWHERE"`` or ``"LOGIN_RESULT_LOGGED_IN_ELSEWHERE"``.
    Raises ``ValueError`` for anything that is not a login result."""
    from fillcapture.feeds.t4.proto import auth_pb2

    text = str(value).strip()
    try:
        number = int(text)
    except ValueError:
        name = text.upper()
        if not name.startswith(_LOGIN_RESULT_PREFIX):
            name = _LOGIN_RESULT_PREFIX + name
        try:
            return int(auth_pb2.LoginResult.Value(name))
        except ValueError:
            raise ValueError(f"{value!r} is not a T4 LoginResult") from None
    if number not in auth_pb2.LoginResult.values():
        raise ValueError(f"{value!r} is not a T4 LoginResult")
    return number


class SimSettings(Section):
    """The simulated T4 backend. ``accounts`` are the firm's accounts (those
    beyond the owned ones make unowned traffic); ``fills_per_second`` is the
    firm-wide fill rate; ``port = 0`` picks a free loopback port.

    The rest, all off by default, make a hostile session (``SimConfig``
    explains each): ``spread_fraction`` of orders are two-leg spreads;
    ``bust_fraction`` of fills bust an earlier one; sockets are dropped every
    ``drop_every`` seconds or at random with mean ``drop_random``; live frames
    are duplicated (``duplicate_fraction``), shuffled in windows of
    ``reorder_window``, preceded by junk (``malformed_fraction``); orders are
    announced after their first fill (``fill_before_order_fraction``); logins
    are refused with ``refuse_login`` (a LoginResult name or number) the first
    ``refuse_logins`` times (unset: always); sessions go silent
    ``stall_after`` seconds after login for ``stall_seconds`` (``inf``: for good);
    with ``drop_after_login`` every session is closed right after its login;
    ``logged_in_elsewhere_after`` seconds into each session, a ``login_response``
    of ``LOGGED_IN_ELSEWHERE`` ends it; ``trade_date_offset_ticks`` is added to
    every trade date sent (non-midnight dates).
    ``resubscribe_no_snapshot``: the first N subscriptions of a session after
    its first are answered with success and no snapshot.
    Spread orders' updates also carry their spread-level trades
    (``spread_trades``); spread markets are described after their first fills
    (``late_definitions``).
    """

    seed: int = _opt(1, "random seed (default [sim] seed)")
    fills_per_second: float = _opt(5.0, "live fills per second, or 'max' (default [sim] "
                                        "fills_per_second)", flag="--rate", ge=0)
    accounts: tuple[str, ...] = _opt(("11111", "22222", "33333", "44444", "55555"),
                                     "comma-separated firm accounts (default [sim] accounts)",
                                     min_length=1)
    firm: str = _opt("SIMFIRM", "firm name (default [sim] firm)")
    username: str = _opt("WhenTechFillUser", "fill user (default [sim] username)")
    port: int = _opt(0, "loopback port (default [sim] port; 0 = free)", ge=0, le=65535)
    wait_for_subscriber: bool = _opt(
        False, "paced fills begin with the first subscription, not at start-up (so a run's "
        "live-only shapes reach a client that starts late)")
    spread_fraction: float = _opt(0.0, "fraction of orders that are two-leg spreads",
                                  FAULTS, "--spread", "F", ge=0, le=1)
    bust_fraction: float = _opt(0.0, "chance that a fill busts an earlier fill of the day",
                                FAULTS, "--bust", "F", ge=0, le=1)
    drop_every: float | None = _opt(None, "abort every client socket every S seconds",
                                    FAULTS, metavar="S", gt=0, allow_inf_nan=False)
    drop_random: float | None = _opt(
        None, "abort every client socket at random, S seconds apart on average",
        FAULTS, metavar="S", gt=0, allow_inf_nan=False)
    duplicate_fraction: float = _opt(0.0, "fraction of live frames sent twice",
                                     FAULTS, "--duplicate", "F", ge=0, le=1)
    reorder_window: int = _opt(0, "shuffle live frames within windows of N",
                               FAULTS, "--reorder", "N", ge=0)
    fill_before_order_fraction: float = _opt(
        0.0, "fraction of new orders announced after their first fill",
        FAULTS, "--fill-before-order", "F", ge=0, le=1)
    malformed_fraction: float = _opt(0.0, "fraction of live frames preceded by a junk frame",
                                     FAULTS, "--malformed", "F", ge=0, le=1)
    refuse_login: int | None = _opt(
        None, "refuse correct logins with this LoginResult, by name (LOGGED_IN_ELSEWHERE) "
        "or number (6)", FAULTS, metavar="RESULT")
    refuse_logins: int | None = _opt(None, "refuse only the first N logins (default: all)",
                                     FAULTS, metavar="N", ge=1)
    stall_after: float | None = _opt(None, "a session goes silent S seconds after its login",
                                     FAULTS, metavar="S", ge=0, allow_inf_nan=False)
    stall_seconds: float = _opt(float("inf"), "for S seconds ('inf': for good; the default)",
                                FAULTS, metavar="S", gt=0)
    top_level_updates: bool = _opt(False, "live orders, fills and busts as bare messages, "
                                          "not inside an OrderUpdateMulti", SHAPES)
    account_codes: bool = _opt(False, "AccountDetails.account carries a code, not the number",
                               SHAPES)
    ids_on_block: bool = _opt(False, "updates in an OrderUpdateMulti leave account and "
                                     "market ids to the block", SHAPES)
    busts_as_orders: bool = _opt(False, "busts as an OrderUpdate naming the busted trade",
                                 SHAPES)
    corrupt_fraction: float = _opt(0.0, "fraction of live fills whose block also carries a "
                                        "corrupt copy (no fill)", SHAPES, "--corrupt", "F",
                                   ge=0, le=1)
    drop_after_login: bool = _opt(False, "accept each login, then close the session at once",
                                  FAULTS)
    logged_in_elsewhere_after: float | None = _opt(
        None, "S seconds into each session, send LOGGED_IN_ELSEWHERE and close",
        FAULTS, metavar="S", ge=0, allow_inf_nan=False)
    trade_date_offset_ticks: int = _opt(0, "add N .NET ticks (100 ns) to every trade date sent",
                                        FAULTS, metavar="N", gt=-(10**16), lt=10**16)
    resubscribe_no_snapshot: int = _opt(
        0, "answer the first N subscriptions of a session after its first with success "
        "and no snapshot", FAULTS, metavar="N", ge=0)
    spread_trades: bool = _opt(False, "spread orders' updates carry their spread-level trades "
                                      "as well as their legs", SPREADS)
    late_definitions: bool = _opt(False, "a spread market's details come only after its first "
                                         "fills", SPREADS)

    @field_validator("refuse_login", mode="before")
    @classmethod
    def _login_result(cls, value: object) -> int | None:
        if value is None:
            return None
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise ValueError("must be a LoginResult name or number")
        result = login_result(value)
        if result == 0:
            raise ValueError("SUCCESS is not a refusal")
        return result

    @field_validator("accounts")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("an account number appears twice")
        return value

    @model_validator(mode="after")
    def _refusals_need_a_result(self) -> SimSettings:
        if self.refuse_logins is not None and self.refuse_login is None:
            raise ValueError("refuse_logins needs refuse_login")
        return self
