"""Properties of the section 11 forms, each checked against a simpler decision that shares
none of the new code path: several zones against one zone at a time, a void line against
the ledger without the voided entries, a `warn` rule against the policy without it, month
arithmetic against calendar facts. Generators aim at the boundaries (window ends, DST
changes, month ends, midnight in one zone but not the other)."""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import policylang
from policylang import clock

TEXT = """
policy "properties"
timezone "America/New_York"
channels phone, email
teams a, b
purposes debt, marketing
outcomes no_answer, conversation
customer
  timezone  zones
quiet "hours":  no debt phone outside 08:00-21:00
quiet "sunday noon":  no debt phone on sunday outside 12:00-21:00
cap "one a day":  at most 1 marketing per calendar day
cap "three a week":  at most 3 debt phone per 7 days
"""
WARN = 'cap "two in ten minutes" warn:  at most 1 debt phone per 10 minutes counting only outcome no_answer\n'
POLICY = policylang.compile(TEXT + WARN, "properties.pol")
WITHOUT_WARN = policylang.compile(TEXT, "without_warn.pol")
ZONES = ("America/New_York", "America/Los_Angeles", "Europe/London", "Asia/Kolkata", "Australia/Lord_Howe")
START = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
# around both 2026 DST changes in the US (03-08, 11-01) and in Europe (03-29, 10-25)
instants = st.integers(0, 300 * 24 * 60).map(lambda m: START + dt.timedelta(minutes=m))
near_midnight = st.builds(
    lambda day, minute: dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc) + dt.timedelta(days=day, minutes=minute),
    st.integers(0, 300), st.sampled_from([0, 1, 59, 60, 239, 240, 299, 300, 479, 480, 599, 600, 1439]))
moments = st.one_of(instants, near_midnight)


def request(purpose: str, at: dt.datetime) -> dict[str, Any]:
    return {"purpose": purpose, "channel": "phone" if purpose == "debt" else "email", "team": "a",
            "at": at.isoformat()}


def entry(purpose: str, at: dt.datetime, **extra: Any) -> dict[str, Any]:
    return {**request(purpose, at), **extra}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(ZONES), min_size=2, max_size=3, unique=True), moments,
       st.lists(moments, max_size=3), st.sampled_from(["debt", "marketing"]))
def test_several_zones_deny_exactly_when_one_of_them_does(zones: list[str], at: dt.datetime,
                                                          history: list[dt.datetime], purpose: str) -> None:
    ledger = [entry(purpose, h) for h in history]
    together = POLICY.decide({"timezone": zones}, request(purpose, at), ledger)
    alone = [POLICY.decide({"timezone": zone}, request(purpose, at), ledger) for zone in zones]
    assert together.allowed == all(d.allowed for d in alone)
    assert set(together.denied_by) == {name for d in alone for name in d.denied_by}
    if not together.allowed and together.next_allowed_at is not None:
        # no earlier instant is allowed in every zone: each zone alone waits at most as long
        assert all(d.next_allowed_at is not None and d.next_allowed_at <= together.next_allowed_at for d in alone)
        again = POLICY.decide({"timezone": zones}, request(purpose, together.next_allowed_at), ledger)
        assert again.allowed


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(moments, st.booleans()), min_size=1, max_size=6), moments, st.booleans())
def test_a_void_line_is_the_ledger_without_the_voided_entries(calls: list[tuple[dt.datetime, bool]],
                                                             at: dt.datetime, before: bool) -> None:
    ledger = [entry("debt", moment, id=f"c-{k}") for k, (moment, _) in enumerate(calls)]
    voided = [f"c-{k}" for k, (_, gone) in enumerate(calls) if gone]
    kept = [e for e, (_, gone) in zip(ledger, calls, strict=True) if not gone]
    # the void line before or after every entry: line order and its own instant do not matter
    line_at = (min(m for m, _ in calls) - dt.timedelta(days=30)) if before else (at + dt.timedelta(days=30))
    with_void = ledger + ([{"at": line_at.isoformat(), "void": voided, "reason": "misdirected"}] if voided else [])
    a = POLICY.decide({"timezone": ["America/New_York"]}, request("debt", at), with_void)
    b = POLICY.decide({"timezone": ["America/New_York"]}, request("debt", at), kept)
    assert (a.allowed, a.denied_by, a.next_allowed_at, a.warnings) == (b.allowed, b.denied_by, b.next_allowed_at, b.warnings)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-30, 30), st.sampled_from([None, "no_answer", "conversation"])), max_size=4),
       moments)
def test_a_warn_rule_never_changes_the_decision(calls: list[tuple[int, str | None]], at: dt.datetime) -> None:
    ledger = [entry("debt", at + dt.timedelta(minutes=m), **({"outcome": o} if o else {})) for m, o in calls]
    customer = {"timezone": ["America/New_York"]}
    warned = POLICY.decide(customer, request("debt", at), ledger)
    plain = WITHOUT_WARN.decide(customer, request("debt", at), ledger)
    assert (warned.allowed, warned.denied_by, warned.next_allowed_at) == (plain.allowed, plain.denied_by, plain.next_allowed_at)
    # the warning is exactly "a call less than 10 minutes away, unanswered or of unknown outcome"
    # (a contact without an outcome counts either way, 11.3)
    near = [m for m, o in calls if o in (None, "no_answer") and -10 < m < 10]
    assert bool(warned.warnings) == bool(near)


@given(st.dates(dt.date(2020, 1, 1), dt.date(2035, 12, 31)), st.integers(0, 23), st.integers(0, 59),
       st.integers(1, 40), st.sampled_from(ZONES))
def test_months_keep_the_day_when_they_can_and_the_clock_time(day: dt.date, hour: int, minute: int,
                                                             months: int, zone: str) -> None:
    tz = clock.zone(zone)
    start = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
    if start.astimezone(dt.timezone.utc).astimezone(tz).replace(tzinfo=None) != start.replace(tzinfo=None):
        return  # a wall time the zone skips: not an instant anyone recorded
    end = clock.instant(clock.plus_months(clock.micros(start), months, tz)).astimezone(tz)
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    assert (end.year, end.month) == (year, month + 1)
    assert end.day == min(day.day, last)
    wall = (end.hour, end.minute)
    # the same clock time, or later by a DST gap (at most the gap, never earlier)
    assert wall >= (hour, minute) or end.day != min(day.day, last)
    assert clock.micros(end) > clock.micros(start)
