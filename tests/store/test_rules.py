"""The store's business rules, stated once above the engines (fillcapture.store.rules)."""

from __future__ import annotations

from datetime import date

from fillcapture.model import Side
from fillcapture.store.rules import (
    covered_after_change,
    firms_owned,
    leg_side,
    owners_of,
    publishable,
)


def test_an_entry_naming_the_firm_wins_over_a_firm_less_one() -> None:
    by_firm = {"F1": ["bob"]}
    assert owners_of(by_firm, ["amy"], "F1") == ("bob",)
    assert owners_of(by_firm, ["amy"], "F2") == ("amy",)
    assert owners_of(by_firm, ["amy"], None) == ("amy",)
    assert owners_of({}, [], "F1") == ()
    assert firms_owned("F1", ["F1", "F2", "F3"], []) == ["F1"]
    assert firms_owned(None, ["F1", "F2", "F3"], ["F2"]) == ["F1", "F3"]


def test_a_change_leaves_recorded_summaries_standing_through_the_day_before() -> None:
    assert covered_after_change(date(2024, 3, 1)) == date(2024, 2, 29)


def test_a_legs_side_follows_its_order_and_direction() -> None:
    assert leg_side(Side.BUY, 1) is Side.BUY
    assert leg_side(Side.BUY, -1) is Side.SELL
    assert leg_side(Side.SELL, None) is None


def test_a_bust_and_every_later_one_wait_while_its_fill_is_not_out() -> None:
    busts = [(3, "b1"), (7, "b2"), (4, "b3")]
    assert publishable(busts, 5) == ["b1"]
    assert publishable(busts, 7) == ["b1", "b2", "b3"]
    assert publishable(busts, 2) == []
