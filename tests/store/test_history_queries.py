"""The store's reads for the HTTP API: pages by (exchange_time, row), the new
filters, each registry entry's activity, API tokens and a user's accounts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fillcapture.model import Bust, Side
from fillcapture.store import FillPosition, FillQuery, Store, StoreError, TokenHolder
from tests.store.factories import T0, make_fill


async def page_ids(store: Store, query: FillQuery, limit: int) -> list[list[str]]:
    """Every page's trade ids, following ``next`` to the end."""
    pages: list[list[str]] = []
    after: FillPosition | None = None
    while True:
        page = await store.fill_page(query, after, limit)
        pages.append([fill.exchange_trade_id for fill in page.fills])
        if page.next is None:
            return pages
        after = page.next


async def test_pages_split_ties_by_row_and_match_the_stream(store: Store) -> None:
    # Five fills share one time: page boundaries fall between them.
    await store.insert_fills([make_fill(n, exchange_time=T0 + timedelta(seconds=n // 5))
                              for n in range(12)])
    streamed = [fill.exchange_trade_id async for fill in store.fills(FillQuery())]

    for limit in (1, 2, 3, 5, 12, 13):
        pages = await page_ids(store, FillQuery(), limit)
        assert [tid for page in pages for tid in page] == streamed
        assert all(len(page) == limit for page in pages[:-1])
    # A page that ends exactly on the last fill has no next.
    assert await page_ids(store, FillQuery(), 12) == [streamed]


async def test_a_page_goes_on_past_fills_stored_meanwhile(store: Store) -> None:
    await store.insert_fills([make_fill(n) for n in range(4)])
    first = await store.fill_page(FillQuery(), None, 2)
    await store.insert_fills([make_fill(n) for n in range(4, 6)])  # later times
    second = await store.fill_page(FillQuery(), first.next, 10)

    assert [f.exchange_trade_id for f in first.fills + second.fills] == [
        f"T{n}" for n in range(6)]
    assert second.next is None


async def test_market_side_and_half_open_time_filters(store: Store) -> None:
    await store.insert_fills([
        make_fill(0, market_id="ES", side=Side.BUY),
        make_fill(1, market_id="ES", side=Side.SELL),
        make_fill(2, market_id="CL", side=Side.BUY),
        make_fill(3, market_id="ES", side=None),
    ])

    async def ids(**criteria: object) -> list[str]:
        page = await store.fill_page(FillQuery(**criteria), None, 100)  # type: ignore[arg-type]
        return [fill.exchange_trade_id for fill in page.fills]

    assert await ids(market_id="ES") == ["T0", "T1", "T3"]
    assert await ids(side=Side.BUY) == ["T0", "T2"]
    assert await ids(side=Side.SELL, market_id="ES") == ["T1"]
    one_ms = timedelta(milliseconds=1)
    assert await ids(time_from=T0 + one_ms) == ["T1", "T2", "T3"]  # from: inclusive
    assert await ids(time_to=T0 + 2 * one_ms) == ["T0", "T1"]  # to: exclusive
    assert await ids(time_from=T0 + one_ms, time_to=T0 + one_ms) == []
    # The streaming query applies the same filters.
    streamed = [f.exchange_trade_id async for f in store.fills(FillQuery(market_id="CL"))]
    assert streamed == ["T2"]


async def test_pages_are_the_users_fills_only(store: Store) -> None:
    await store.add_user("A", ["11111"])
    await store.add_user("B", ["11111"], firm="F2", force=True)  # a firm-specific entry wins
    await store.insert_fills([make_fill(0, firm="F1"), make_fill(1, firm="F2"),
                              make_fill(2, account="22222")])

    page = await store.fill_page(FillQuery(user="A"), None, 10)
    assert [(f.firm, f.user) for f in page.fills] == [("F1", "A")]
    page = await store.fill_page(FillQuery(user="B", account="11111"), None, 10)
    assert [(f.firm, f.user) for f in page.fills] == [("F2", "B")]


async def test_account_activity_follows_the_owner_precedence(store: Store) -> None:
    await store.add_user("A", ["11111", "22222"])
    await store.add_user("A", ["33333"], firm="F1")
    await store.add_user("B", ["11111"], firm="F2", force=True)
    await store.insert_fills([
        make_fill(0, firm="F1", volume=2),
        make_fill(1, firm="F3", volume=3),
        make_fill(2, firm="F2", volume=7),  # B's
        make_fill(3, firm="F1", account="33333"),
        make_fill(4, firm="F2", account="33333"),  # A owns 33333 at F1 only: nobody's
    ])
    busted = make_fill(5, firm="F1", volume=4)
    await store.insert_busts([Bust(busted, T0 + timedelta(hours=1))])

    found = {(a.firm, a.account): a for a in await store.account_activity("A")}
    assert set(found) == {(None, "11111"), (None, "22222"), ("F1", "33333")}
    any_firm = found[(None, "11111")]
    assert (any_firm.fills, any_firm.volume, any_firm.busted) == (2, 5, 1)
    # Counts are ints, as the API's JSON needs (a Decimal compares equal, but is not).
    assert {type(n) for a in found.values() for n in (a.fills, a.volume, a.busted)} == {int}
    assert (any_firm.first_fill, any_firm.last_fill) == (
        T0, T0 + timedelta(milliseconds=1))  # the busted fill is not the last
    assert found[(None, "22222")].fills == 0
    assert found[(None, "22222")].first_fill is None
    assert found[("F1", "33333")].fills == 1
    (b_entry,) = await store.account_activity("B")
    assert (b_entry.firm, b_entry.fills, b_entry.volume) == ("F2", 1, 7)
    assert await store.account_activity("nobody") == []


async def test_user_accounts(store: Store) -> None:
    await store.add_user("A", ["22222", "11111"])
    assert [o.account for o in await store.user_accounts("A") or []] == ["11111", "22222"]
    assert await store.user_accounts("nobody") is None
    await store.add_user("C", [])
    assert await store.user_accounts("C") == []


async def test_tokens_replace_revoke_and_go_with_their_user(store: Store) -> None:
    await store.add_user("A", ["11111"])
    await store.issue_token("A", "a1", admin=False)
    await store.issue_token("A", "a-ops", admin=True)  # an operator named like a user
    assert (await store.token_holder("a1"), await store.token_holder("a-ops")) == (
        TokenHolder("A", admin=False), TokenHolder("A", admin=True))

    await store.issue_token("A", "a2", admin=False)  # replaces a1, not the operator's
    assert await store.token_holder("a1") is None
    assert await store.token_holder("a2") is not None
    assert await store.token_holder("a-ops") is not None

    await store.remove_user("A")
    assert await store.token_holder("a2") is None
    assert await store.token_holder("a-ops") is not None  # operators are not users
    await store.add_user("A", ["11111"])
    assert await store.token_holder("a2") is None  # not revived with the name

    assert await store.revoke_tokens("A") == 1
    assert await store.token_holder("a-ops") is None


async def test_a_user_token_needs_the_user(store: Store) -> None:
    with pytest.raises(StoreError, match="no user named 'ghost'"):
        await store.issue_token("ghost", "h", admin=False)
    await store.issue_token("ops", "h", admin=True)
    assert await store.token_holder("h") is not None
