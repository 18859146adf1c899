"""The monthly statement: rendered pure, written by ``fillcapture statement``,
served by ``GET /v1/statement``, and loaded offline in a real headless Chromium.

The store: user A trades ES (CME_Eq, USD, point value recorded as 50) on
account 11111 and FDAX (EUREX, EUR, recorded as 1, ``[api] point_values``
25) on 22222 over November 2026, with a position opened in October and a
fill in December; user B trades ES on 33333. Fees: a USD commission that
changes mid-month, a USD exchange fee, and a EUR commission. The expected
totals are those of ``fillcapture report daily --format json`` (summed per
currency), checked against the volumes times the rates.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from fillcapture.fees import FeeBook, FeeSchedule
from fillcapture.model import Market, Side
from fillcapture.money import FeeAmount, MoneyRow, priced
from fillcapture.statement import money_text, render
from fillcapture.store import DailyRow, open_store
from tests.api.conftest import issue_token, start_api
from tests.browser import Chromium
from tests.conftest import ENGINES, Proc, free_port, run_cli
from tests.pgcluster import PostgresCluster
from tests.store.factories import make_fill

ES = "XCME_Eq ES (Z26)"
FDAX = "XEUREX FDAX (Z26)"
CURRENCY = {ES: "USD", FDAX: "EUR"}
MONTH = date(2026, 11, 1)
USD_COMMISSION = [(date(2026, 1, 1), Decimal("1.25")), (date(2026, 11, 16), Decimal("1.50"))]
USD_EXCHANGE = Decimal("0.35")
EUR_COMMISSION = Decimal("0.90")
SCHEDULES = [
    FeeSchedule("commission", USD_COMMISSION[0][1], "USD", USD_COMMISSION[0][0],
                exchange="CME_Eq"),
    FeeSchedule("commission", USD_COMMISSION[1][1], "USD", USD_COMMISSION[1][0],
                exchange="CME_Eq"),
    FeeSchedule("exchange", USD_EXCHANGE, "USD", date(2026, 1, 1), exchange="CME_Eq"),
    FeeSchedule("commission", EUR_COMMISSION, "EUR", date(2026, 1, 1), exchange="EUREX"),
]


def weekdays(month: date) -> list[date]:
    days = [month + timedelta(days=n) for n in range(31)]
    return [d for d in days if d.month == month.month and d.weekday() < 5]


TRADE_DAYS_A = [d for i, d in enumerate(weekdays(MONTH)) if i % 4 != 3]  # some days idle


def _fills() -> list[Any]:
    fills = []
    n = 0

    def add(account: str, market: str, side: Side, volume: int, price: str, day: date) -> None:
        nonlocal n
        n += 1
        fills.append(make_fill(n, account=account, account_id=f"SIMFIRM-{account}",
                               market_id=market, side=side, volume=volume, price_text=price,
                               trade_date=day, exchange_time=datetime.combine(
                                   day, datetime.min.time(), UTC) + timedelta(hours=14,
                                                                              seconds=n)))

    add("11111", ES, Side.BUY, 1, "6000.00", date(2026, 10, 30))  # closed on November 2
    for i, day in enumerate(TRADE_DAYS_A):
        add("11111", ES, Side.BUY, 2, f"60{10 + i}.25", day)
        add("11111", ES, Side.SELL, 2 + (i == 0), f"60{10 + i + (i % 3) - 1}.50", day)
        if i % 2 == 0:
            add("22222", FDAX, Side.SELL, 1, f"180{20 + i}.5", day)
            add("22222", FDAX, Side.BUY, 1, f"180{19 + i + i % 4}.0", day)
        add("33333", ES, Side.BUY, 1, "6500.00", day)
        add("33333", ES, Side.SELL, 1, "6501.00", day)
    add("11111", ES, Side.BUY, 1, "6100.00", date(2026, 12, 1))  # the next month
    return fills


@dataclass
class Setup:
    workdir: Path
    config: Path


@pytest.fixture(scope="module", params=ENGINES)
def setup(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Setup]:
    """A store of each engine in turn (the test id names it) holding the month."""
    workdir = tmp_path_factory.mktemp("statement")
    cluster: PostgresCluster | None = None
    if request.param == "sqlite":
        url = f"sqlite:///{workdir / 'fills.db'}"
    else:
        cluster = request.getfixturevalue("postgres_cluster")
        url = cluster.database()
    config = workdir / "fillcapture.toml"
    config.write_text(
        f'[store]\nurl = "{url}"\n'
        f'[api]\nlisten = "127.0.0.1:{free_port()}"\n'
        f'[api.point_values]\n"{FDAX}" = "25"\n'
        '[money.currencies]\n"CME_Eq" = "USD"\n"EUREX FDAX" = "EUR"\n'
        '[log]\nformat = "json"\n')

    async def fill() -> None:
        async with open_store(url) as store:
            await store.add_user("A", ["11111", "22222"])
            await store.add_user("B", ["33333"])
            await store.save_markets([Market(ES, "CME_Eq", "ES", Decimal(50)),
                                      Market(FDAX, "EUREX", "FDAX", Decimal(1))])
            await store.insert_fills(_fills())
            for schedule in SCHEDULES:
                await store.set_fee_schedule(schedule)

    asyncio.run(fill())
    yield Setup(workdir, config)
    if cluster is not None:
        cluster.drop(url)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Chromium]:
    async with Chromium(tmp_path_factory.mktemp("chromium")) as running:
        yield running


def report_rows(config: Path, user: str) -> list[dict[str, Any]]:
    """``fillcapture report daily --format json`` of the month."""
    report = run_cli(config, "report", "daily", "--user", user, "--from", "2026-11-01",
                     "--to", "2026-11-30", "--format", "json")
    assert report.returncode == 0, report.stderr
    rows: list[dict[str, Any]] = json.loads(report.stdout)
    return rows


def add(found: dict[str, dict[str, Decimal]], currency: str, key: str, amount: Decimal) -> None:
    entry = found.setdefault(currency, {})
    entry[key] = entry.get(key, Decimal(0)) + amount


def expected_totals(config: Path, user: str) -> dict[str, dict[str, Decimal]]:
    """Per currency: gross, each fee component, fees and net, summed from the
    rows of ``fillcapture report daily`` for the month; checked against the
    same totals computed here from the report's volumes and the rates."""
    rows = report_rows(config, user)
    found: dict[str, dict[str, Decimal]] = {}
    computed: dict[str, dict[str, Decimal]] = {}
    for row in rows:
        currency = row["currency"]
        assert currency == CURRENCY[row["market_id"]]
        assert row["fees_unknown"] == 0
        for key in ("gross", "fees", "net"):
            add(found, currency, key, Decimal(row[key]))
        for name in ("commission", "exchange"):
            if row.get(f"fee_{name}") is not None:
                add(found, currency, f"fee:{name}", Decimal(row[f"fee_{name}"]))
        day = date.fromisoformat(row["trade_date"])
        volume = row["buy_volume"] + row["sell_volume"]
        if currency == "USD":
            rate = max(r for r in USD_COMMISSION if r[0] <= day)[1]
            fees = {"commission": rate * volume, "exchange": USD_EXCHANGE * volume}
        else:
            fees = {"commission": EUR_COMMISSION * volume}
        gross = Decimal(row["pnl_currency"])
        add(computed, currency, "gross", gross)
        for component, amount in fees.items():
            add(computed, currency, f"fee:{component}", amount)
        add(computed, currency, "fees", sum(fees.values(), Decimal(0)))
        add(computed, currency, "net", gross - sum(fees.values(), Decimal(0)))
    assert found == computed
    return found


_READ_TOTALS = """[...document.querySelectorAll('[data-total]')].map(e => [
    e.dataset.currency,
    e.dataset.total + (e.dataset.component ? ':' + e.dataset.component : ''),
    e.textContent])"""
_READ_DAYS = """[...document.querySelectorAll('td[data-day]')].map(e => [
    e.dataset.day, e.dataset.traded === 'true',
    [...e.querySelectorAll('[data-net]')].map(s => [s.dataset.currency, s.dataset.net])])"""

# Under print media: a red net keeps its background, no table or chart is split.
_READ_PRINT = """(() => {
    const style = e => getComputedStyle(document.querySelector(e));
    return {adjust: style('td.neg').printColorAdjust,
            background: style('td.neg').backgroundColor,
            tables: style('table.calendar').breakInside,
            figures: style('figure').breakInside,
            rows: style('table.days tr').breakInside};
})()"""


def dom_totals(cells: list[list[str]]) -> dict[str, dict[str, Decimal]]:
    found: dict[str, dict[str, Decimal]] = {}
    for currency, key, text in cells:
        found.setdefault(currency, {})[key] = Decimal(text)
    return found


# --- the page itself, rendered pure --------------------------------------------------


def _row(day: int, account: str, market: str, gross: str | None, currency: str | None,
         fee: str = "1.00", fees_unknown: int = 0) -> MoneyRow:
    daily = DailyRow(date(2026, 11, day), "F", account, market, 1, 2, Decimal(1), 1, 2,
                     Decimal(2), Decimal(1), None if gross is None else Decimal(gross), 0, 0, 0)
    fees = (FeeAmount("commission", Decimal(fee), currency or "USD"),)
    net = (None if gross is None or currency is None or fees_unknown
           else Decimal(gross) - Decimal(fee))
    return MoneyRow(daily, "u", currency, daily.pnl_currency, fees, fees_unknown, net)


def test_text_from_data_is_escaped_everywhere() -> None:
    hostile = '<img src=x onerror="alert(1)">&"\''
    page = render(hostile, MONTH, [_row(3, hostile, hostile + "M", "10", "USD"),
                                   _row(4, hostile, "M", "5", None)],
                  datetime(2026, 12, 1, tzinfo=UTC))
    assert "<img" not in page
    assert 'onerror="' not in page
    assert page.count("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&quot;&#x27;") >= 5
    assert "<script" not in page
    csp = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page)
    assert csp == ["default-src 'none'; style-src 'unsafe-inline'; img-src data:"]
    assert not re.search(r"(src|href)=\"?(https?:|//)", page)


def test_two_currencies_are_never_summed_and_an_unknown_one_is_named() -> None:
    rows = [_row(3, "1", "ES", "100.5", "USD"), _row(3, "2", "FDAX", "-7.125", "EUR", "0.5"),
            _row(4, "1", "ES", "20", "USD"), _row(5, "3", "ZZ M", "999", None, "0")]
    page = render("u", MONTH, rows, datetime(2026, 12, 1, tzinfo=UTC))
    cells = dict(re.findall(
        r'data-total="net" data-currency="([A-Z]{3})"[^>]*>([^<]*)<', page))
    assert cells == {"USD": "118.50", "EUR": "-7.625"}
    gross = dict(re.findall(r'data-total="gross" data-currency="([A-Z]{3})"[^>]*>([^<]*)<',
                            page))
    assert gross == {"USD": "120.50", "EUR": "-7.125"}  # 999 of unknown currency in neither
    assert "1119" not in page
    assert "113.375" not in page
    (missing,) = re.findall(r'<li data-missing="currency">([^<]*)', page)
    assert missing.startswith("1 row(s)")
    assert "3 (ZZ M)" in page.split('data-missing="currency">')[1].split("</li>")[0]
    assert re.search(r'data-day="2026-11-05" data-traded="true">.*?data-net="\?" '
                     r'data-currency="unknown currency"', page)


def test_unknown_fees_and_point_values_are_named_and_net_is_unknown() -> None:
    rows = [_row(3, "1", "ES", "10", "USD", fees_unknown=2), _row(4, "9", "NQ", None, "USD")]
    page = render("u", MONTH, rows, datetime(2026, 12, 1, tzinfo=UTC))
    assert re.search(r'data-missing="fees">2 fill\(s\) of unknown fees[^<]*1 \(ES\)', page)
    assert re.search(r'data-missing="point_value">1 row\(s\)[^<]*9 \(NQ\)', page)
    assert re.search(r'data-day="2026-11-03" data-traded="true">.*?data-net="\?"', page)
    assert re.search(r'data-total="net" data-currency="USD"[^>]*>0.00<', page)


def test_amounts_keep_their_decimals_with_two_at_least() -> None:
    assert [money_text(Decimal(t)) for t in ("12.5", "-3", "0.125", "1E+2", "-0.00",
                                             "123456789012345678901234567890.123456789")] == [
        "12.50", "-3.00", "0.125", "100.00", "0.00", "123456789012345678901234567890.123456789"]


def test_a_month_of_ten_accounts_renders_quickly() -> None:
    book = FeeBook(SCHEDULES)
    markets = {ES: Market(ES, "CME_Eq", "ES", Decimal(50))}
    daily = [DailyRow(day, "F", f"A{n}", ES, 3, 7, Decimal("6000.25"), 2, 7,
                      Decimal("6001.5"), Decimal("8.75"), Decimal("437.50"), 0, 0, 0)
             for n in range(10) for day in weekdays(MONTH)]
    rows = priced(daily, book, markets, {"CME_Eq": "USD"})
    started = time.perf_counter()
    page = render("u", MONTH, rows, datetime(2026, 12, 1, tzinfo=UTC))
    elapsed = time.perf_counter() - started
    assert page.count("<figure") == 10
    assert page.count('<tr data-row=') == len(rows) == 210
    assert elapsed < 0.5, elapsed


# --- fillcapture statement, loaded offline in Chromium --------------------------------


def test_bad_month_and_unknown_user_are_one_line_and_exit_2(setup: Setup) -> None:
    out = setup.workdir / "bad.html"
    for month in ("2026-13", "2026-1", "november", "0000-01"):
        result = run_cli(setup.config, "statement", "--user", "A", "--month", month,
                         "--out", str(out))
        assert result.returncode == 2, result
        assert result.stderr.count("\n") == 1, result.stderr
        assert "--month" in result.stderr
    result = run_cli(setup.config, "statement", "--user", "nobody", "--month", "2026-11",
                     "--out", str(out))
    assert (result.returncode, result.stderr.count("\n")) == (2, 1), result
    assert "nobody" in result.stderr
    assert not out.exists()


def test_the_file_is_private_and_never_written_through_a_link(setup: Setup) -> None:
    target = setup.workdir / "elsewhere.html"
    target.write_text("kept")
    link = setup.workdir / "link.html"
    link.symlink_to(target)
    result = run_cli(setup.config, "statement", "--user", "A", "--month", "2026-11",
                     "--out", str(link))
    assert result.returncode == 2, result
    assert "symbolic link" in result.stderr
    assert target.read_text() == "kept"
    assert link.is_symlink()


@pytest.mark.asyncio(loop_scope="module")
async def test_the_statement_loads_offline_and_its_totals_are_the_reports(
        setup: Setup, browser: Chromium, tmp_path: Path) -> None:
    out = tmp_path / "statement.html"
    result = await asyncio.to_thread(run_cli, setup.config, "statement", "--user", "A",
                                     "--month", "2026-11", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    page = await browser.page()
    await page.load(out.as_uri())
    assert page.errors == []
    assert page.requests == [out.as_uri()]  # the page itself, nothing else
    want = await asyncio.to_thread(expected_totals, setup.config, "A")
    assert set(want) == {"USD", "EUR"}
    assert dom_totals(await page.evaluate(_READ_TOTALS)) == want
    days = await page.evaluate(_READ_DAYS)
    assert [d for d, *_ in days] == [(MONTH + timedelta(n)).isoformat() for n in range(30)]
    traded = {d: dict(nets) for d, flag, nets in days if flag}
    assert sorted(traded) == [d.isoformat() for d in TRADE_DAYS_A]
    assert all(set(nets) == ({"USD", "EUR"} if i % 2 == 0 else {"USD"})
               for i, nets in enumerate(traded.values()))
    assert await page.evaluate("document.querySelectorAll('figure svg polyline').length") == 2
    # Every axis label is drawn whole inside its chart (a wide amount such
    # as -809608.00 USD once lost its sign and first digits off the left edge).
    clipped = await page.evaluate(
        "[...document.querySelectorAll('figure svg text')].filter(t => {"
        " const box = t.getBBox(), svg = t.ownerSVGElement.viewBox.baseVal;"
        " return box.x < 0 || box.x + box.width > svg.width; }).map(t => t.textContent)")
    assert clipped == []
    assert "33333" not in await page.evaluate("document.body.textContent")
    shot = await page.screenshot(tmp_path / "statement.png")
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 20_000
    await page.media("print")
    printed = await page.evaluate(_READ_PRINT)
    assert printed == {"adjust": "exact", "background": "rgb(255, 235, 233)",
                       "tables": "avoid", "figures": "avoid", "rows": "avoid"}
    for paper, (width, height) in {"a4": (8.27, 11.69), "letter": (8.5, 11.0)}.items():
        pdf = (await page.pdf(tmp_path / f"{paper}.pdf", width, height)).read_bytes()
        assert pdf.startswith(b"%PDF-")
        assert len(pdf) > 10_000


# --- GET /v1/statement through a real fillcapture serve --------------------------------


@pytest.fixture(scope="module")
def served(setup: Setup) -> Iterator[tuple[str, dict[str, str]]]:
    tokens = {"A": issue_token(setup.config, "A"), "B": issue_token(setup.config, "B")}
    process: Proc
    process, url = start_api(setup.workdir, setup.config)
    try:
        yield url, tokens
    finally:
        process.stop()


@pytest.mark.asyncio(loop_scope="module")
async def test_the_api_serves_the_users_own_statement_only(
        setup: Setup, served: tuple[str, dict[str, str]], browser: Chromium,
        tmp_path: Path) -> None:
    url, tokens = served
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        mine = await client.get("/v1/statement", params={"month": "2026-11"},
                                headers={"Authorization": f"Bearer {tokens['A']}"})
        theirs = await client.get("/v1/statement", params={"month": "2026-11"},
                                  headers={"Authorization": f"Bearer {tokens['B']}"})
        wrong = await client.get("/v1/statement", params={"month": "2026-11"},
                                 headers={"Authorization": "Bearer " + "x" * 43})
        bad = await client.get("/v1/statement", params={"month": "2026-13"},
                               headers={"Authorization": f"Bearer {tokens['A']}"})
        other = await client.get("/v1/statement", params={"month": "2026-11", "user": "B"},
                                 headers={"Authorization": f"Bearer {tokens['A']}"})
    assert mine.status_code == 200, mine.text
    assert mine.headers["content-type"] == "text/html; charset=utf-8"
    assert mine.headers["content-security-policy"] == (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
    assert mine.headers["cache-control"] == "no-store"
    assert "11111" in mine.text
    assert "22222" in mine.text
    assert "33333" not in mine.text
    assert theirs.status_code == 200
    assert "33333" in theirs.text
    assert "11111" not in theirs.text
    assert "22222" not in theirs.text
    assert (wrong.status_code, bad.status_code, other.status_code) == (401, 400, 403)
    assert bad.json()["message"] == "month: must be a month, YYYY-MM"
    saved = tmp_path / "served.html"
    saved.write_text(mine.text)
    page = await browser.page()
    await page.load(saved.as_uri())
    assert page.errors == []
    assert page.requests == [saved.as_uri()]
    want = await asyncio.to_thread(expected_totals, setup.config, "A")
    assert dom_totals(await page.evaluate(_READ_TOTALS)) == want
