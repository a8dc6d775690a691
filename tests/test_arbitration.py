"""Batch arbitration: precedence, then priority, then time; grants become planned contacts."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

import policylang
from policylang.arbitration import arbitrate
from policylang.records import Request

UTC = dt.timezone.utc
T = dt.datetime(2026, 11, 24, 15, tzinfo=UTC)
POLICY = policylang.compile(
    """
channels phone, email
teams a, b, c, d
purposes marketing
customer
  owner team
owner is customer.owner
precedence a > owner > b
cap "one a day": at most 1 marketing per 1 day
"""
)


def test_precedence_wins_regardless_of_list_order() -> None:
    requests = [Request("c", "phone", "marketing", T), Request("b", "email", "marketing", T),
                Request("a", "phone", "marketing", T + dt.timedelta(hours=1))]
    rulings = arbitrate(POLICY, {"owner": "c"}, requests)
    # a first (rank 0), then c as the owner (rank 1), then b (rank 2): only a is granted.
    assert [r.position for r in rulings] == [2, 0, 1]
    assert [r.decision.allowed for r in rulings] == [True, False, False]


def test_priority_then_time_break_ties_between_unlisted_teams() -> None:
    requests = [Request("d", "phone", "marketing", T, priority=1),
                Request("c", "phone", "marketing", T - dt.timedelta(hours=2), priority=5),
                Request("d", "email", "marketing", T - dt.timedelta(hours=3), priority=5)]
    rulings = arbitrate(POLICY, {}, requests)
    # c and d are unlisted (equal rank): priority 5 first, the earlier of those first.
    assert [r.position for r in rulings] == [2, 1, 0]
    assert [r.decision.allowed for r in rulings] == [True, False, False]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcd"), st.integers(0, 3), st.integers(-12, 12)), min_size=1, max_size=6))
def test_at_most_one_grant_per_day_and_the_first_in_order_is_granted(raw: list[tuple[str, int, int]]) -> None:
    requests = [Request(team, "phone", "marketing", T + dt.timedelta(minutes=m), priority=p) for team, p, m in raw]
    rulings = arbitrate(POLICY, {"owner": "b"}, requests)
    assert sorted(r.position for r in rulings) == list(range(len(requests)))
    # All requests are within one day of each other, so the cap grants exactly one: the first.
    assert [r.decision.allowed for r in rulings] == [True] + [False] * (len(requests) - 1)
