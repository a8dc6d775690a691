"""The evaluator's fast paths of this issue (ev) against the paths they replace.

* ``wall_exit`` (a quiet period's exit, on integer wall times) against ``clock.next_exit``
  with ``wall_tests``' datetime tests, which it replaces in the search: the same instant for
  clock ranges (inside and outside, wrapping midnight, ending at 24:00), quiet days (weekdays,
  dates, holidays) and days with a clock range, in zones with daylight saving at night and at
  midnight, half-hour changes and old odd offsets, from instants near their changes.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from policylang import clock
from policylang.arbitration import grant
from policylang.decision import Decision, TraceEntry, decided
from policylang.evaluator import (
    HORIZON,
    Context,
    clock_range_quiet,
    decide,
    minute_of_day,
    wall_exit,
    wall_tests,
)
from policylang.history import History
from policylang.records import Contact, Customer, Request
from policylang.rules import ClockRange, DayClock, DaySet, Policy
from policylang.slotted import fields
from tests.strategies import displacement_scenarios, scenarios

UTC = dt.timezone.utc
ZONES = ["UTC", "America/New_York", "America/Chicago", "Europe/Paris", "Australia/Lord_Howe",
         "America/Havana", "America/Santiago", "Asia/Tehran", "Africa/Casablanca", "Pacific/Apia",
         "Asia/Kolkata", "America/St_Johns", "Europe/Dublin", "America/Sao_Paulo"]

POLICY = Policy("t", None, {}, {}, None, (), (), {}, holiday_code="FR")


def clock_ranges() -> st.SearchStrategy[ClockRange]:
    def build(start: int, end: int, inside: bool) -> ClockRange:
        return ClockRange(start, end if end != start else (start + 1) % 1441, inside)

    minutes = st.one_of(st.sampled_from([0, 1, 60, 120, 150, 180, 480, 1260, 1380, 1439]), st.integers(0, 1439))
    return st.builds(build, minutes, st.one_of(minutes, st.just(1440)), st.booleans())


def day_sets() -> st.SearchStrategy[DaySet]:
    dates = st.frozensets(st.dates(dt.date(2026, 3, 1), dt.date(2026, 4, 20)), max_size=6)
    return st.builds(DaySet, st.frozensets(st.integers(0, 6), max_size=6), dates,
                     st.sampled_from([(), (), ("FR",), (None,)]))


periods = st.one_of(clock_ranges(), day_sets(), st.builds(DayClock, day_sets(), clock_ranges()))


@st.composite
def instants(draw: st.DrawFn) -> int:
    """Near daylight-saving changes (March, October, November, April) or anywhere, 1900-2100."""
    if draw(st.booleans()):
        base = dt.datetime(draw(st.sampled_from([1911, 1945, 1990, 2011, 2026, 2027, 2038])),
                           draw(st.sampled_from([3, 4, 9, 10, 11])), draw(st.integers(1, 28)), tzinfo=UTC)
        at = base + dt.timedelta(minutes=draw(st.integers(0, 60 * 24 * 4)), microseconds=draw(st.sampled_from([0, 1, 999_999])))
    else:
        at = draw(st.datetimes(dt.datetime(1900, 2, 1), dt.datetime(2100, 1, 1), timezones=st.just(UTC)))
    return clock.micros(at)


def context(zone: str, t: int) -> Context:
    customer = Customer("c", {})
    return Context(POLICY, customer.values, clock.zone(zone), zone, None, Request("a", "b", "c", clock.instant(t)),
                   History([]), False, None)


@settings(max_examples=400, deadline=None)
@given(periods, st.sampled_from(ZONES), instants(), st.sampled_from([HORIZON, 3 * clock.DAY, clock.HOUR]))
def test_wall_exit_is_next_exit(period: ClockRange | DaySet | DayClock, zone: str, t: int, reach: int) -> None:
    ctx = context(zone, t)
    quiet, boundary = wall_tests(period, ctx)
    want = clock.next_exit(t, ctx.tz, quiet, boundary, t + reach)
    note(f"{period} {zone} {clock.instant(t)} -> {want and clock.instant(want)}")
    assert wall_exit(period, context(zone, t), t, t + reach) == want


def test_wall_exit_cases() -> None:
    """Hand-picked: the spring gap and the autumn fold under quiet hours, and a date set."""
    outside = ClockRange(480, 1260, False)  # quiet outside 08:00-21:00
    night = ClockRange(60, 180, True)  # quiet 01:00-03:00: New York's changes happen inside
    cases = [
        (outside, "America/New_York", dt.datetime(2026, 3, 8, 6, 30, tzinfo=UTC)),
        (night, "America/New_York", dt.datetime(2026, 3, 8, 6, 30, tzinfo=UTC)),
        (night, "America/New_York", dt.datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
        (night, "America/New_York", dt.datetime(2026, 11, 1, 6, 30, tzinfo=UTC)),
        (DaySet(frozenset({6}), frozenset()), "America/Santiago", dt.datetime(2026, 4, 4, 22, tzinfo=UTC)),
        (DaySet(frozenset(), frozenset(), ("FR",)), "Europe/Paris", dt.datetime(2026, 12, 24, 23, 30, tzinfo=UTC)),
    ]
    for period, zone, at in cases:
        t = clock.micros(at)
        ctx = context(zone, t)
        want = clock.next_exit(t, ctx.tz, *wall_tests(period, ctx), t + HORIZON)
        assert want is not None
        assert wall_exit(period, context(zone, t), t, t + HORIZON) == want, (period, zone, at)


@settings(max_examples=300, deadline=None)
@given(clock_ranges(), st.integers(0, 1439), st.sampled_from([0, 1, 59]), st.sampled_from([0, 1, 999_999]),
       st.sampled_from(ZONES))
def test_clock_range_quiet_is_the_minute_test(period: ClockRange, minute: int, second: int, micro: int, zone: str) -> None:
    moment = dt.datetime(2026, 3, 8, minute // 60, minute % 60, second, micro, tzinfo=clock.zone(zone))
    assert clock_range_quiet(period, moment) == period.quiet(minute_of_day(moment))


@settings(max_examples=200, deadline=None)
@given(st.dates(dt.date(1901, 1, 1), dt.date(2998, 12, 1)), st.sampled_from(ZONES),
       st.sampled_from(["day", "week", "month", "quarter", "year"]), st.integers(0, 6))
def test_day_numbers_and_periods(day: dt.date, zone: str, unit: str, week_start: int) -> None:
    tz = clock.zone(zone)
    assert clock.start_of_day_number(day.toordinal(), tz) == clock.start_of_date(day, tz)
    assert clock.start_of_day_number(day.toordinal() + 1, tz) == clock.start_of_date(day + dt.timedelta(days=1), tz)
    first, following = clock.period_bounds(day, unit, week_start)
    assert clock.period_instants(day, unit, week_start, tz) == (clock.start_of_date(first, tz), clock.start_of_date(following, tz))


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.sampled_from([dt.datetime(1899, 12, 31, 23, 59, tzinfo=UTC), dt.datetime(1900, 1, 1, tzinfo=UTC),
                                   dt.datetime(2999, 12, 31, 23, 59, tzinfo=UTC), dt.datetime(3000, 1, 1, tzinfo=UTC),
                                   dt.datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=UTC)]),
                 st.datetimes(dt.datetime(1899, 12, 30), dt.datetime(3000, 1, 2),
                              timezones=st.sampled_from([UTC, clock.zone("Europe/Paris")]))),
       st.sampled_from([None, "spring", ("spring", "summer")]), st.sampled_from([None, "request-0", "r1"]),
       st.sampled_from(["email", "sms"]), st.sampled_from(["marketing", "debt"]), st.sampled_from(["cards", "growth"]))
def test_grant_is_contact(at: dt.datetime, campaign: object, ident: str | None, channel: str, purpose: str, team: str) -> None:
    request = object.__new__(Request)  # any instant, as a fast path may have made it
    for spec, value in zip(fields(Request), (team, channel, purpose, at, campaign, 0, None), strict=True):
        object.__setattr__(request, spec.name, value)
    try:
        want = Contact(at, channel, purpose, team, "planned", campaign=campaign, id=ident)
    except ValueError:  # out of range: grant refuses it the same way (Contact's converter)
        with pytest.raises(ValueError, match="outside the years"):
            grant(request, ident)
        return
    made = grant(request, ident)
    assert type(made) is Contact
    assert made == want and hash(made) == hash(want) and repr(made) == repr(want)
    for spec in fields(Contact):
        assert getattr(made, spec.name) == getattr(want, spec.name)
        assert type(getattr(made, spec.name)) is type(getattr(want, spec.name))
    assert made.at.tzinfo is want.at.tzinfo and made.at.fold == want.at.fold


def test_decided_is_decision() -> None:
    request = Request("cards", "email", "marketing", dt.datetime(2026, 3, 8, 7, tzinfo=UTC))
    planned = Contact(dt.datetime(2026, 3, 9, tzinfo=UTC), "email", "marketing", "growth", "planned", id="p")
    values = (request, False, ("a", "b"), (planned,), dt.datetime(2026, 3, 10, tzinfo=UTC),
              (TraceEntry("a", "cap", "deny", "3 of at most 3"),), ("a note",), ("w",), (("holidays", "1"),))
    made, want = decided(*values), Decision(*values)
    assert type(made) is Decision
    assert made == want and hash(made) == hash(want) and repr(made) == repr(want)
    assert [getattr(made, spec.name) for spec in fields(Decision)] == list(values)
    assert made.explain() == want.explain() and made.to_dict() == want.to_dict()


@settings(max_examples=300, deadline=None)
@given(st.one_of(displacement_scenarios(), scenarios()))
def test_without_explain_the_same_answer(scenario: tuple[str, Policy, dict[str, object], Request, list[object]]) -> None:
    text, policy, customer, request, ledger = scenario
    history = History(list(ledger))
    words = decide(policy, customer, request, history, explain=True).to_dict()
    plain = decide(policy, customer, request, History(list(ledger)), explain=False).to_dict()
    note(text)
    words.pop("trace"), plain.pop("trace")
    assert plain == words
