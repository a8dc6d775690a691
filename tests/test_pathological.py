"""Pathological policies and ledgers: each decision finishes within a step budget counted by
the evaluator (policylang.evaluator.Stats), never by wall time, and its answer is checked
against the brute-force reference (tests/reference.py) or worked out by hand.

Issue 9, items 1 and 2: ``next_allowed_at`` used to step contact by contact and gave up after
20,000 steps (null where an answer existed), and a ``per N consecutive days`` cap did O(N^2)
work at each check.
"""

from __future__ import annotations

import datetime as dt

import pytest

import policylang
from policylang.evaluator import Stats
from policylang.records import Contact, Request
from tests.reference import decide_at, reference_decide

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 1, tzinfo=UTC)
HEAD = 'policy "p"\ntimezone "Europe/London"\nchannels email, sms\nteams sales, care\npurposes marketing\n'


def email(at: dt.datetime, team: str = "sales", status: str = "sent") -> Contact:
    return Contact(at, "email", "marketing", team, status)


def request(at: dt.datetime = T0, team: str = "sales") -> Request:
    return Request(team, "email", "marketing", at)


def test_a_long_dense_run_is_searched_in_one_pass() -> None:
    # One email every 30 s for 15 days (43,200 contacts) under one a minute: the request is
    # allowed a minute after the last email, wherever it stands in the run.
    text = HEAD + 'cap "c": at most 1 email per 1 minute\n'
    policy = policylang.compile(text)
    ledger = [email(T0 + dt.timedelta(seconds=30 * k)) for k in range(15 * 2880)]
    last = ledger[-1].at
    stats = Stats()
    decision = policy.decide({}, request(), ledger, explain=False, stats=stats)
    assert not decision.allowed
    assert decision.next_allowed_at == last + dt.timedelta(minutes=1)
    assert stats.steps <= 3 * len(ledger)
    # the answer is allowed and the instant before it is not (the reference, on the tail)
    tail = ledger[-4:]
    assert decide_at(text, {}, request(last + dt.timedelta(minutes=1)), tail)[0]
    assert not decide_at(text, {}, request(last + dt.timedelta(seconds=59)), tail)[0]


@pytest.mark.parametrize("limit", [1, 3])
def test_long_rolling_windows_with_planned_contacts_ahead(limit: int) -> None:
    # Contacts planned ahead of the request make the busiest-window question ambiguous at
    # every check; the answer still comes in a number of steps linear in the ledger.
    text = HEAD + f'cap "c": at most {limit} email per 3660 days\n'
    policy = policylang.compile(text)
    ledger = [email(T0 + dt.timedelta(hours=k), status="planned") for k in range(0, 2000, 7)]
    stats = Stats()
    decision = policy.decide({}, request(), ledger, explain=False, stats=stats)
    assert not decision.allowed and decision.next_allowed_at is None  # past the 400-day horizon
    assert stats.steps <= 20 * len(ledger)


@pytest.mark.parametrize("days", [366, 3660])
def test_consecutive_day_windows_cost_nothing_per_day(days: int) -> None:
    # The cost of a check does not grow with N: a 3,660-day run costs what a 2-day run does.
    text = HEAD + f'cap "c": at most 2 email per {days} consecutive days\n'
    policy = policylang.compile(text)
    ledger = [email(T0 - dt.timedelta(days=days // 2)), email(T0 - dt.timedelta(days=3))]
    stats = Stats()
    decision = policy.decide({}, request(), ledger, stats=stats)
    assert not decision.allowed
    # allowed again on the first local date past the run starting at the first contact
    expected = reference_decide(text, {}, request(), ledger, horizon_days=400)
    assert decision.next_allowed_at == expected.next_allowed_at
    assert stats.steps <= 200


def test_consecutive_days_search_jumps_over_a_long_run_of_dates() -> None:
    # One email a day for 300 days under "2 per 3 consecutive days": every date up to the day
    # after the last contact's next date is covered; the answer is found in one merge.
    text = HEAD + 'cap "c": at most 1 email per 3 consecutive days\n'
    policy = policylang.compile(text)
    ledger = [email(T0 + dt.timedelta(days=k, hours=12)) for k in range(300)]
    stats = Stats()
    decision = policy.decide({}, request(), ledger, explain=False, stats=stats)
    # last contact on T0 + 299 days (London date 2027-08-27): runs of 3 dates holding it end
    # 2 dates later; allowed from the local midnight starting 2027-08-30.
    assert decision.next_allowed_at == dt.datetime(2027, 8, 29, 23, 0, tzinfo=UTC)  # BST midnight
    assert stats.steps <= 4 * len(ledger) + 100
    tail = ledger[-3:]
    assert decide_at(text, {}, request(decision.next_allowed_at), tail)[0]
    assert not decide_at(text, {}, request(decision.next_allowed_at - dt.timedelta(seconds=1)), tail)[0]


def test_two_caps_that_take_turns_denying() -> None:
    # Two rules whose denials interleave: the search alternates between them, one jump per
    # boundary, and agrees with the reference.
    text = HEAD + 'cap "a": at most 1 email per 1 hour\ncap "b": at most 2 email per 1 day\n'
    policy = policylang.compile(text)
    ledger = [email(T0 + dt.timedelta(minutes=50 * k)) for k in range(60)]
    stats = Stats()
    decision = policy.decide({}, request(), ledger, stats=stats)
    expected = reference_decide(text, {}, request(), ledger, horizon_days=400)
    assert decision.next_allowed_at == expected.next_allowed_at
    assert stats.steps <= 40 * len(ledger)


def test_capacity_across_many_customers_is_searched_in_one_pass() -> None:
    # item 1 through a capacity rule: 43,200 calls of 1,000 customers fed by ``loads``.
    policy = policylang.compile(
        'policy "p"\ntimezone "UTC"\nchannels phone\nteams sales\npurposes marketing\n'
        'capacity "lines": at most 1 phone per 1 minute\n'
    )
    calls = [Contact(T0 + dt.timedelta(seconds=30 * k), "phone", "marketing", "sales", customer=f"c{k % 1000}")
             for k in range(43_200)]

    class Loads:
        reads = 0

        def contacts(self, rule: object, start: dt.datetime, end: dt.datetime) -> list[Contact]:
            Loads.reads += 1
            return [c for c in calls if start <= c.at < end]

    stats = Stats()
    decision = policy.decide({}, Request("sales", "phone", "marketing", T0), [], loads=Loads(), stats=stats,
                             explain=False)
    assert decision.next_allowed_at == calls[-1].at + dt.timedelta(minutes=1)
    assert Loads.reads <= 3
    assert stats.steps <= 4 * len(calls)


@pytest.mark.parametrize("quiet", [False, True])
def test_two_contacts_exactly_one_window_apart_are_not_a_run(quiet: bool) -> None:
    # Found by the differential test after the merge jump landed: contacts at 00:00 and 01:00
    # and one exactly a day after the second. That last pair spans a whole window, so it fills
    # none: the first pair denies until 00:00 the next day, not until 01:00 (the merge used
    # to extend the stretch over every later pair, dense or not). With many such pairs the
    # fast merge path is taken; with a quiet rule ahead the walk is.
    text = HEAD + 'cap "c": at most 2 email per 1 day\n'
    if quiet:
        text += 'quiet "q": no email on wednesday\n'
    start = dt.datetime(2025, 12, 31, tzinfo=UTC)  # a Wednesday
    ledger = [email(start), email(start + dt.timedelta(hours=1)), email(start + dt.timedelta(hours=25))]
    decision = policylang.compile(text).decide({}, request(start), ledger, explain=False)
    assert decision.next_allowed_at == start + dt.timedelta(days=1)
    assert decide_at(text, {}, request(start + dt.timedelta(days=1)), ledger)[0]
    assert not decide_at(text, {}, request(start + dt.timedelta(days=1, seconds=-1)), ledger)[0]
