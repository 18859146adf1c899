"""Fees, gross and net: hand-computed cases, and random trading against a
from-scratch computation.

The stores are real SQLite files; the schedules are given to the summary
directly (how the store keeps them is tested with the store).
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from fillcapture.fees import FeeBook, FeeError, FeeSchedule
from fillcapture.model import Bust, Fill, Market, Side
from fillcapture.money import (
    MoneyRow,
    Owners,
    money_fields,
    summarize_money,
    totals,
    unknown_fees,
)
from fillcapture.positions import record_positions
from fillcapture.reports import DailySummary
from fillcapture.store import FillQuery, Owner
from tests.conftest import store_at
from tests.store.factories import make_fill
from tests.test_positions import ACCOUNTS, DAYS, _fills

ES, CL, FDAX = "XCME_Eq ES (Z26)", "XNYM_En CL (F27)", "XEUR FDAX (Z26)"
MARKET_TERMS = [Market(ES, "CME_Eq", "ES", Decimal(50)), Market(CL, "NYMEX", "CL", Decimal(1000)),
                Market(FDAX, "EUREX", "FDAX", Decimal(25))]
CURRENCIES = {"CME_Eq": "USD", "NYMEX": "USD", "EUREX": "EUR"}
DAY = date(2026, 11, 3)
OPEN = date(1970, 1, 1)


def fee(component: str, amount: str, **scope: object) -> FeeSchedule:
    when = scope.pop("effective_from", OPEN)
    currency = scope.pop("currency", "USD")
    return FeeSchedule(component, Decimal(amount), str(currency), when,  # type: ignore[arg-type]
                       **scope)  # type: ignore[arg-type]


def test_the_most_specific_schedule_wins_for_each_component() -> None:
    book = FeeBook([
        fee("commission", "1.00"),
        fee("commission", "0.90", exchange="CME_Eq"),
        fee("commission", "0.80", exchange="CME_Eq", contract="ES"),
        fee("commission", "0.50", account="11111"),
        fee("commission", "0.25", user="A"),
        fee("commission", "0.20", user="A", side=Side.SELL),
        fee("nfa", "0.02"),
    ])

    def commission(exchange: str, contract: str, account: str, user: str | None,
                   side: Side = Side.BUY) -> str:
        rates = book.rates(DAY, exchange, contract, account, user, side)
        assert rates is not None
        assert [r.component for r in rates] == ["commission", "nfa"]
        assert rates[1].amount == Decimal("0.02")  # the one schedule of its component
        return str(rates[0].amount)

    assert commission("NYMEX", "CL", "99999", None) == "1.00"
    assert commission("CME_Eq", "NQ", "99999", None) == "0.90"
    assert commission("CME_Eq", "ES", "99999", None) == "0.80"
    assert commission("CME_Eq", "ES", "11111", None) == "0.50"  # account beats contract
    assert commission("CME_Eq", "ES", "11111", "A") == "0.25"  # user beats account
    assert commission("CME_Eq", "ES", "22222", "A", Side.SELL) == "0.20"


def test_a_rate_is_in_force_from_its_effective_date_on() -> None:
    june = date(2026, 6, 1)
    book = FeeBook([fee("commission", "1.00", exchange="CME_Eq"),
                    fee("commission", "1.50", exchange="CME_Eq", effective_from=june),
                    fee("commission", "0.40", user="A", effective_from=date(2026, 9, 1))])

    def rate(day: date, user: str | None = None) -> Decimal:
        rates = book.rates(day, "CME_Eq", "ES", "11111", user, Side.BUY)
        assert rates is not None
        return rates[0].amount

    assert rate(june - timedelta(days=1)) == Decimal("1.00")
    assert rate(june) == Decimal("1.50")
    assert rate(date(2026, 8, 31), "A") == Decimal("1.50")  # A's own not in force yet
    assert rate(date(2026, 9, 1), "A") == Decimal("0.40")
    # Before every schedule: no rate at all, so the fees are unknown, not zero.
    assert FeeBook([fee("commission", "1", effective_from=june)]).rates(
        DAY.replace(year=2025), "CME_Eq", "ES", "1", None, Side.BUY) is None


@pytest.mark.parametrize(("scope", "message"), [
    ({"component": "Commission"}, "lower-case"),
    ({"currency": "usd"}, "three capital letters"),
    ({"amount": Decimal("-0.01")}, "at least 0"),
    ({"amount": Decimal("NaN")}, "at least 0"),
    ({"contract": "ES"}, "name its exchange too"),
    ({"account": " "}, "empty"),
])
def test_a_schedule_that_cannot_be_kept_is_refused_in_one_line(scope: dict[str, object],
                                                                message: str) -> None:
    values: dict[str, object] = {"component": "commission", "amount": Decimal(1),
                                 "currency": "USD", "effective_from": OPEN}
    values.update(scope)
    with pytest.raises(FeeError, match=message) as caught:
        FeeSchedule(**values)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)


async def _money(tmp_path: Path, fills: list[Fill], book: FeeBook,
                 query: FillQuery | None = None, *, since: date | None = None,
                 busts: int = 0) -> list[MoneyRow]:
    async with store_at(tmp_path / "fills.db") as store:
        await store.seed_registry([Owner("A", None, "11111"), Owner("B", None, "22222")])
        await store.save_markets(MARKET_TERMS)
        await store.insert_fills(fills)  # type: ignore[arg-type]
        await store.insert_busts([Bust(fill, fill.exchange_time)  # type: ignore[arg-type]
                                  for fill in fills[:busts]])
        return await summarize_money(
            store, query or FillQuery(include_busted=False), since=since,
            point_values={m.market_id: m.point_value for m in MARKET_TERMS},
            currencies=CURRENCIES, book=book)


async def test_a_day_with_several_components_nets_its_fees(tmp_path: Path) -> None:
    fills = [make_fill(1, side=Side.BUY, volume=2, price_text="6000.00", trade_date=DAY),
             make_fill(2, side=Side.SELL, volume=2, price_text="6001.25", trade_date=DAY),
             make_fill(3, side=Side.SELL, volume=3, price_text="6002.00", trade_date=DAY)]
    book = FeeBook([fee("commission", "1.25"), fee("exchange", "1.18", exchange="CME_Eq"),
                    fee("nfa", "0.02"), fee("clearing", "0.10", side=Side.SELL)])
    (row,) = await _money(tmp_path, fills, book)
    # 2 bought, 5 sold; 2 closed at +1.25 points of $50: gross 125.00.
    assert row.gross == Decimal("125.00")
    assert {f.component: f.amount for f in row.fees} == {
        "commission": Decimal("8.75"), "exchange": Decimal("8.26"), "nfa": Decimal("0.14"),
        "clearing": Decimal("0.50")}
    assert row.fees_total == Decimal("17.65")
    assert row.net == Decimal("107.35")
    assert row.currency == "USD"
    assert row.fees_unknown == 0
    assert money_fields(row, ["clearing", "commission", "exchange", "nfa", "other"]) == {
        "currency": "USD", "gross": "125.00", "fees": "17.65", "net": "107.35",
        "fees_unknown": 0, "fee_clearing": "0.50", "fee_commission": "8.75",
        "fee_exchange": "8.26", "fee_nfa": "0.14", "fee_other": None}


async def test_a_fill_no_schedule_matches_is_counted_and_named_not_free(
    tmp_path: Path,
) -> None:
    fills = [make_fill(1, side=Side.BUY, price_text="6000.00", trade_date=DAY),
             make_fill(2, side=Side.SELL, price_text="6001.00", trade_date=DAY),
             make_fill(3, side=Side.BUY, market_id=CL, price_text="70.00", trade_date=DAY),
             make_fill(4, side=Side.SELL, market_id=CL, price_text="70.10", trade_date=DAY)]
    rows = await _money(tmp_path, fills, FeeBook([fee("commission", "1.00",
                                                      exchange="CME_Eq")]))
    by_market = {row.row.market_id: row for row in rows}
    es, cl = by_market[ES], by_market[CL]
    assert es.net == Decimal("48.00")
    assert es.fees_unknown == 0
    assert cl.gross == Decimal("100.00")
    assert cl.fees == ()
    assert cl.fees_unknown == 2
    assert cl.net is None
    assert unknown_fees(rows) == [("SIMFIRM", "11111", CL, 2)]
    found = totals(rows)
    usd = found.by_currency["USD"]
    assert usd.gross == Decimal("150.00")
    assert usd.net == Decimal("48.00")
    assert usd.rows_without_net == 1
    assert found.fees_unknown == 2


async def test_busted_fills_pay_no_fees(tmp_path: Path) -> None:
    fills = [make_fill(n, side=Side.BUY, volume=1, price_text="6000.00", trade_date=DAY)
             for n in range(4)]
    rows = await _money(tmp_path, fills, FeeBook([fee("commission", "2.00")]), busts=1)
    (row,) = rows
    assert row.row.buys == 3
    assert row.fees_total == Decimal("6.00")
    assert row.net == Decimal("-6.00")


async def test_spread_legs_pay_their_own_contracts_fees(tmp_path: Path) -> None:
    """A calendar spread's legs are placed on their own contracts; each pays
    that contract's rate. A leg whose spread is not defined yet has no
    contract: its fees are unknown."""
    spread = "XCME_Eq ES (Z26-H27)"
    h27 = "XCME_Eq ES (H27)"
    terms = [*MARKET_TERMS, Market(h27, "CME_Eq", "ES", Decimal(50)),
             Market(spread, "CME_Eq", "ES", Decimal(50))]
    fills = [make_fill(1, order_id="sp-1", leg_index=0, side=Side.BUY, market_id=ES,
                       price_text="6000.00", trade_date=DAY, spread_market_id=spread),
             make_fill(1, order_id="sp-1", leg_index=1, side=Side.SELL, market_id=h27,
                       price_text="6050.00", trade_date=DAY, spread_market_id=spread),
             make_fill(2, order_id="sp-2", leg_index=0, side=None, market_id=spread,
                       kind=1, leg_sign=None, order_side=None,
                       price_text="-50", trade_date=DAY, spread_market_id=spread)]
    book = FeeBook([fee("commission", "0.70", exchange="CME_Eq", contract="ES"),
                    fee("commission", "0.90", exchange="CME_Eq")])
    async with store_at(tmp_path / "fills.db") as store:
        await store.seed_registry([Owner("A", None, "11111")])
        await store.save_markets(terms)
        await store.insert_fills(fills)
        rows = await summarize_money(store, FillQuery(include_busted=False), since=None,
                                     point_values={}, currencies=CURRENCIES, book=book)
    by_market = {row.row.market_id: row for row in rows}
    assert by_market[ES].row.buys == 1
    assert by_market[h27].row.sells == 1
    assert by_market[ES].fees_total == by_market[h27].fees_total == Decimal("0.70")
    assert by_market[spread].row.spread_legs == 1
    assert by_market[spread].fees_unknown == 1
    assert by_market[spread].net is None


async def test_two_currencies_are_never_summed(tmp_path: Path) -> None:
    fills = [make_fill(1, side=Side.BUY, price_text="6000.00", trade_date=DAY),
             make_fill(2, side=Side.SELL, price_text="6002.00", trade_date=DAY),
             make_fill(3, side=Side.BUY, market_id=FDAX, price_text="19000.0", trade_date=DAY),
             make_fill(4, side=Side.SELL, market_id=FDAX, price_text="19010.5", trade_date=DAY),
             make_fill(5, side=Side.BUY, market_id="XCBT ZN (Z26)", trade_date=DAY)]
    book = FeeBook([fee("commission", "1.00", exchange="CME_Eq"),
                    fee("commission", "2.00", exchange="EUREX", currency="EUR"),
                    fee("commission", "3.00")])
    rows = await _money(tmp_path, fills, book)
    found = totals(rows)
    assert sorted(found.by_currency) == ["EUR", "USD"]
    assert found.by_currency["USD"].gross == Decimal("100.00")
    assert found.by_currency["USD"].net == Decimal("98.00")
    assert found.by_currency["EUR"].gross == Decimal("262.5")
    assert found.by_currency["EUR"].net == Decimal("258.5")
    # A market of unknown currency (never described, none configured) joins no
    # total; its commission, charged in USD, is a USD fee.
    zn = next(row for row in rows if row.row.market_id == "XCBT ZN (Z26)")
    assert zn.currency is None
    assert zn.gross is None
    assert zn.net is None
    assert found.unknown_currency_rows == 1
    assert found.by_currency["USD"].fees == {"commission": Decimal("5.00")}
    assert found.by_currency["EUR"].fees == {"commission": Decimal("4.00")}


async def test_a_fee_in_another_currency_than_the_market_leaves_no_net(
    tmp_path: Path,
) -> None:
    fills = [make_fill(1, side=Side.BUY, market_id=FDAX, price_text="19000", trade_date=DAY)]
    (row,) = await _money(tmp_path, fills, FeeBook([fee("commission", "1.10")]))
    assert row.currency == "EUR"
    assert row.fees_total is None
    assert row.net is None
    assert money_fields(row, ["commission"])["fee_commission"] == "1.10 USD"


# -- random trading against a from-scratch computation -------------------------


def _schedules(seed: int) -> list[FeeSchedule]:
    rng = random.Random(seed)
    found = [fee("commission", "1.00"), fee("nfa", "0.02")]
    for _ in range(12):
        scope: dict[str, object] = {}
        if rng.random() < 0.5:
            scope["exchange"] = rng.choice(["CME_Eq", "NYMEX"])
            if rng.random() < 0.5:
                scope["contract"] = "ES" if scope["exchange"] == "CME_Eq" else "CL"
        if rng.random() < 0.3:
            scope["account"] = rng.choice(ACCOUNTS)
        if rng.random() < 0.2:
            scope["user"] = rng.choice(["A", "B"])
        if rng.random() < 0.3:
            scope["side"] = rng.choice([Side.BUY, Side.SELL])
        when = rng.choice([OPEN, *DAYS])
        found.append(fee(rng.choice(["commission", "exchange", "clearing"]),
                         f"{rng.randint(0, 300) / 100:.2f}", effective_from=when, **scope))
    unique = {s.key: s for s in found}
    return list(unique.values())


def _scratch_fees(schedules: list[FeeSchedule], markets: dict[str, Market], owner: Owners,
                  fills: list[Fill], since: date | None,
                  ) -> dict[tuple[date, str, str, str], Decimal | None]:
    """Each row's fees summed fill by fill, each fill's schedules found by
    brute force; ``None`` for a row with a fill whose fees are unknown."""
    def weight(s: FeeSchedule) -> int:
        return (16 * (s.user is not None) + 8 * (s.account is not None)
                + 4 * (s.contract is not None) + 2 * (s.exchange is not None)
                + (s.side is not None))

    found: dict[tuple[date, str, str, str], Decimal | None] = {}
    for fill in fills:
        if getattr(fill, "kind", 0) == 2:
            continue
        key = (fill.trade_date, fill.firm, fill.account, fill.market_id)  # type: ignore[attr-defined]
        if since is not None and fill.trade_date < since:  # type: ignore[attr-defined]
            continue
        market = markets[fill.market_id]  # type: ignore[attr-defined]
        user = owner(fill.firm, fill.account)  # type: ignore[attr-defined]
        best: dict[str, FeeSchedule] = {}
        for s in schedules:
            if s.effective_from > fill.trade_date:  # type: ignore[attr-defined]
                continue
            if not s.matches(market.exchange_id, market.contract_id, fill.account,  # type: ignore[attr-defined]
                             user, fill.side or Side.BUY):  # type: ignore[attr-defined]
                continue
            held = best.get(s.component)
            if held is None or (weight(s), s.effective_from) > (weight(held), held.effective_from):
                best[s.component] = s
        total = found.get(key, Decimal(0))
        if fill.side is None or not best:  # type: ignore[attr-defined]
            found[key] = None
        elif total is not None:
            found[key] = total + sum((s.amount * fill.volume for s in best.values()),  # type: ignore[attr-defined]
                                     Decimal(0))
        else:
            found[key] = None
    return found


@pytest.mark.parametrize("seed", range(4))
async def test_fees_and_net_equal_a_computation_from_scratch(tmp_path: Path, seed: int) -> None:
    fills = _fills(seed, DAYS)
    schedules = _schedules(seed)
    markets = {m.market_id: m for m in MARKET_TERMS}
    values = {m.market_id: m.point_value for m in MARKET_TERMS}
    registry = [Owner("A", None, "11111"), Owner("B", None, "22222"), Owner("B", None, "33333")]
    owner = Owners(registry)
    async with store_at(tmp_path / "fills.db") as store:
        await store.seed_registry(registry)
        await store.save_markets(MARKET_TERMS)
        await store.insert_fills(fills)
        for day in DAYS[:-3]:  # the nightly seals record rows; fees apply on reading
            for firm in ("SIMFIRM", "OTHERFIRM"):
                assert await record_positions(store, firm, day) is not None
        compared = 0
        # A changed schedule for past dates (fees set --from) needs nothing
        # recomputed: the next read uses it.
        for book_schedules in (schedules, [*schedules, fee("commission", "0.33", user="A",
                                                          effective_from=DAYS[2])]):
            book = FeeBook(book_schedules)
            for since in (None, DAYS[3], DAYS[-2]):
                query = FillQuery(include_busted=False)
                rows = await summarize_money(store, query, since=since, point_values=values,
                                             currencies=CURRENCIES, book=book)
                expected = _scratch_fees(book_schedules, markets, owner, fills, since)
                reference = DailySummary(since=since, point_values=values)
                async for fill in store.fills(query):
                    reference.add(fill)
                gross = {(r.trade_date, r.firm, r.account, r.market_id): r.pnl_currency
                         for r in reference.rows()}
                assert {(r.row.trade_date, r.row.firm, r.row.account, r.row.market_id)
                        for r in rows} == set(expected)
                for row in rows:
                    key = (row.row.trade_date, row.row.firm, row.row.account, row.row.market_id)
                    assert row.fees_total == expected[key] or (
                        expected[key] is None and row.fees_unknown), key
                    if expected[key] is None:
                        assert row.net is None
                    else:
                        assert row.gross == gross[key]
                        assert row.net == gross[key] - expected[key], key  # type: ignore[operator]
                    compared += 1
        assert compared > 200
