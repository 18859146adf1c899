"""A real ``fillcapture serve`` process over a real store, one per test module:
a SQLite file (``api``), or one of each engine in turn (``engine_api``).

The store holds the fills of two users whose accounts overlap by number:
A owns 11111 and 22222 at any firm, B owns 33333 and 11111 at firm F2 (an
entry naming its firm wins, so 11111's fills at F2 are B's). 55555 is nobody's.
``owner()`` restates that rule for the tests to check against.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from fillcapture.model import LEG, Bust, Fill, Side, SnapshotReceived
from fillcapture.store import Verification, open_store
from tests.conftest import ENGINES, Proc, free_port, run_cli, write_config
from tests.pgcluster import PostgresCluster
from tests.store.factories import make_fill

ES = "XCME_Eq ES (Z26)"
CL = "XNYM_En CL (F27)"
DAY1, DAY2 = date(2026, 11, 19), date(2026, 11, 20)
ES_POINT_VALUE = "50"


def owner(firm: str, account: str) -> str | None:
    if (firm, account) == ("F2", "11111") or account == "33333":
        return "B"
    return "A" if account in ("11111", "22222") else None


def _fill(n: int, account: str, side: Side | None, volume: int, price: str, *,
          firm: str = "SIMFIRM", market: str = ES, day: date = DAY1, second: int | None = None,
          leg_index: int | None = None) -> Fill:
    start = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=14)
    # A leg here is pending: its spread's definition never came, so it has
    # the spread's market and no side of its own (the order's is ``side``).
    leg = {} if leg_index is None else {"kind": LEG, "order_side": side, "side": None}
    return make_fill(n, **{"firm": firm, "account": account, "account_id": f"{firm}-{account}",
                           "side": side, "volume": volume, "price_text": price,
                           "market_id": market, "trade_date": day, "leg_index": leg_index,
                           "exchange_time": start + timedelta(
                               seconds=n if second is None else second)} | leg)


# A's account 11111 at SIMFIRM, ES: long 2 on DAY1, sells 3 on DAY2 (+8.50 on
# the 2 closed, short 1), buys 1 back (+3.25). A busted buy and a fill of
# unknown side change nothing. Every other account trades around it.
FILLS = [
    _fill(1, "11111", Side.BUY, 2, "6000.00"),
    _fill(2, "11111", Side.BUY, 1, "-37.63", market=CL),
    _fill(3, "33333", Side.SELL, 5, "6100.00"),
    _fill(4, "11111", Side.SELL, 2, "6050.00", firm="F2"),  # B's
    _fill(5, "11111", Side.BUY, 4, "6020.00"),  # busted below
    _fill(6, "55555", Side.BUY, 1, "6001.00"),  # nobody's
    _fill(7, "22222", Side.SELL, 1, "6002.50", second=7),
    _fill(8, "33333", Side.BUY, 1, "6003.50", second=7),  # the same time as the last
    _fill(9, "22222", Side.BUY, 1, "6001.75", second=7),
    _fill(10, "11111", Side.SELL, 3, "6004.25", day=DAY2),
    _fill(11, "11111", None, 1, "6003.00", day=DAY2),
    _fill(12, "11111", Side.BUY, 1, "6001.00", day=DAY2),
    _fill(13, "11111", Side.BUY, 1, "6002.00", firm="F3", day=DAY2),  # A's: any firm
    _fill(14, "11111", Side.BUY, 1, "6002.00", day=DAY2, leg_index=0),
    _fill(15, "33333", Side.BUY, 5, "6090.00", day=DAY2),
    *(_fill(n, "22222", Side.BUY if n % 2 else Side.SELL, 1, f"600{n % 10}.25", day=DAY2,
            market=CL if n % 3 else ES) for n in range(16, 40)),
    *(_fill(n, "33333", Side.SELL, 1, "6100.00", day=DAY2) for n in range(40, 50)),
]
BUSTED = {FILLS[4].exchange_trade_id}
# DAY1 is sealed at both firms: SIMFIRM verified, T4's last snapshot of
# 11111 there holding one fill more than the store; F2 unverified.
RECONCILED_AT = datetime(2026, 11, 19, 21, 55, tzinfo=UTC)
SNAPSHOT_11111 = 4


@dataclass
class Api:
    """The running API and what its store holds."""

    url: str
    config: Path
    db: Path
    tokens: dict[str, str]  # "A", "B", "ops" -> bearer token
    process: Proc

    def get(self, path: str, token: str | None = None, *, accept: str | None = None,
            **params: Any) -> httpx.Response:
        headers = {} if token is None else {"Authorization": f"Bearer {self.tokens[token]}"}
        if accept is not None:
            headers["Accept"] = accept
        return httpx.get(self.url + path, params=params, headers=headers, timeout=30)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(self.config, *args)


def issue_token(config: Path, *args: str) -> str:
    result = run_cli(config, "users", "token", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()[-1]


def make_store(workdir: Path, store_url: str | None = None) -> tuple[Path, Path]:
    """The store and a configuration naming it (and the ES point value): the
    store at ``store_url``, by default the SQLite file ``fills.db`` in
    ``workdir``, whose path comes first (absent with another ``store_url``)."""
    db = workdir / "fills.db"
    url = store_url or f"sqlite:///{db}"
    config = write_config(workdir / "fillcapture.toml", {
        "store": {"url": url},
        "api": {"listen": f"127.0.0.1:{free_port()}"},
        "log": {"format": "json"},
    })
    with config.open("a") as handle:
        handle.write(f'[api.point_values]\n"{ES}" = "{ES_POINT_VALUE}"\n')

    async def fill() -> None:
        async with open_store(url) as store:
            await store.add_user("A", ["11111", "22222"])
            await store.add_user("B", ["33333"])
            await store.add_user("B", ["11111"], firm="F2", force=True)
            await store.insert_fills(FILLS)
            busted = [f for f in FILLS if f.exchange_trade_id in BUSTED]
            await store.insert_busts([Bust(f, f.exchange_time + timedelta(minutes=5))
                                      for f in busted])
            await store.save_snapshots([SnapshotReceived(
                "SIMFIRM", "SIMFIRM-11111", "11111", ((DAY1, SNAPSHOT_11111),), 0, True)])
            await store.seal_day("SIMFIRM", DAY1, RECONCILED_AT, Verification(True, "resubscribe"))
            await store.seal_day("F2", DAY1, None, Verification(False, reason="not connected"))

    asyncio.run(fill())
    return db, config


def start_api(workdir: Path, config: Path, *flags: str) -> tuple[Proc, str]:
    process = Proc(["--config", str(config), "serve", *flags], workdir, "api")
    url = process.wait_for(r"(?<=listening on )http://\S+")
    return process, url


def serving(workdir: Path, store_url: str | None = None) -> Iterator[Api]:
    """The store filled, tokens issued for A, B and an operator, and the API
    serving it, stopped after."""
    db, config = make_store(workdir, store_url)
    tokens = {"A": issue_token(config, "A"), "B": issue_token(config, "B"),
              "ops": issue_token(config, "ops", "--admin")}
    process, url = start_api(workdir, config)
    try:
        yield Api(url, config, db, tokens, process)
    finally:
        process.stop()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    yield from serving(tmp_path_factory.mktemp("api"))


@pytest.fixture(scope="module", params=ENGINES)
def engine_api(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The API over a store of each engine in turn (the test id names it): a
    SQLite file, or a database of its own in the session's PostgreSQL cluster
    (which ``fillcapture serve`` opens read-only)."""
    workdir = tmp_path_factory.mktemp(f"api-{request.param}")
    if request.param == "sqlite":
        yield from serving(workdir)
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    store_url = cluster.database()
    try:
        yield from serving(workdir, store_url)
    finally:
        cluster.drop(store_url)


def fill_id(fill: Fill) -> str:
    text = f"{fill.firm}/{fill.order_id}/{fill.trade_key}"
    return text if fill.leg_index is None else f"{text}/{fill.leg_index}"


def expected(user: str, *, include_busted: bool = False, **where: Any) -> list[str]:
    """The fill ids ``user`` owns, in (exchange_time, row) order, of those whose
    attributes equal ``where`` (e.g. ``account="11111"``)."""
    rows = sorted(enumerate(FILLS), key=lambda item: (item[1].exchange_time, item[0]))
    return [fill_id(fill) for _, fill in rows
            if owner(fill.firm, fill.account) == user
            and (include_busted or fill.exchange_trade_id not in BUSTED)
            and all(getattr(fill, key) == value for key, value in where.items())]
