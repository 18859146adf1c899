"""The ownership registry snapshot: firm-specific and firm-less entries."""

from __future__ import annotations

from fillcapture.ownership import Entry, Ownership


def test_firm_specific_entry_wins_and_firmless_matches_any_firm() -> None:
    ownership = Ownership([
        Entry("A", None, "11111"),
        Entry("B", "F2", "11111"),
        Entry("C", "F1", "33333"),
    ])
    assert ownership.owner("F1", "11111") == "A"
    assert ownership.owner("F2", "11111") == "B"
    assert ownership.owner("F1", "33333") == "C"
    assert ownership.owner("F2", "33333") is None
    assert ownership.owner("F1", "55555") is None
    assert ownership.accounts_of("F1") == {"11111": "A", "33333": "C"}
    assert ownership.accounts_of("F2") == {"11111": "B"}


def test_equality_is_by_entries() -> None:
    one = Ownership([Entry("A", None, "1"), Entry("B", None, "2")])
    two = Ownership([Entry("B", None, "2"), Entry("A", None, "1")])
    assert one == two
    assert one != Ownership([Entry("A", None, "1")])
    assert len(one) == 2
