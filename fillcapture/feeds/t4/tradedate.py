"""Trade dates T4 sends that look wrong: counted and logged, never corrected.

T4's ``trade_date`` is an opaque int64 that in practice is the .NET ticks
(100 ns since 0001-01-01) of the trade date's midnight. A fill keeps the date
T4 gave it; this module only says when that date is suspect: not a midnight
in ticks, or a day that is not the CME trade date of the fill's exchange time
(:func:`fillcapture.schedule.trade_date`, no holidays: the decoder knows none).
Each suspect fill is counted (``fills.trade_date_suspect``); a warning is
logged once per (firm, account, date) and daemon, not once per fill.
"""

from __future__ import annotations

import functools
import weakref
from datetime import UTC, date, datetime, timedelta

import structlog

from fillcapture.metrics import Metrics
from fillcapture.schedule import is_trading_day, roll_moment
from fillcapture.schedule import trade_date as cme_trade_date

log = structlog.get_logger(__name__)

TICKS_PER_DAY = 864_000_000_000
_DOTNET_EPOCH = date(1, 1, 1)
# Outside 1900..2200 the int64 is no ticks date at all (the decoder then takes
# the CME date of the exchange time).
_TICKS_MIN = (date(1900, 1, 1) - _DOTNET_EPOCH).days * TICKS_PER_DAY
_TICKS_MAX = (date(2200, 1, 1) - _DOTNET_EPOCH).days * TICKS_PER_DAY
_REMEMBERED = 10_000  # (firm, account, date) warned about, per daemon, before starting over

COUNTER = "fills.trade_date_suspect"
DISAGREES = "not the CME trade date of the exchange time"


def trade_date_of(raw: int, exchange_time: datetime) -> date:
    """T4's opaque int64 trade date: .NET ticks of midnight where it looks like
    ticks, else the CME rule applied to the exchange time (T4_API_V1 §9)."""
    if _TICKS_MIN <= raw < _TICKS_MAX:
        return _ticks_date(raw)
    return cme_trade_date(exchange_time)


def ticks_trade_date(raw: int) -> date | None:
    """T4's int64 trade date where it is .NET ticks of a date, else None."""
    return _ticks_date(raw) if _TICKS_MIN <= raw < _TICKS_MAX else None


@functools.lru_cache(maxsize=64)
def _ticks_date(raw: int) -> date:
    # A day's fills share one value: cached, the conversion costs a lookup.
    return _DOTNET_EPOCH + timedelta(days=raw // TICKS_PER_DAY)


def trade_date_check(raw: int, exchange_time: datetime) -> str | None:
    """``None`` if ``raw`` is the .NET ticks of a midnight whose day is the CME
    trade date of ``exchange_time`` (aware); otherwise why the date is suspect.

    On the decoder's hot path: what depends on ``raw`` alone is cached, so a
    day's fills cost a cache hit and two comparisons each."""
    problem = _not_a_midnight(raw)
    if problem is not None:
        return problem
    start, end = date_window(raw)
    if start <= exchange_time < end:
        return None
    return DISAGREES


def _not_a_midnight(raw: int) -> str | None:
    """Why ``raw`` is no midnight in .NET ticks, or None where it is one."""
    if not _TICKS_MIN <= raw < _TICKS_MAX:
        return "not a .NET ticks date"
    rest = raw % TICKS_PER_DAY
    if rest:
        return f"not a midnight in .NET ticks ({rest} ticks past it)"
    return None


_NEVER = (datetime.max.replace(tzinfo=UTC),) * 2  # a window no moment is in


@functools.lru_cache(maxsize=64)
def date_window(raw: int) -> tuple[datetime, datetime]:
    """The exchange times (UTC, from inclusive, to exclusive) whose CME trade
    date is the midnight ``raw`` stands for: empty where ``raw`` is no
    midnight (:func:`trade_date_check` says why) or a day that does not trade."""
    if _not_a_midnight(raw) is not None:
        return _NEVER
    day = _DOTNET_EPOCH + timedelta(days=raw // TICKS_PER_DAY)
    end = roll_moment(day).astimezone(UTC)
    if not is_trading_day(day):
        return end, end  # a weekend: no moment trades for it
    before = day - timedelta(days=1)
    while not is_trading_day(before):
        before -= timedelta(days=1)
    return roll_moment(before).astimezone(UTC), end


# Per daemon (its Metrics), the (firm, account, date) already warned about.
_warned: weakref.WeakKeyDictionary[Metrics, set[tuple[str, str, object]]] = (
    weakref.WeakKeyDictionary())


def note_suspect(metrics: Metrics, firm: str, account_id: str, account: str, raw: int,
                 exchange_time: datetime, reason: str) -> None:
    """Count one fill whose trade date :func:`trade_date_check` found suspect,
    and warn about its (firm, account, date) the first time the daemon sees it.

    Cheap for the fills after the first of a date: when T4 gets a day wrong,
    it gets it wrong for every fill of it."""
    metrics.inc(COUNTER)
    # A day's fills share one raw value; one not in ticks is keyed by its CME date.
    key = (firm, account or account_id,
           raw if _TICKS_MIN <= raw < _TICKS_MAX else cme_trade_date(exchange_time))
    warned = _warned.get(metrics)
    if warned is None:
        warned = _warned[metrics] = set()
    elif key in warned:
        return
    if len(warned) >= _REMEMBERED:
        warned.clear()
    warned.add(key)
    day = trade_date_of(raw, exchange_time)
    if reason == DISAGREES:
        reason = f"{DISAGREES} ({cme_trade_date(exchange_time)})"
    log.warning("fill.trade_date_suspect", firm=firm, account=account or None,
                account_id=account_id, trade_date=str(day), raw=raw, reason=reason,
                exchange_time=exchange_time.isoformat(),
                hint="the fill keeps T4's date; later fills of this account and date "
                     f"are counted in {COUNTER} only")
