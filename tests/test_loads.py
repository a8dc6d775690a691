"""Capacity loads indexed once (policylang.loads.SnapshotLoads) and the evaluator's faster
paths for issue 9's worst cases: each gives the same decisions as the plain ways.

The reference for the loads is a provider that offers only ``contacts()`` and filters a
plain list (the evaluator then reads, sorts and filters at each decision); the reference
for :func:`policylang.evaluator.first_wide` is a loop over every position.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import policylang
from policylang.evaluator import Stats, first_wide
from policylang.loads import SnapshotLoads
from policylang.records import Contact, Request

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 2, 9, tzinfo=UTC)
HEAD = ('policy "p"\ntimezone "Europe/London"\nchannels email, phone\nteams sales, care\n'
        'purposes marketing, debt\noutcomes busy, conversation\ncustomer\n  owner  team\nowner is customer.owner\n')
RULES = [
    'capacity "c": at most 3 phone per 1 hour',
    'capacity "c": at most 2 marketing per 1 day for each team',
    'capacity "c": at most 4 phone by owner per calendar week',
    'capacity "c": at most 2 phone per 2 consecutive days',
    'capacity "c": at most 2 phone per 1 day not counting outcome busy',
    'capacity "c": at most 1 any except debt per 30 minutes',
    'capacity "c": at most 2 any by owner per 2 hours',
]
OWNERS = {f"c{k}": ("sales", "care", None)[k % 3] for k in range(12)}


class Plain:
    """Loads with only ``contacts()``: a filter over a list, in the list's (unsorted) order."""

    def __init__(self, contacts: list[Contact]) -> None:
        self.all = contacts

    def contacts(self, rule: object, start: dt.datetime, end: dt.datetime) -> list[Contact]:
        match = rule.match  # type: ignore[attr-defined]
        return [c for c in self.all if start <= c.at < end and c.counted
                and match.matches(c.purpose, c.channel, c.team, OWNERS.get(c.customer or ""))]


def random_contacts(rng: random.Random, count: int) -> list[Contact]:
    out = []
    for _ in range(count):
        status = rng.choice(["sent", "sent", "planned", "displaced", "released"])
        out.append(Contact(
            T0 + dt.timedelta(minutes=rng.randrange(-24 * 60, 24 * 60)),
            rng.choice(["email", "phone"]), rng.choice(["marketing", "debt"]), rng.choice(["sales", "care"]),
            status, rng.choice([None, "busy", "conversation"]) if status == "sent" else None,
            customer=rng.choice(sorted(OWNERS)),
        ))
    return out


@pytest.mark.parametrize("rule", RULES)
def test_a_snapshot_decides_as_a_plain_provider(rule: str) -> None:
    policy = policylang.compile(HEAD + rule + "\n")
    rng = random.Random(rule)
    for _ in range(15):
        contacts = random_contacts(rng, rng.randrange(0, 120))
        snapshot = SnapshotLoads(contacts, OWNERS.get)
        for _ in range(6):
            at = T0 + dt.timedelta(minutes=rng.randrange(-24 * 60, 24 * 60))
            request = Request(rng.choice(["sales", "care"]), rng.choice(["email", "phone"]),
                              rng.choice(["marketing", "debt"]), at)
            customer = {"owner": rng.choice(["sales", "care"])}
            plain = policy.decide(customer, request, [], loads=Plain(contacts))
            fast = policy.decide(customer, request, [], loads=snapshot)
            assert (fast.allowed, fast.denied_by, fast.next_allowed_at) == \
                (plain.allowed, plain.denied_by, plain.next_allowed_at)
            assert [e.reason for e in fast.trace] == [e.reason for e in plain.trace]


def test_a_snapshot_reads_each_rule_once_and_answers_contacts_in_time_order() -> None:
    policy = policylang.compile(HEAD + RULES[0] + "\n")
    contacts = random_contacts(random.Random(1), 200)
    snapshot = SnapshotLoads(contacts)
    rule = policy.rules[0]
    got = snapshot.contacts(rule, T0 - dt.timedelta(days=1), T0 + dt.timedelta(days=1))
    want = sorted((c for c in contacts if c.counted and c.channel == "phone"
                   and T0 - dt.timedelta(days=1) <= c.at < T0 + dt.timedelta(days=1)), key=lambda c: c.at)
    assert got == want


def test_the_capacity_worst_case_costs_one_pass_with_a_snapshot() -> None:
    # issue 9's benchmark case: 10,000 calls of 1,000 customers under one a minute
    policy = policylang.compile(HEAD + 'capacity "lines": at most 1 phone per 1 minute\n')
    calls = [Contact(T0 + dt.timedelta(seconds=30 * k), "phone", "marketing", "sales", customer=f"c{k % 1000}")
             for k in range(10_000)]
    stats = Stats()
    decision = policy.decide({}, Request("sales", "phone", "marketing", T0), [], loads=SnapshotLoads(calls),
                             stats=stats, explain=False)
    assert decision.next_allowed_at == calls[-1].at + dt.timedelta(minutes=1)
    assert stats.steps <= len(calls) + 100


def test_a_long_window_over_contacts_planned_ahead_skips_the_dense_stretch() -> None:
    # issue 9's benchmark case: 10,000 emails planned an hour apart under 3 per 3660 days
    policy = policylang.compile(HEAD + 'cap "c": at most 3 email per 3660 days\n')
    ahead = [Contact(T0 + dt.timedelta(hours=k), "email", "marketing", "sales", "planned") for k in range(10_000)]
    stats = Stats()
    decision = policy.decide({"owner": "sales"}, Request("sales", "email", "marketing", T0), ahead, stats=stats,
                             explain=False)
    assert not decision.allowed and decision.next_allowed_at is None  # beyond the 400-day search
    assert stats.steps <= 200


def reference_first_wide(values: list[int], a: int, end: int, p: int, q: int, threshold: int) -> int:
    return next((k for k in range(a, end) if values[k + p] - values[k + q] >= threshold), end)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 2), min_size=2, max_size=700), st.integers(1, 4), st.integers(1, 300),
       st.booleans(), st.data())
def test_first_wide_agrees_with_a_loop(gaps: list[int], limit: int, threshold: int, before: bool,
                                       data: st.DataObject) -> None:
    values = [sum(gaps[: k + 1]) for k in range(len(gaps))]  # sorted, with repeats
    p, q = limit - 1, -1 if before else 0
    low = 1 if before else 0
    high = len(values) - p
    if high <= low:
        return
    a = data.draw(st.integers(low, high))
    end = data.draw(st.integers(a, high))
    ctx: Any = Counting()
    assert first_wide(values, a, end, p, q, threshold, ctx) == reference_first_wide(values, a, end, p, q, threshold)


class Counting:
    """All of a Context that first_wide touches."""

    def __init__(self) -> None:
        self.stats = Stats()
