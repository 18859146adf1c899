"""The ownership registry in the store, and the per-user view of fills it gives.

Firm-specific entries take precedence over firm-less ones for the same account number.
"""

from __future__ import annotations

import pytest

from fillcapture.model import VisibleAccount
from fillcapture.store import Change, FillQuery, MoveRefused, Owner, Store, StoreError
from tests.store.factories import make_fill


async def test_seed_adds_missing_and_never_removes(store: Store) -> None:
    await store.seed_registry([Owner("A", None, "11111"), Owner("B", "SIMFIRM", "33333")])
    await store.add_user("C", ["55555"])

    await store.seed_registry([Owner("A", None, "11111"), Owner("A", None, "22222")])

    assert await store.registry() == [
        Owner("A", None, "11111"),
        Owner("A", None, "22222"),
        Owner("B", "SIMFIRM", "33333"),
        Owner("C", None, "55555"),
    ]


async def test_seed_keeps_the_stored_owner_on_conflict(store: Store) -> None:
    await store.seed_registry([Owner("A", None, "11111")])
    await store.remove_user("A")
    await store.add_user("B", ["11111"])

    await store.seed_registry([Owner("A", None, "11111")])

    assert await store.registry() == [Owner("B", None, "11111")]
    assert await store.users() == {"A": [], "B": [Owner("B", None, "11111")]}


async def test_add_user_creates_and_extends(store: Store) -> None:
    await store.add_user("A", ["11111"])
    await store.add_user("A", ["22222", "11111"], firm="SIMFIRM")
    await store.add_user("A", ["11111"])  # already A's: no error
    await store.add_user("Empty", [])

    assert await store.users() == {
        "A": [
            Owner("A", None, "11111"),
            Owner("A", "SIMFIRM", "11111"),
            Owner("A", "SIMFIRM", "22222"),
        ],
        "Empty": [],
    }


async def test_add_user_refuses_an_account_owned_by_another(store: Store) -> None:
    await store.add_user("A", ["11111"], firm="SIMFIRM")

    with pytest.raises(MoveRefused, match=r"11111 \(SIMFIRM\): A -> B") as raised:
        await store.add_user("B", ["22222", "11111"], firm="SIMFIRM")
    assert isinstance(raised.value, StoreError)

    # Nothing of the refused call was applied, not even the new user.
    assert await store.users() == {"A": [Owner("A", "SIMFIRM", "11111")]}
    # A firm-less entry would not reach SIMFIRM, where A's entry wins: refused too.
    with pytest.raises(MoveRefused, match=r"11111 \(SIMFIRM\): stays A's, not B's"):
        await store.add_user("B", ["11111"])
    assert await store.add_user("B", ["11111"], force=True) == [
        Change("11111", "SIMFIRM", ("A",), ("A",), shadowed="B")]
    # Another firm's entry over B's firm-less one moves B's fills there.
    with pytest.raises(MoveRefused, match=r"11111 \(OTHERFIRM\): B -> C"):
        await store.add_user("C", ["11111"], firm="OTHERFIRM")
    assert await store.add_user("C", ["11111"], firm="OTHERFIRM", force=True) == [
        Change("11111", "OTHERFIRM", ("B",), ("C",))]
    assert len(await store.registry()) == 3


async def test_an_entry_by_code_moves_like_one_by_number(store: Store) -> None:
    account = VisibleAccount("acc-1", "11111", name="A's", code="ACODE")
    await store.save_accounts("SIMFIRM", [account])
    await store.add_user("A", ["ACODE"])  # firm-less, by the account's code

    with pytest.raises(MoveRefused, match=r"11111 \(SIMFIRM\): A -> C"):
        await store.add_user("C", ["11111"], firm="SIMFIRM")
    with pytest.raises(MoveRefused, match=r"11111 \(any firm\): A -> A/C"):
        await store.add_user("C", ["11111"])
    assert await store.registry() == [Owner("A", None, "11111")]


@pytest.mark.parametrize(("name", "account"), [("", "1"), (" A", "1"), ("A", ""), ("A", "1 ")])
async def test_blank_or_padded_names_are_refused(
    store: Store, name: str, account: str
) -> None:
    with pytest.raises(StoreError, match="blank or padded"):
        await store.add_user(name, [account])


async def test_remove_user_removes_its_accounts(store: Store) -> None:
    await store.add_user("A", ["11111", "22222"])
    await store.add_user("B", ["33333"])

    assert await store.remove_user("A") == []  # nothing changed hands
    assert await store.remove_user("A") is None
    assert await store.registry() == [Owner("B", None, "33333")]
    # The accounts are free again.
    await store.add_user("C", ["11111"])


async def test_user_filter_honours_firm_specific_and_firm_less_entries(
    store: Store,
) -> None:
    await store.add_user("A", ["11111"])  # 11111 at any firm ...
    await store.add_user("B", ["11111"], firm="F2", force=True)  # ... except at F2: B's
    await store.add_user("A", ["22222"], firm="F1")
    fills = [
        make_fill(1, firm="F1", account="11111"),
        make_fill(2, firm="F2", account="11111"),
        make_fill(3, firm="F3", account="11111"),
        make_fill(4, firm="F1", account="22222"),
        make_fill(5, firm="F2", account="22222"),
    ]
    await store.insert_fills(fills)

    async def trade_ids(user: str, firm: str | None = None) -> list[str]:
        return [f.exchange_trade_id async for f in store.fills(FillQuery(user=user, firm=firm))]

    assert await trade_ids(user="A") == ["T1", "T3", "T4"]
    assert await trade_ids(user="B") == ["T2"]
    assert await trade_ids(user="nobody") == []
    assert await trade_ids(user="A", firm="F1") == ["T1", "T4"]
    owners = {f.exchange_trade_id: f.user async for f in store.fills(FillQuery())}
    assert owners == {"T1": "A", "T2": "B", "T3": "A", "T4": "A", "T5": None}


async def test_ownership_follows_registry_edits(store: Store) -> None:
    await store.add_user("A", ["11111"])
    await store.insert_fills([make_fill(1)])
    await store.remove_user("A")
    await store.add_user("B", ["11111"])

    assert [f.user async for f in store.fills(FillQuery())] == ["B"]
    assert [f.user async for f in store.fills(FillQuery(user="A"))] == []


async def test_a_fill_is_read_once_when_two_entries_name_its_account(store: Store) -> None:
    """An entry by the account's code, made before the account was seen, and
    one by its number resolve to the same (firm, number): each fill of it is
    still read once, by pages and by stream."""
    await store.add_user("A", ["ACODE"])  # the code, not known yet as 11111's
    await store.add_user("A", ["11111"])
    await store.save_accounts("SIMFIRM", [VisibleAccount("acc-1", "11111", code="ACODE")])
    await store.insert_fills([make_fill(n) for n in range(3)])
    query = FillQuery(user="A")
    streamed = [fill.order_id async for fill in store.fills(query)]
    page = await store.fill_page(query, None, 10)
    assert streamed == [fill.order_id for fill in page.fills] == [
        "order-0", "order-1", "order-2"]
    assert {fill.user for fill in page.fills} == {"A"}
