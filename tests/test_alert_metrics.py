"""The metrics alert rules are written against: every one in a real scrape
from the first on, and each value following from what the daemon did; the
calendar gauges computed from the daemon's clock at chosen Chicago moments."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime
from datetime import time as clock_time
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest

from fillcapture.alertmetrics import calendar, recoverable_gaps
from fillcapture.metrics import Metrics
from fillcapture.prometheus import registry_for
from fillcapture.publish.lag import PublishLag
from fillcapture.schedule import CHICAGO, trade_date
from tests.conftest import Proc, SimProc, daemon_config, stored_rows, wait_until
from tests.scrape import Samples, metrics_port, per_account, samples, scrape, value

# The contract's new metrics, as a scrape names their samples.
NEW_METRICS = (
    "fillcapture_trading_session_open",
    "fillcapture_time_to_close_seconds",
    "fillcapture_time_to_roll_seconds",
    "fillcapture_disconnected_seconds",
    "fillcapture_gaps_recoverable",
    "fillcapture_reconcile_failures_total",
    "fillcapture_reconcile_last_success_timestamp_seconds",
    "fillcapture_reconcile_verified",
    "fillcapture_accounts_visible",
    "fillcapture_accounts_owned",
    "fillcapture_accounts_owned_invisible",
    "fillcapture_quarantine_records",
    "fillcapture_account_fills_captured_total",
    "fillcapture_account_last_fill_timestamp_seconds",
    "fillcapture_account_silence_threshold_seconds",
    "fillcapture_store_errors_total",
    "fillcapture_store_outage",
    "fillcapture_writer_queue_capacity_fills",
    "fillcapture_mqtt_publish_lag_seconds",
    "fillcapture_lease_held",
    "fillcapture_reconcile_supported",
)

OWNED = ("11111", "22222", "33333", "44444")
VISIBLE = ("11111", "22222", "33333")  # 44444 is owned, the fill user cannot see it
def first_scrape(port: int, daemon: Proc) -> Samples:
    """The first scrape that answers."""
    found: list[Samples] = []

    def answered() -> bool:
        assert daemon.popen.poll() is None, daemon.stderr[-3000:]
        with contextlib.suppress(httpx.HTTPError):
            found.append(scrape(port))
        return bool(found)

    wait_until(answered, 20, "the metrics endpoint to answer")
    return found[0]


def store_last_fills(db: Path) -> dict[str, float]:
    """Per account: the newest stored exchange time, in unix seconds."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT account, max(exchange_time) FROM fills GROUP BY account")
        return {account: newest / 1e6 for account, newest in rows}


def open_quarantine(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        ((count,),) = conn.execute("SELECT count(*) FROM quarantine WHERE resolved_at IS NULL")
        return int(count)


# --- a real daemon on the simulator -----------------------------------------------

def test_a_capturing_daemon_exports_what_alerts_need_from_its_first_scrape(
        tmp_path: Path, start_sim: Callable[..., SimProc],
        start_daemon: Callable[..., Proc]) -> None:
    sim = start_sim("--rate", "500", "--max-fills", "1200", "--seed", "9", "--no-risk-manager",
                    "--visible", ",".join(VISIBLE), "--malformed", "0.02")
    # Subscribing per account: the visibility check is at the login.
    config = daemon_config(tmp_path, sim, subscribe_all=False)
    config.write_text(config.read_text() + "[alerts]\nsilent_account_minutes = 7\n")
    port = metrics_port(config)
    db = tmp_path / "fills.db"
    daemon = start_daemon(config)

    first = first_scrape(port, daemon)
    names = {name for name, _ in first}
    assert [name for name in NEW_METRICS if name not in names] == []
    assert set(per_account(first, "fillcapture_account_fills_captured_total")) <= set(OWNED)

    wait_until(lambda: len(sim.ledger()) == 1200, 30, "the simulator to finish")
    expected = Counter(fill.account for fill in sim.ledger() if fill.account in VISIBLE)
    wait_until(lambda: Counter(row[1] for row in stored_rows(db)) == expected, 30,
               "every visible owned fill stored")
    stored = Counter(row[1] for row in stored_rows(db))
    wanted = {account: float(stored.get(account, 0)) for account in OWNED}
    wait_until(lambda: per_account(scrape(port), "fillcapture_account_fills_captured_total")
               == wanted, 10, "the per-account counters to equal the stored rows")
    found = scrape(port)
    now = datetime.now(UTC)
    print({name: number for (name, _), number in found.items() if name in NEW_METRICS})

    assert value(found, "fillcapture_fills_captured_total") == sum(wanted.values())
    last = store_last_fills(db)
    assert per_account(found, "fillcapture_account_last_fill_timestamp_seconds") == {
        account: pytest.approx(last.get(account, 0.0)) for account in OWNED}
    assert value(found, "fillcapture_accounts_visible") == len(VISIBLE)
    assert value(found, "fillcapture_accounts_owned") == len(OWNED)
    assert value(found, "fillcapture_accounts_owned_invisible") == 1
    assert value(found, "fillcapture_account_silence_threshold_seconds") == 420
    assert value(found, "fillcapture_lease_held") == 1
    assert value(found, "fillcapture_writer_queue_capacity_fills") == 50_000
    assert value(found, "fillcapture_store_outage") == 0
    assert value(found, "fillcapture_store_errors_total") == 0
    assert value(found, "fillcapture_mqtt_publish_lag_seconds") == 0
    assert value(found, "fillcapture_reconcile_failures_total") == 0
    assert value(found, "fillcapture_reconcile_last_success_timestamp_seconds") == 0
    assert value(found, "fillcapture_reconcile_verified") == 0
    assert value(found, "fillcapture_reconcile_supported") == 1
    assert value(found, "fillcapture_connected") == 1
    assert value(found, "fillcapture_disconnected_seconds") == 0
    assert value(found, "fillcapture_gaps_recoverable") == 0  # the first run: no gap
    at = calendar(now, ())
    assert value(found, "fillcapture_time_to_roll_seconds") == pytest.approx(at.to_roll, abs=5)
    assert value(found, "fillcapture_time_to_close_seconds") == pytest.approx(at.to_close, abs=5)
    assert value(found, "fillcapture_trading_session_open") == float(at.session_open)

    # T4 goes away: the session is lost, a gap opens, recoverable before the roll.
    sim.stop()
    wait_until(lambda: value(scrape(port), "fillcapture_gaps_recoverable") == 1, 20,
               "the gap to open")
    found = scrape(port)
    assert value(found, "fillcapture_connected") == 0
    assert value(found, "fillcapture_disconnected_seconds") > 0
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0

    # A new start, T4 still away: the last fills come from the store, the
    # quarantine is counted from it, and the gap goes on.
    again = start_daemon(config, name="again")
    found = first_scrape(port, again)
    wait_until(lambda: value(scrape(port), "fillcapture_accounts_owned") == len(OWNED), 10,
               "the registry to be loaded")
    found = scrape(port)
    assert per_account(found, "fillcapture_account_fills_captured_total") == dict.fromkeys(
        OWNED, 0.0)
    assert per_account(found, "fillcapture_account_last_fill_timestamp_seconds") == {
        account: pytest.approx(last.get(account, 0.0)) for account in OWNED}
    assert open_quarantine(db) > 0
    assert value(found, "fillcapture_quarantine_records") == open_quarantine(db)
    assert value(found, "fillcapture_gaps_recoverable") == 1
    assert value(found, "fillcapture_disconnected_seconds") > 0
    again.signal(signal.SIGTERM)
    assert again.wait() == 0


# --- what the collector derives from the clock -------------------------------------

def chicago(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, clock_time(hour, minute), tzinfo=CHICAGO)


TUESDAY = date(2026, 11, 24)
THANKSGIVING = date(2026, 11, 26)


@pytest.mark.parametrize(("moment", "holidays", "session_open", "to_close", "to_roll"), [
    # Tuesday mid-session: close at 16:00, roll at 17:00.
    (chicago(TUESDAY, 10), (), True, 6 * 3600, 7 * 3600),
    # The daily halt: the close has passed, the roll has not.
    (chicago(TUESDAY, 16, 30), (), False, -1800, 1800),
    # After the roll: Wednesday's session.
    (chicago(TUESDAY, 17, 30), (), True, 22.5 * 3600, 23.5 * 3600),
    # Friday after the close: the weekend, Friday not yet rolled.
    (chicago(date(2026, 11, 27), 16, 30), (), False, -1800, 1800),
    # Saturday: closed; Monday's close and roll.
    (chicago(date(2026, 11, 28), 12), (), False, 52 * 3600, 53 * 3600),
    # Wednesday evening before a holiday: no session, Friday is next.
    (chicago(date(2026, 11, 25), 18), (THANKSGIVING,), False, 46 * 3600, 47 * 3600),
    (chicago(date(2026, 11, 25), 18), (), True, 22 * 3600, 23 * 3600),
    # DST begins Sunday 2026-03-08 at 02:00: Saturday noon is an hour nearer Monday.
    (chicago(date(2026, 3, 7), 12), (), False, 51 * 3600, 52 * 3600),
    (chicago(date(2026, 3, 8), 18), (), True, 22 * 3600, 23 * 3600),
    # DST ends Sunday 2026-11-01: an hour further.
    (chicago(date(2026, 10, 31), 12), (), False, 53 * 3600, 54 * 3600),
])
def test_the_calendar_gauges_at_chicago_moments(
        moment: datetime, holidays: tuple[date, ...], session_open: bool, to_close: float,
        to_roll: float) -> None:
    metrics = Metrics()
    metrics.clock = lambda: moment.astimezone(UTC)
    metrics.holidays = frozenset(holidays)
    found = samples(generate_latest(registry_for(metrics)).decode())
    assert calendar(moment, holidays).session_open is session_open
    assert value(found, "fillcapture_trading_session_open") == float(session_open)
    assert value(found, "fillcapture_time_to_close_seconds") == to_close
    assert value(found, "fillcapture_time_to_roll_seconds") == to_roll


def test_a_gap_is_recoverable_until_it_would_lose_a_trade_date() -> None:
    started = chicago(TUESDAY, 10)
    assert recoverable_gaps(None, started, ()) == 0
    assert recoverable_gaps(started, chicago(TUESDAY, 15, 59), ()) == 1
    assert recoverable_gaps(started, chicago(TUESDAY, 17, 30), ()) == 0
    # One that began in the halt loses nothing at the roll.
    assert recoverable_gaps(chicago(TUESDAY, 16, 30), chicago(TUESDAY, 17, 30), ()) == 1


def test_the_reconcile_verified_gauge_resets_at_the_roll() -> None:
    metrics = Metrics()
    now = chicago(TUESDAY, 15, 56)
    metrics.clock = lambda: now
    metrics.reconciled_day = trade_date(now)
    assert value(samples(generate_latest(registry_for(metrics)).decode()),
                 "fillcapture_reconcile_verified") == 1
    now = chicago(TUESDAY, 17, 0)
    assert value(samples(generate_latest(registry_for(metrics)).decode()),
                 "fillcapture_reconcile_verified") == 0


def test_the_publish_lag_is_the_age_of_the_oldest_unpublished_commit() -> None:
    lag = PublishLag()
    lag.seen(10, 10)  # everything published
    assert lag.seconds() == 0
    lag.committed()
    time.sleep(0.05)
    lag.seen(15, 10)  # five new fills, since the commit
    lag.committed()
    lag.seen(20, 10)
    assert lag.seconds() >= 0.05
    lag.published(15)  # the first commit's fills are out: the second one's age
    assert 0 < lag.seconds() < 0.05
    lag.published(20)
    assert lag.seconds() == 0
    lag.committed()  # a commit that stored nothing new
    lag.seen(20, 20)
    assert lag.seconds() == 0
