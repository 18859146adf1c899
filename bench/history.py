"""History benchmark: a year of a firm's fills, read through the API and exported.

Builds (once, then reuses) a store of ``--fills`` fills (10,000,000) across 200
accounts of 20 users and 250 weekday trade dates, in the schema the store's
migrations make, and prints:

(a) the first page (500 fills) of the busiest account's last 30 days,
    ``GET /v1/fills``, p50/p95/max over 100 requests, and a page further on
    through its cursor;
(b) one month of one user's daily summary, ``GET /v1/summary/daily``, p50/p95,
    and that user's ``GET /v1/accounts``;
(c) ``fillcapture export --format csv`` of that user's year: rows, seconds,
    rows/s and the peak RSS of the export process; and the same as Parquet.

``fillcapture serve`` and ``fillcapture export`` run as real processes; the
API's tokens come from ``fillcapture users token``. The store is kept at
``--store`` (a SQLite file's path, or a store URL) and rebuilt only if its
fill count differs (or with ``--rebuild``); building takes a few minutes and
about 3 GB of disk. A PostgreSQL store (``--store postgresql://...``, a
database the URL's user owns: rebuilding empties its fills) is built by COPY
(bench/history_pg.py); ``--postgres`` builds it in a throwaway cluster
(tests/pgcluster.py) for the run. Each run first opens it
read-write, as the daemon does at start: a store kept from an older
fillcapture is migrated then. Positions are recorded as the seal job records
them (each month's last trade date and the last 31 days'), so that the
summary starts from them as it would in a running system.

    PYTHONPATH=. .venv/bin/python bench/history.py [--store var/bench/history.sqlite3 | URL]
        [--postgres] [--fills 10000000] [--rebuild]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from fillcapture.fees import FeeSchedule
from fillcapture.model import Market
from fillcapture.reports import record_positions
from fillcapture.store import open_store
from fillcapture.store._sqlite.location import sqlite_file
from fillcapture.urls import masked

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench., tests.pgcluster
from bench import history_pg
from fillcapture.store._postgres import migrations as pg_migrations
from fillcapture.store._sqlite import migrations
from fillcapture.store._sqlite.rows import INSERT_COLUMNS, OUTRIGHT

FIRM = "SIMFIRM"
USERS = 20
ACCOUNTS_PER_USER = 10
DAYS = 250
LAST_DAY = date(2026, 11, 20)  # a Friday
EXPORT_USER = "U01"  # owns the busiest account
PAGE = 500
BUST_EVERY = 5_000  # one fill in this many is busted

# Market, tick size (as decimal text), a typical price, and how often it trades.
MARKETS: tuple[tuple[str, str, str, int], ...] = (
    ("XCME_Eq ES (Z26)", "0.25", "6012.25", 40),
    ("XCME_Eq NQ (Z26)", "0.25", "21450.50", 20),
    ("XNYM_En CL (F27)", "0.01", "72.35", 15),
    ("XCEC_Mt GC (G27)", "0.1", "2345.6", 10),
    ("XCBT_Ir ZN (H27)", "0.015625", "110.515625", 10),
    ("XCME_Cu 6E (Z26)", "0.00005", "1.08505", 5),
)

# Each market's terms as T4's market details give them (exchange, contract,
# point value), the currencies [money] names, and a fee book of the usual
# shape: a commission per exchange and a cheaper one for some users, the
# exchange fee per contract with a rate change in the year, NFA on all: the
# summary's figures are with fees on.
MARKET_TERMS = (("XCME_Eq ES (Z26)", "CME_Eq", "ES", "50"),
                ("XCME_Eq NQ (Z26)", "CME_Eq", "NQ", "20"),
                ("XNYM_En CL (F27)", "NYM_En", "CL", "1000"),
                ("XCEC_Mt GC (G27)", "CEC_Mt", "GC", "100"),
                ("XCBT_Ir ZN (H27)", "CBT_Ir", "ZN", "1000"),
                ("XCME_Cu 6E (Z26)", "CME_Cu", "6E", "125000"))
CURRENCIES = {"CME_Eq": "USD", "NYM_En": "USD", "CEC_Mt": "USD", "CBT_Ir": "USD",
              "CME_Cu": "USD"}
FEES = (
    FeeSchedule("commission", Decimal("1.25"), "USD", date(2025, 1, 1)),
    FeeSchedule("commission", Decimal("0.85"), "USD", date(2025, 1, 1), user="U01"),
    FeeSchedule("commission", Decimal("0.95"), "USD", date(2025, 1, 1), exchange="CME_Eq",
                user="U02"),
    FeeSchedule("exchange", Decimal("1.38"), "USD", date(2025, 1, 1), exchange="CME_Eq"),
    FeeSchedule("exchange", Decimal("1.40"), "USD", date(2026, 6, 1), exchange="CME_Eq"),
    FeeSchedule("exchange", Decimal("0.60"), "USD", date(2025, 1, 1), exchange="CME_Eq",
                contract="ES", account="10001"),
    FeeSchedule("exchange", Decimal("1.50"), "USD", date(2025, 1, 1)),
    FeeSchedule("nfa", Decimal("0.02"), "USD", date(2025, 1, 1)),
)

# Fills per account over the year: a few busy accounts, many quiet ones
# (10 x 200,000 + 40 x 80,000 + 150 x 32,000 = 10,000,000). The export user
# has one busy account, two middling and seven quiet ones.
TIERS = ((10, 200_000), (40, 80_000), (150, 32_000))


@dataclass(frozen=True, slots=True)
class Account:
    number: str
    account_id: str
    user: str
    fills: int


def trade_dates(count: int, last: date) -> list[date]:
    days: list[date] = []
    day = last
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= timedelta(days=1)
    return days[::-1]


def layout(total: int) -> list[Account]:
    """200 accounts, 10 per user; fill counts by :data:`TIERS`, scaled to ``total``."""
    sizes = [size for count, size in TIERS for _ in range(count)]
    scale = total / sum(sizes)
    sizes = [max(1, round(size * scale)) for size in sizes]
    sizes[-1] += total - sum(sizes)
    # Deal the tiers out so that every user gets a mix, U01 the busiest account.
    order = sorted(range(len(sizes)), key=lambda i: -sizes[i])
    owners = {index: f"U{(rank % USERS) + 1:02d}" for rank, index in enumerate(order)}
    rng = random.Random(7)
    return [
        Account(f"{10001 + i}", str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                owners[i], sizes[i])
        for i in range(len(sizes))
    ]


# --- building the store ------------------------------------------------------------


def _micros(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def daily_counts(accounts: Sequence[Account], days: int, rng: random.Random
                 ) -> list[list[int]]:
    """Per account, its fills on each trade date: busier and quieter days, and
    exactly ``account.fills`` in all."""
    found: list[list[int]] = []
    for account in accounts:
        weights = [max(0.1, rng.gauss(1.0, 0.25)) for _ in range(days)]
        scale = account.fills / sum(weights)
        counts = [int(weight * scale) for weight in weights]
        for day in rng.sample(range(days), account.fills - sum(counts)):
            counts[day] += 1
        found.append(counts)
    return found


def day_rows(day: date, accounts: Sequence[Account], counts: Sequence[int],
             rng: random.Random, next_trade: list[int]) -> list[tuple[Any, ...]]:
    """One trade date's fills of every account (``counts`` of each), in
    exchange-time order: orders of one to three fills, within the Globex
    session (17:00 CT the day before to 16:00 CT; here 23:00 to 21:00 UTC)."""
    session_start = _micros(datetime.combine(day, datetime.min.time(), UTC)) - 3_600_000_000
    session = 22 * 3_600_000_000
    text = day.isoformat()
    markets = [market for market in MARKETS for _ in range(market[3])]
    ticks = {market: (Decimal(tick), Decimal(typical)) for market, tick, typical, _ in MARKETS}
    rows: list[tuple[Any, ...]] = []
    for account, count in zip(accounts, counts, strict=True):
        made = 0
        while made < count:
            market = rng.choice(markets)[0]
            tick, typical = ticks[market]
            order_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            side = "BUY" if rng.random() < 0.5 else "SELL"
            price = str(typical + tick * rng.randint(-400, 400))
            at = session_start + rng.randrange(session)
            for sequence in range(1, min(rng.randint(1, 3), count - made) + 1):
                next_trade[0] += 1
                trade = str(next_trade[0])
                at += rng.randrange(1, 2_000)
                busted = at + 60_000_000 if next_trade[0] % BUST_EVERY == 0 else None
                rows.append((
                    FIRM, account.account_id, account.number, order_id, trade, OUTRIGHT, trade,
                    sequence, market, side, rng.randint(1, 10), price, at, text,
                    at + rng.randrange(200, 5_000), 0, busted))
                made += 1
    rows.sort(key=lambda row: row[12])
    return rows


def build(path: Path, total: int) -> float:
    """Create the store at ``path``; return the seconds it took."""
    started = time.perf_counter()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    accounts = layout(total)

    async def registry() -> None:
        # The schema and the registry as the daemon and `fillcapture users add` make them.
        async with open_store(f"sqlite:///{path}") as store:
            for user in sorted({account.user for account in accounts}):
                await store.add_user(user, [a.number for a in accounts if a.user == user])

    asyncio.run(registry())
    columns = (*INSERT_COLUMNS, "busted_at")
    insert = (f"INSERT INTO fills ({', '.join(columns)}) "  # noqa: S608 - constant names
              f"VALUES ({', '.join('?' * len(columns))})")
    bust = ("INSERT INTO busts (firm, account_id, account, order_id, trade_key, leg_index, "
            "busted_at, captured_at) SELECT firm, account_id, account, order_id, trade_key, "
            "leg_index, busted_at, busted_at + 1000 FROM fills WHERE busted_at IS NOT NULL")
    rng = random.Random(1)
    next_trade = [0]
    days = trade_dates(DAYS, LAST_DAY)
    counts = daily_counts(accounts, len(days), rng)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # Building only: the daemon's connections keep FULL and its cache size.
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -2000000")
        written = 0
        for n, day in enumerate(days, 1):
            rows = day_rows(day, accounts, [c[n - 1] for c in counts], rng, next_trade)
            conn.execute("BEGIN")
            conn.executemany(insert, rows)
            conn.execute("COMMIT")
            written += len(rows)
            if n % 25 == 0:
                rate = written / (time.perf_counter() - started)
                print(f"  building: {n}/{len(days)} trade dates, {written:,} fills "
                      f"({rate:,.0f}/s)", flush=True)
        conn.execute("BEGIN")
        conn.execute(bust)
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return time.perf_counter() - started


def positions_days(days: Sequence[date]) -> list[date]:
    """The trade dates whose positions the seal job would still hold at the
    end: each month's last and those of the last 31 days, the last trade date
    excepted: it is today, not sealed yet, and its rows are computed from fills."""
    sealed = days[:-1]
    keep = {day for day in sealed if day >= sealed[-1] - timedelta(days=31)}
    keep |= {day for day, after in itertools.pairwise(sealed)
             if after.month != day.month}
    return sorted(keep)


def prepare(url: str, days: Sequence[date]) -> tuple[int, float, float]:
    """Open the store read-write, as the daemon does at start (migrating it if
    it is older), and record the positions the seal job would have recorded
    (none again for days already recorded). Returns the schema version found,
    the seconds opening took and the seconds recording took."""
    if is_postgres(url):
        version = asyncio.run(history_pg.describe(url))[0]
    else:
        with contextlib.closing(sqlite3.connect(sqlite_path(url))) as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])

    async def run() -> tuple[float, float]:
        started = time.perf_counter()
        async with open_store(url) as store:
            opened = time.perf_counter() - started
            await store.save_markets([Market(market, exchange, contract, Decimal(value))
                                      for market, exchange, contract, value in MARKET_TERMS])
            for schedule in FEES:
                await store.set_fee_schedule(schedule)
            started = time.perf_counter()
            for day in positions_days(days):
                await record_positions(store, FIRM, day)
            return opened, time.perf_counter() - started

    return version, *asyncio.run(run())


def is_postgres(url: str) -> bool:
    return urlsplit(url).scheme in ("postgresql", "postgres")


def sqlite_path(url: str) -> Path:
    """The file a ``sqlite:///`` URL names, as the store reads it
    (``sqlite:////abs`` absolute, ``sqlite:///rel`` relative); the URL's
    path part would keep both leading slashes of an absolute path, which
    then made a file: URI with an authority, so the store was rebuilt at
    every run."""
    return sqlite_file(url)


def store_url(store: str) -> str:
    """``--store`` as a URL: a bare path is a SQLite file's."""
    return store if "://" in store else f"sqlite:///{Path(store).resolve()}"


def build_postgres(url: str, total: int) -> float:
    """Create the store at ``url`` (bench/history_pg.py); return the seconds it took."""
    accounts = layout(total)
    users = {user: [a.number for a in accounts if a.user == user]
             for user in sorted({account.user for account in accounts})}
    rng = random.Random(1)
    next_trade = [0]
    days = trade_dates(DAYS, LAST_DAY)
    counts = daily_counts(accounts, len(days), rng)
    started = time.perf_counter()

    def progress(n: int, written: int) -> None:
        if n % 25 == 0:
            rate = written / (time.perf_counter() - started)
            print(f"  building: {n}/{len(days)} trade dates, {written:,} fills "
                  f"({rate:,.0f}/s)", flush=True)

    rows = (day_rows(day, accounts, [c[n] for c in counts], rng, next_trade)
            for n, day in enumerate(days))
    return history_pg.timed_build(url, users, rows, progress)


def stored_count(url: str) -> int | None:
    if is_postgres(url):
        return asyncio.run(history_pg.stored_count(url))
    path = sqlite_path(url)
    if not path.is_file():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            return int(conn.execute("SELECT count(*) FROM fills").fetchone()[0])
    except sqlite3.Error:
        return None


# --- the processes --------------------------------------------------------------


def fillcapture(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fillcapture", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=600, check=True)


def token(config: Path, user: str) -> str:
    """A bearer token, as an operator issues it: printed alone on the last line."""
    return fillcapture(config, "users", "token", user).stdout.splitlines()[-1]


@contextlib.contextmanager
def serve(config: Path, work: Path) -> Iterator[str]:
    log = (work / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fillcapture", "--config", str(config), "serve", "--port", "0"],
        stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://\S+", line)
        if not match:
            raise RuntimeError(f"fillcapture serve did not start: {line!r}")
        yield match.group(0)
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def peak_rss_kib(pid: int) -> int:
    """The process's resident high-water mark so far (VmHWM), 0 once it has exited."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def export(config: Path, fmt: str, out: Path, user: str, work: Path
           ) -> tuple[int, float, float]:
    """(rows, seconds, peak RSS in MB) of one ``fillcapture export`` process.

    The peak is the child's own VmHWM, polled: its rusage would not do, since
    Linux counts in a child's ru_maxrss the memory of the parent that
    started it (this process, large after building the store)."""
    log = work / f"export-{fmt}.out"
    peak = 0
    with log.open("w") as output:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "fillcapture", "--config", str(config), "export",
             "--format", fmt, "--out", str(out), "--user", user],
            stdout=output, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            peak = max(peak, peak_rss_kib(proc.pid))
            time.sleep(0.02)
        seconds = time.perf_counter() - started
    text = log.read_text()
    if proc.returncode != 0:
        raise RuntimeError(f"export failed ({proc.returncode}): {text.strip()[-2000:]}")
    match = re.search(r"(\d+) fills written", text)
    rows = int(match.group(1)) if match else -1
    return rows, seconds, peak / 1024


# --- measuring --------------------------------------------------------------------


def percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def timed(client: httpx.Client, url: str, params: dict[str, str | int], count: int
          ) -> tuple[list[float], httpx.Response]:
    """``count`` requests' times in ms (after two unmeasured), and the last response."""
    for _ in range(2):
        client.get(url, params=params).raise_for_status()
    times: list[float] = []
    response = None
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(url, params=params)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    assert response is not None
    return times, response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="var/bench/history.sqlite3",
                        help="a SQLite file's path or a store URL")
    parser.add_argument("--postgres", action="store_true",
                        help="build the store in a throwaway PostgreSQL cluster for the run")
    parser.add_argument("--fills", type=int, default=10_000_000)
    parser.add_argument("--rebuild", action="store_true", help="build the store even if kept")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--summaries", type=int, default=20)
    parser.add_argument("--no-parquet", action="store_true")
    args = parser.parse_args()
    if not args.postgres:
        run(args, store_url(args.store))
        return
    from tests.pgcluster import PostgresCluster

    with PostgresCluster() as cluster:
        run(args, cluster.database())


def run(args: argparse.Namespace, url: str) -> None:
    """Build or keep the store at ``url``, then measure."""
    accounts = layout(args.fills)
    days = trade_dates(DAYS, LAST_DAY)
    where = masked(url)
    if args.rebuild or stored_count(url) != args.fills:
        if is_postgres(url):
            seconds = build_postgres(url, args.fills)
        else:
            sqlite_path(url).parent.mkdir(parents=True, exist_ok=True)
            seconds = build(sqlite_path(url), args.fills)
        print(f"store built: {args.fills:,} fills in {seconds:.0f}s "
              f"({args.fills / seconds:,.0f} fills/s) at {where}")
    else:
        print(f"store kept: {args.fills:,} fills at {where} (--rebuild to build again)")
    version, opened, recorded = prepare(url, days)
    latest = pg_migrations.LATEST if is_postgres(url) else migrations.LATEST
    size = (asyncio.run(history_pg.describe(url))[1] if is_postgres(url)
            else sqlite_path(url).stat().st_size / 2**30)
    print(f"  opened read-write in {opened:.1f}s (schema version {version}, now "
          f"{latest}); positions as the seal job records them, "
          f"{len(positions_days(days))} trade dates, in {recorded:.1f}s")
    print(f"  {len(accounts)} accounts of {USERS} users, {len(days)} trade dates "
          f"{days[0]} to {days[-1]}, {size:.1f} GiB")

    busiest = max(accounts, key=lambda a: a.fills)
    user_fills = sum(a.fills for a in accounts if a.user == EXPORT_USER)
    with tempfile.TemporaryDirectory(prefix="fillcapture-bench-") as tmp:
        work = Path(tmp)
        config = work / "fillcapture.toml"
        config.touch(0o600)  # a PostgreSQL URL may carry its password
        currencies = ", ".join(f'"{key}" = "{code}"' for key, code in CURRENCIES.items())
        config.write_text(f'[store]\nurl = "{url}"\n'
                          f'[money]\ncurrencies = {{{currencies}}}\n'
                          '[log]\nformat = "json"\nlevel = "warning"\n')
        bearer = token(config, EXPORT_USER)
        with serve(config, work) as url, httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {bearer}"},
                timeout=120) as client:
            since = days[-1] - timedelta(days=30)
            window: dict[str, str | int] = {
                "account": busiest.number, "from_date": since.isoformat(),
                "to_date": days[-1].isoformat(), "limit": PAGE}
            times, first = timed(client, "/v1/fills", window, args.requests)
            got = len(first.json()["fills"])
            print(f"(a) first page, {got} fills    p50 {percentile(times, 0.5):7.1f} ms, "
                  f"p95 {percentile(times, 0.95):7.1f} ms, max {max(times):7.1f} ms "
                  f"(account {busiest.number}, {busiest.fills:,} fills a year, trade dates "
                  f"{since} to {days[-1]}; {args.requests} requests; target p95 <= 50 ms)")
            cursor = first.json()["next_cursor"]
            for _ in range(8):  # on to the tenth page
                if cursor is not None:
                    cursor = client.get("/v1/fills", params=window | {"cursor": cursor}
                                        ).json()["next_cursor"]
            if cursor is not None:
                times, _ = timed(client, "/v1/fills", window | {"cursor": cursor},
                                 args.requests)
                print(f"    tenth page by cursor     p50 {percentile(times, 0.5):7.1f} ms, "
                      f"p95 {percentile(times, 0.95):7.1f} ms, max {max(times):7.1f} ms")

            month: dict[str, str | int] = {"from_date": (days[-1] - timedelta(days=30)).isoformat(),
                     "to_date": days[-1].isoformat()}
            times, summary = timed(client, "/v1/summary/daily", month, args.summaries)
            body = summary.json()
            netted = sum(row["net"] is not None for row in body["rows"])
            (usd,) = body["totals"]["currencies"]
            print(f"(b) daily summary, a month   p50 {percentile(times, 0.5):7.1f} ms, "
                  f"p95 {percentile(times, 0.95):7.1f} ms "
                  f"(user {EXPORT_USER}, {len(body['rows']):,} rows, fees on: {len(FEES)} "
                  f"schedules, {netted:,} rows netted, fees USD {usd['fees_total']}; "
                  f"{args.summaries} requests; target <= 200 ms)")
            times, listing = timed(client, "/v1/accounts", {}, args.summaries)
            print(f"    accounts                 p50 {percentile(times, 0.5):7.1f} ms, "
                  f"p95 {percentile(times, 0.95):7.1f} ms "
                  f"(user {EXPORT_USER}, {len(listing.json()['accounts'])} accounts, "
                  f"{sum(a['fills'] for a in listing.json()['accounts']):,} fills; "
                  f"{args.summaries} requests)")

        formats = ["csv"] if args.no_parquet else ["csv", "parquet"]
        for fmt in formats:
            rows, seconds, peak = export(config, fmt, work / f"year.{fmt}", EXPORT_USER, work)
            print(f"(c) export {fmt:<8}          {rows:>10,} rows in {seconds:6.1f}s "
                  f"({rows / seconds:,.0f} rows/s), peak RSS {peak:6.1f} MB "
                  f"(user {EXPORT_USER}'s year, about {user_fills:,} fills; target <= 200 MB)")


if __name__ == "__main__":
    main()
