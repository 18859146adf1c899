"""The pre-roll reconcile proves itself: it sees a fresh snapshot of every
owned account (escalating when T4 sends none), and the seal records how it
ended and a certificate per account. Real simulator over WebSocket, real
SQLite file, the daemon's clock in the test's hands."""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from structlog.testing import capture_logs

from fillcapture.feeds.t4.proto import auth_pb2
from fillcapture.metrics import Metrics
from fillcapture.prometheus import registry_for
from fillcapture.reconcile import NO_RECONCILE
from fillcapture.sim import LedgerFill, SimConfig, SimServer
from fillcapture.store import SealedDay
from tests.conftest import ledger_rows, run_cli, store_at, stored_rows, write_config
from tests.scrape import samples, value
from tests.test_operations import MONDAY, OWNED, Clock, _settings, chicago, running_daemon, until

STEP_SECONDS = 2.5
"""reconcile_timeout here: long enough for any snapshot on loopback, and the
time each step that is meant to fail waits."""


def settings(url: str, db: Path) -> Any:
    return _settings(url, db, schedule={"enabled": False, "reconcile_timeout": STEP_SECONDS})


def alert_samples(metrics: Metrics) -> tuple[float, float, float]:
    """(reconcile_verified, reconcile_last_success_timestamp_seconds,
    reconcile_failures_total) in a scrape of ``metrics``."""
    found = samples(generate_latest(registry_for(metrics)).decode())
    return (value(found, "fillcapture_reconcile_verified"),
            value(found, "fillcapture_reconcile_last_success_timestamp_seconds"),
            value(found, "fillcapture_reconcile_failures_total"))


def ledger_counts(ledger: list[LedgerFill]) -> tuple[Counter[str], Counter[str]]:
    """Per owned account: fills of the ledger (busted ones included), busted ones."""
    fills = Counter(f.account for f in ledger if f.account in OWNED)
    busted = Counter(f.account for f in ledger if f.account in OWNED and f.busted_at)
    return fills, busted


def made(sim: SimServer) -> int:
    """Fills the simulator has made: a spread fill once, as ``max_fills`` counts."""
    return sum(1 for fill in sim.ledger if fill.leg_index in (None, 0))


async def monday(db: Path) -> SealedDay:
    async with store_at(db, readonly=True) as store:
        (day,) = [day for day in await store.sealed_days() if day.trade_date == MONDAY]
    return day


async def test_a_verified_reconcile_seals_certificates_that_match_the_ledger(
        tmp_path: Path) -> None:
    db = tmp_path / "fills.db"
    # Fills go on after the reconcile's snapshot, as they do until the close.
    config = SimConfig(trade_date=MONDAY, fills_per_second=300, max_fills=1500, seed=21,
                       spread_fraction=0.2, bust_fraction=0.03)
    clock = Clock(chicago(MONDAY, 15, 55))
    async with SimServer(config) as sim, running_daemon(settings(sim.url, db), clock) as daemon:
        await until(lambda: len(sim.ledger) >= 500)
        with capture_logs() as logs:
            await daemon.operations.reconcile_job(settle=0.5)
        outcome = daemon.operations.reconciled
        await until(lambda: made(sim) == 1500)
        await until(lambda: sorted(stored_rows(db, busted=True), key=repr)
                    == sorted(ledger_rows(sim.ledger, OWNED, busted=True), key=repr))
        unverified_before = daemon.metrics["reconcile.unverified"]
        verified_today = alert_samples(daemon.metrics)
        clock.now = chicago(MONDAY, 17, 5)
        rolled = alert_samples(daemon.metrics)
        sim.roll()
        seals = await daemon.operations.seal_job()
        unverified_after = daemon.metrics["reconcile.unverified"]
        fills, busted = ledger_counts(sim.ledger)
    day = await monday(db)
    by_account = {c.account: c for c in day.certificates}
    print(f"outcome {outcome}; certificates {by_account}")
    assert outcome is not None
    assert outcome.outcome.verified
    assert outcome.outcome.step == "resubscribe"
    assert next(e for e in logs if e["event"] == "reconcile.verified")["step"] == "resubscribe"
    assert seals
    assert day.verified is True
    assert day.reconcile_step == "resubscribe"
    assert day.reconciled_at == chicago(MONDAY, 15, 55)
    assert set(by_account) == set(fills)
    for account, certificate in by_account.items():
        assert certificate.stored == fills[account], account
        assert certificate.busted == busted[account], account
        assert certificate.snapshot is not None
        assert certificate.snapshot + certificate.after_snapshot == fills[account], account
        assert certificate.difference == 0
        assert certificate.quarantined == 0
    # The reconcile's snapshot was taken a third of the way: the rest came live.
    assert sum(c.snapshot or 0 for c in by_account.values()) < sum(fills.values())
    assert sum(c.after_snapshot for c in by_account.values()) > 0
    assert sum(busted.values()) > 0
    assert unverified_after == unverified_before
    assert verified_today == (1, chicago(MONDAY, 15, 55).timestamp(), 0)
    # After the roll today's reconcile is still to come; the last success stays.
    assert rolled == (0, chicago(MONDAY, 15, 55).timestamp(), 0)

    config_file = write_config(tmp_path / "c.toml", {"store": {"url": f"sqlite:///{db}"}})
    shown = run_cli(config_file, "seals", "--json")
    assert shown.returncode == 0, shown.stderr
    (listed,) = [d for d in json.loads(shown.stdout) if d["trade_date"] == MONDAY.isoformat()]
    assert listed["verified"] is True
    assert listed["reconcile_step"] == "resubscribe"
    assert {c["account"]: (c["snapshot"] + c["after_snapshot"], c["stored"], c["difference"])
            for c in listed["certificates"]} == {
        account: (count, count, 0) for account, count in fills.items()}
    status = json.loads(run_cli(config_file, "status", "--json").stdout)
    assert status["seals"][0]["trade_date"] == MONDAY.isoformat()
    assert status["seals"][0]["verified"] is True
    assert status["seals"][0]["differences"] == []
    text = run_cli(config_file, "status").stdout
    assert f"sealed {MONDAY.isoformat()} (SIMFIRM): verified (resubscribe)" in text


@pytest.mark.parametrize(("ignored", "step"), [(1, "unsubscribe_subscribe"),
                                               (2, "new_session")])
async def test_the_reconcile_escalates_until_a_snapshot_comes(
        tmp_path: Path, ignored: int, step: str) -> None:
    db = tmp_path / "fills.db"
    config = SimConfig(trade_date=MONDAY, fills_per_second=math.inf, max_fills=600, seed=22,
                       resubscribe_no_snapshot=ignored)
    clock = Clock(chicago(MONDAY, 15, 55))
    async with SimServer(config) as sim, running_daemon(settings(sim.url, db), clock) as daemon:
        await until(lambda: len(sim.ledger) == 600)
        await until(lambda: len(stored_rows(db)) == len(ledger_rows(sim.ledger, OWNED)))
        logins = sim.login_attempts["LOGIN_RESULT_SUCCESS"]
        with capture_logs() as logs:
            await daemon.operations.reconcile_job(settle=0.5)
        record = daemon.operations.reconciled
        clock.now = chicago(MONDAY, 17, 5)
        sim.roll()
        await daemon.operations.seal_job()
        ignored_seen = sim.stats["resubscriptions_ignored"]
        new_logins = sim.login_attempts["LOGIN_RESULT_SUCCESS"] - logins
        fills, _ = ledger_counts(sim.ledger)
    day = await monday(db)
    verified = [e for e in logs if e["event"] == "reconcile.verified"]
    no_snapshot = [e["step"] for e in logs if e["event"] == "feed.reconcile_no_snapshot"]
    print(f"{record}; no snapshot at {no_snapshot}; logins {new_logins}")
    assert record is not None
    assert record.outcome.verified
    assert [e["step"] for e in verified] == [step]
    assert ignored_seen == ignored
    assert no_snapshot == ["resubscribe", "unsubscribe_subscribe"][:ignored]
    assert new_logins == (1 if step == "new_session" else 0)
    assert day.verified is True
    assert day.reconcile_step == step
    assert {c.account: (c.snapshot, c.stored, c.difference) for c in day.certificates} == {
        account: (count, count, 0) for account, count in fills.items()}


async def test_a_reconcile_that_never_sees_a_snapshot_seals_the_day_unverified(
        tmp_path: Path) -> None:
    db = tmp_path / "fills.db"
    # Re-subscriptions get no snapshot, and the new session is refused its login.
    config = SimConfig(trade_date=MONDAY, fills_per_second=math.inf, max_fills=400, seed=23,
                       resubscribe_no_snapshot=5)
    clock = Clock(chicago(MONDAY, 15, 55))
    async with SimServer(config) as sim, running_daemon(settings(sim.url, db), clock) as daemon:
        await until(lambda: len(sim.ledger) == 400)
        await until(lambda: len(stored_rows(db)) == len(ledger_rows(sim.ledger, OWNED)))
        sim.refuse_logins(auth_pb2.LOGIN_RESULT_UNEXPECTED_ERROR)
        with capture_logs() as logs:
            await daemon.operations.reconcile_job(settle=0.5)
            record = daemon.operations.reconciled
            before = daemon.metrics["reconcile.unverified"]
            failed = alert_samples(daemon.metrics)
            clock.now = chicago(MONDAY, 17, 5)
            sim.roll()
            await daemon.operations.seal_job()
            after = daemon.metrics["reconcile.unverified"]
        fills, _ = ledger_counts(sim.ledger)
    day = await monday(db)
    errors = {e["event"]: e for e in logs if e["log_level"] == "error"}
    print(f"{record}; errors {sorted(errors)}")
    assert record is not None
    assert not record.outcome.verified
    assert sorted(record.outcome.missing) == sorted(OWNED)
    assert "reconcile.unverified" in errors
    assert "seal.unverified" in errors
    assert after == before + 1
    assert failed == (0, 0, 1)
    assert day.verified is False
    assert day.reconciled_at is None
    assert day.unverified_reason is not None
    assert "no fresh snapshot" in day.unverified_reason
    # The certificates still compare the store with the day's last snapshot (the login's).
    assert {c.account: (c.stored, c.difference) for c in day.certificates} == {
        account: (count, 0) for account, count in fills.items()}

    config_file = write_config(tmp_path / "c.toml", {"store": {"url": f"sqlite:///{db}"}})
    (listed,) = [d for d in json.loads(run_cli(config_file, "seals", "--json").stdout)
                 if d["trade_date"] == MONDAY.isoformat()]
    assert listed["verified"] is False
    assert listed["reconciled_at"] is None
    text = run_cli(config_file, "status").stdout
    assert f"sealed {MONDAY.isoformat()} (SIMFIRM): UNVERIFIED" in text


async def test_a_day_whose_feed_was_down_at_the_reconcile_is_sealed_unverified(
        tmp_path: Path) -> None:
    db = tmp_path / "fills.db"
    config = SimConfig(trade_date=MONDAY, fills_per_second=math.inf, max_fills=300, seed=24)
    clock = Clock(chicago(MONDAY, 15, 55))
    async with SimServer(config) as sim, running_daemon(settings(sim.url, db), clock) as daemon:
        await until(lambda: len(stored_rows(db)) == len(ledger_rows(sim.ledger, OWNED)) > 0)
        sim.refuse_logins(auth_pb2.LOGIN_RESULT_UNEXPECTED_ERROR)
        await sim.drop_connections()
        await until(lambda: daemon.status.state == "disconnected")
        with capture_logs() as logs:
            await daemon.operations.reconcile_job(settle=0.1)
        before = daemon.metrics["reconcile.unverified"]
        failed = alert_samples(daemon.metrics)  # a feed down is a failed reconcile
        clock.now = chicago(MONDAY, 17, 5)
        await daemon.operations.seal_job()
        after = daemon.metrics["reconcile.unverified"]
    day = await monday(db)
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["reconcile.unverified"]
    assert after == before + 1
    assert failed == (0, 0, 1)
    assert day.verified is False
    assert day.reconciled_at is None


async def test_a_day_no_reconcile_ran_for_is_sealed_unverified(tmp_path: Path) -> None:
    db = tmp_path / "fills.db"
    config = SimConfig(trade_date=MONDAY, fills_per_second=math.inf, max_fills=200, seed=25)
    clock = Clock(chicago(MONDAY, 16, 30))
    async with SimServer(config) as sim, running_daemon(settings(sim.url, db), clock) as daemon:
        await until(lambda: len(stored_rows(db)) == len(ledger_rows(sim.ledger, OWNED)) > 0)
        await asyncio.sleep(0.3)  # the snapshot counts are saved after their fills
        clock.now = chicago(MONDAY, 17, 5)
        await daemon.operations.seal_job()
        fills, _ = ledger_counts(sim.ledger)
    day = await monday(db)
    assert day.verified is False
    assert day.unverified_reason == NO_RECONCILE
    # The login's snapshot, and the fills that came live after it.
    assert {c.account: (c.stored, c.difference, c.recovered) for c in day.certificates} == {
        account: (count, 0, 0) for account, count in fills.items()}


async def test_a_reconcile_without_an_owned_account_to_see_proves_nothing(
        tmp_path: Path) -> None:
    config = SimConfig(trade_date=MONDAY, fills_per_second=0, visible=("55555",),
                       risk_manager=False)
    clock = Clock(chicago(MONDAY, 15, 55))
    async with SimServer(config) as sim, \
            running_daemon(settings(sim.url, tmp_path / "fills.db"), clock) as daemon:
        await until(lambda: daemon.status.state == "subscribed")
        await daemon.operations.reconcile_job(settle=0.1)
        record = daemon.operations.reconciled
    assert record is not None
    assert not record.outcome.verified
    assert record.outcome.reason is not None
    assert "sees none of them" in record.outcome.reason
