"""The store's operations side: seals and amendments, gaps, daemon state, backups."""

from __future__ import annotations

import stat
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from fillcapture.model import Bust, SnapshotReceived
from fillcapture.store import FillQuery, MaintenancePlan, Store, Verification
from tests.store.factories import DAY, T0, make_fill

LATER = T0 + timedelta(hours=5)


async def test_a_seal_records_each_accounts_day_and_is_written_once(store: Store) -> None:
    fills = [make_fill(n, volume=n + 1) for n in range(4)]
    fills.append(make_fill(9, account="22222", account_id="acc-22222", volume=7))
    await store.insert_fills(fills)
    await store.insert_busts([Bust(fills[0], LATER)])

    seals = await store.seal_day("SIMFIRM", DAY, reconciled_at=T0)
    # Sealing again (a second daemon, a restart) changes nothing.
    await store.insert_fills([make_fill(20)])
    assert await store.seal_day("SIMFIRM", DAY, reconciled_at=LATER) == seals

    by_account = {seal.account: seal for seal in seals}
    assert (by_account["11111"].fills, by_account["11111"].volume,
            by_account["11111"].busted) == (3, 2 + 3 + 4, 1)
    assert (by_account["22222"].fills, by_account["22222"].volume) == (1, 7)
    assert by_account["11111"].reconciled_at == T0
    assert await store.sealed_through("SIMFIRM") == DAY
    assert await store.sealed_through("OTHERFIRM") is None


async def test_late_fills_and_busts_of_a_sealed_day_are_amendments(store: Store) -> None:
    first = make_fill(1)
    await store.insert_fills([first])
    await store.seal_day("SIMFIRM", DAY, reconciled_at=None)
    late = make_fill(2)

    new_fills, new_busts = await store.insert_amendments([late, first], [Bust(first, LATER)])
    # Delivered again (a replay): nothing changes, nothing is counted twice.
    again = await store.insert_amendments([late], [Bust(first, LATER)])

    assert new_fills == [late]
    assert new_busts == [Bust(first, LATER)]
    assert again == ([], [])
    (seal,) = await store.seals()
    assert seal.amendments == 2
    assert seal.fills == 1  # the seal keeps what the day held when sealed
    assert [f.busted async for f in store.fills(FillQuery())] == [True, False]


async def test_gaps_open_close_and_acknowledge(store: Store) -> None:
    harmless = await store.open_gap("SIMFIRM", T0, "connection lost")
    await store.close_gap(harmless, T0 + timedelta(seconds=3), unrecoverable=False)
    lost = await store.open_gap("SIMFIRM", LATER, "daemon not running")
    assert [gap.id for gap in await store.gaps()] == [lost, harmless]
    assert (await store.gaps())[0].ended_at is None

    await store.close_gap(lost, LATER + timedelta(days=1), unrecoverable=True)
    assert [gap.id for gap in await store.gaps(open_only=True)] == [lost]
    assert await store.acknowledge_gap(lost) is True
    assert await store.acknowledge_gap(lost) is True  # already done: still fine
    assert await store.acknowledge_gap(999) is False
    assert await store.gaps(open_only=True) == []


async def test_daemon_state_is_kept_per_instance(store: Store) -> None:
    await store.set_state("SIMFIRM", {"state": "subscribed", "since": "x"})
    await store.set_state("SIMFIRM", {"state": "disconnected"})
    await store.set_state("OTHER", {"state": "stopped"})
    assert await store.state() == {"OTHER": {"state": "stopped"},
                                   "SIMFIRM": {"state": "disconnected", "since": "x"}}


async def test_last_fills_per_account(store: Store) -> None:
    await store.insert_fills([make_fill(1), make_fill(2), make_fill(
        3, trade_date=DAY - timedelta(days=1))])
    found = await store.last_fills(["11111", "99999"])
    assert found == {"11111": (T0 + timedelta(milliseconds=2), DAY, 2)}


def snapshot(fills: int, *, first: bool = True, day: date = DAY,
             account: str = "11111") -> SnapshotReceived:
    return SnapshotReceived("SIMFIRM", f"acc-{account}", account, ((day, fills),), 0, first)


async def test_a_certificate_sets_t4s_last_snapshot_against_the_store(store: Store) -> None:
    # Before the snapshot: fills from it (historical) and one live.
    await store.insert_fills([make_fill(n, historical=True) for n in range(3)] + [make_fill(3)])
    await store.save_snapshots([snapshot(3)])  # began: it holds 3 ...
    await store.insert_fills([make_fill(4, historical=True)])
    await store.save_snapshots([snapshot(5, first=False)])  # ... and 2 more in a later frame
    await store.insert_fills([make_fill(n) for n in (5, 6, 7)])  # live, after it
    await store.insert_busts([Bust(make_fill(6), LATER)])
    # Another account's fills, of which T4's snapshot reported none.
    await store.insert_fills([make_fill(8, account="22222", account_id="acc-22222")])
    await store.save_snapshots([snapshot(0, account="22222")])

    await store.seal_day("SIMFIRM", DAY, T0, Verification(True, "unsubscribe_subscribe"),
                         {"11111": 2})

    (day,) = await store.sealed_days()
    assert (day.verified, day.reconcile_step, day.reconciled_at) == (
        True, "unsubscribe_subscribe", T0)
    mine, other = day.certificates
    assert (mine.account, mine.snapshot, mine.after_snapshot, mine.stored, mine.recovered,
            mine.busted, mine.quarantined) == ("11111", 5, 3, 8, 2, 1, 0)
    assert mine.difference == 0
    assert (other.account, other.snapshot, other.stored, other.difference) == ("22222", 0, 1, -1)
    assert await store.quarantined_counts("SIMFIRM", DAY) == {}


async def test_one_maintain_call_backs_up_rotates_checks_and_prunes(
    store: Store, tmp_path: Path,
) -> None:
    await store.insert_fills([make_fill(n) for n in range(10)])
    await store.insert_fills([make_fill(200, trade_date=DAY - timedelta(days=40))])
    backups = tmp_path / "backups"
    at = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)

    first = await store.maintain(MaintenancePlan(at, backups, keep=1))
    await store.housekeeping()
    second = await store.maintain(MaintenancePlan(at + timedelta(minutes=1), backups, keep=1,
                                                  prune_before=DAY - timedelta(days=30)))

    assert first.sound
    assert (first.pruned, second.pruned, second.kept) == (0, 1, 1)
    (kept,) = backups.iterdir()  # the engine names the file's kind: .db, .pgdump
    assert kept.name.startswith("fills-20261128T080100Z.")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert second.backup == str(kept)
    assert await store.count_fills() == 10
    nothing = await store.maintain(MaintenancePlan(at))
    assert (nothing.backup, nothing.findings) == (None, ["ok"])
