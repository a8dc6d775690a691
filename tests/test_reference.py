"""Hand-computed cases for the reference evaluator (tests/reference.py).

Every expected value below is worked out by hand from docs/language.md sections 4-7; the
comments show the arithmetic. These pin the reference down before it is used as the
oracle for the differential tests.
"""

from __future__ import annotations

import datetime as dt

import pytest

import policylang
from policylang.records import Contact, Event, Request
from tests.reference import reference_decide

UTC = dt.timezone.utc
D = dt.timedelta(days=1)
S = dt.timedelta(seconds=1)

HEAD = """policy "t"
channels email, sms, phone
teams sales, cards, collect
purposes marketing, debt, service
outcomes conversation, no_answer
events complaint
customer
  timezone zone
  owner team
  opted_out set of channel
owner is customer.owner
precedence collect > owner > sales > cards
"""

T = dt.datetime(2026, 5, 13, 12, 0, tzinfo=UTC)  # a Wednesday


def pol(*rules: str, timezone: str | None = None):
    head = HEAD if timezone is None else HEAD.replace('policy "t"\n', f'policy "t"\ntimezone "{timezone}"\n')
    text = head + "\n".join(rules) + "\n"
    policylang.compile(text)  # the cases are valid policies; the reference reads the text
    return text


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def mk(at_, purpose="marketing", channel="email", team="cards", **kw) -> Contact:
    return Contact(at=at_, channel=channel, purpose=purpose, team=team, **kw)


def req(team="sales", channel="email", purpose="marketing", when=T, **kw) -> Request:
    return Request(team=team, channel=channel, purpose=purpose, at=when, **kw)


CUST = {"owner": "sales"}

# ---- rolling caps ----------------------------------------------------------------------------

CAP2 = 'cap "two a week": at most 2 marketing per 7 days'


def test_rolling_cap_contact_exactly_a_window_ago_no_longer_counts():
    # Contacts at t-7d, t-3d, t+2d. A window [s, s+7d) holding t has s in (t-7d, t], so
    # t-7d is never in it; [t-3d, t+4d) holds t-3d and t+2d -> 2 -> deny.
    # Deny for u in (t-5d, t+4d) (from the pair t-3d, t+2d); at u = t+4d the windows start
    # after t-3d and only t+2d is left.
    ledger = [mk(T - 7 * D), mk(T - 3 * D), mk(T + 2 * D)]
    d = reference_decide(pol(CAP2), CUST, req(), ledger)
    assert (d.allowed, d.denied_by) == (False, ("two a week",))
    assert d.next_allowed_at == T + 4 * D


def test_rolling_cap_contact_a_second_inside_the_window_counts():
    ledger = [mk(T - 7 * D + S), mk(T - 3 * D)]
    d = reference_decide(pol(CAP2), CUST, req(), ledger)
    assert not d.allowed
    # the window starting at t-7d+1s holds both; from t+1s on, t-7d+1s has left every window
    assert d.next_allowed_at == T + S
    assert reference_decide(pol(CAP2), CUST, req(), [mk(T - 7 * D), mk(T - 3 * D)]).allowed


def test_rolling_cap_ignores_displaced_and_released_and_other_purposes():
    ledger = [mk(T - D, status="displaced"), mk(T - D, status="released"), mk(T - D, purpose="debt"), mk(T)]
    assert reference_decide(pol(CAP2), CUST, req(), ledger).allowed


def test_for_each_team_counts_only_the_requesters_team():
    rule = 'cap "per team": at most 1 email per 7 days for each team'
    ledger = [mk(T - D, team="cards")]
    assert reference_decide(pol(rule), CUST, req(team="sales"), ledger).allowed
    d = reference_decide(pol(rule), CUST, req(team="cards"), ledger)
    assert d.denied_by == ("per team",) and d.next_allowed_at == T + 6 * D


def test_for_each_campaign_none_equals_none():
    rule = 'cap "per debt": at most 1 debt per 7 days for each campaign'
    ledger = [mk(T - D, purpose="debt")]
    assert not reference_decide(pol(rule), CUST, req(purpose="debt"), ledger).allowed
    assert reference_decide(pol(rule), CUST, req(purpose="debt", campaign="d1"), ledger).allowed
    ledger = [mk(T - D, purpose="debt", campaign="d1")]
    assert not reference_decide(pol(rule), CUST, req(purpose="debt", campaign="d1"), ledger).allowed
    assert reference_decide(pol(rule), CUST, req(purpose="debt", campaign="d2"), ledger).allowed


# ---- calendar and consecutive ---------------------------------------------------------------------


def test_calendar_week_is_in_the_customers_local_time():
    rule = 'cap "weekly": at most 1 any per calendar week'
    # 2026-03-01 is a Sunday. Sydney is UTC+11 then: 12:00Z is Sunday 23:00, 14:00Z Monday 01:00.
    contact = mk(at("2026-03-01T12:00:00+00:00"))
    request = req(when=at("2026-03-01T14:00:00+00:00"))
    assert reference_decide(pol(rule), {"timezone": "Australia/Sydney"}, request, [contact]).allowed
    # without a customer zone and without a policy zone: UTC, both on Sunday -> deny until Monday 00:00Z
    d = reference_decide(pol(rule), {}, request, [contact])
    assert not d.allowed and d.next_allowed_at == at("2026-03-02T00:00:00+00:00")
    # the policy's zone applies when the customer has none (New York: both Sunday, Monday 05:00Z)
    d = reference_decide(pol(rule, timezone="America/New_York"), {}, request, [contact])
    assert not d.allowed and d.next_allowed_at == at("2026-03-02T05:00:00+00:00")


def test_calendar_month_quarter_year():
    zone = {"timezone": "Asia/Kolkata"}  # UTC+05:30
    # 2026-03-31T19:00Z is 2026-04-01 00:30 in Kolkata: a new month and quarter, same year
    contact = mk(at("2026-03-31T18:00:00+00:00"))  # 23:30 on 31 March local
    request = req(when=at("2026-03-31T19:00:00+00:00"))
    for unit, allowed in (("month", True), ("quarter", True), ("year", False), ("day", True), ("week", False)):
        rule = f'cap "c": at most 1 any per calendar {unit}'
        assert reference_decide(pol(rule), zone, request, [contact]).allowed is allowed, unit


def test_consecutive_days_counts_local_dates():
    rule = 'cap "seven in seven": at most 2 debt phone per 7 consecutive days'
    ny = {"timezone": "America/New_York"}  # EST, UTC-5, in January
    # local dates 1 January (23:30) and 7 January
    ledger = [
        mk(at("2026-01-02T04:30:00+00:00"), "debt", "phone"),
        mk(at("2026-01-07T15:00:00+00:00"), "debt", "phone"),
    ]
    request = req(team="collect", channel="phone", purpose="debt", when=at("2026-01-07T20:00:00+00:00"))
    d = reference_decide(pol(rule), ny, request, ledger)
    # the run 1-7 January holds both; the request is allowed from the start of 8 January
    # local (a rolling 7 days would say 8 January 23:30)
    assert d.denied_by == ("seven in seven",)
    assert d.next_allowed_at == at("2026-01-08T05:00:00+00:00")


def test_capacity_calendar_day_uses_the_policy_zone():
    ny = "America/New_York"
    contact = mk(at("2026-06-10T03:00:00+00:00"), channel="phone")  # NY 9 June 23:00, Kolkata 10 June
    request = req(channel="phone", when=at("2026-06-10T05:00:00+00:00"))  # NY 10 June 01:00
    customer = {"timezone": "Asia/Kolkata"}
    assert reference_decide(pol('capacity "load": at most 1 phone per calendar day', timezone=ny),
                            customer, request, [contact]).allowed
    d = reference_decide(pol('cap "load": at most 1 phone per calendar day', timezone=ny), customer, request, [contact])
    assert not d.allowed and d.next_allowed_at == at("2026-06-10T18:30:00+00:00")  # Kolkata midnight


# ---- quiet ------------------------------------------------------------------------------------------

HOURS = 'quiet "hours": no phone, sms outside 08:00-21:00'
LONDON = {"timezone": "Europe/London"}


def test_calling_hours_across_the_spring_change_in_london():
    # Summer time starts 2026-03-29 at 01:00Z. 06:30Z is 07:30 BST: quiet until 08:00 BST = 07:00Z.
    d = reference_decide(pol(HOURS), LONDON, req(channel="phone", when=at("2026-03-29T06:30:00+00:00")), [])
    assert not d.allowed and d.next_allowed_at == at("2026-03-29T07:00:00+00:00")
    # 21:00 GMT the evening before is quiet ("from 21:00 on"); next is the same 07:00Z
    d = reference_decide(pol(HOURS), LONDON, req(channel="sms", when=at("2026-03-28T21:00:00+00:00")), [])
    assert not d.allowed and d.next_allowed_at == at("2026-03-29T07:00:00+00:00")
    assert reference_decide(pol(HOURS), LONDON, req(channel="sms", when=at("2026-03-28T20:59:59+00:00")), []).allowed
    assert reference_decide(pol(HOURS), LONDON, req(channel="email", when=at("2026-03-28T23:00:00+00:00")), []).allowed


def test_between_wraps_midnight():
    rule = 'quiet "night": no phone between 21:00 and 08:00'
    d = reference_decide(pol(rule), {}, req(channel="phone", when=at("2026-05-13T23:00:00+00:00")), [])
    assert not d.allowed and d.next_allowed_at == at("2026-05-14T08:00:00+00:00")
    assert reference_decide(pol(rule), {}, req(channel="phone", when=at("2026-05-13T08:00:00+00:00")), []).allowed


def test_repeated_hour_in_new_york_is_quiet_twice():
    # Clocks go back 2026-11-01 at 06:00Z (02:00 EDT -> 01:00 EST).
    rule = 'quiet "q": no phone between 01:00 and 01:30'
    ny = {"timezone": "America/New_York"}
    first = reference_decide(pol(rule), ny, req(channel="phone", when=at("2026-11-01T05:10:00+00:00")), [])
    assert first.next_allowed_at == at("2026-11-01T05:30:00+00:00")  # 01:30 EDT
    assert reference_decide(pol(rule), ny, req(channel="phone", when=at("2026-11-01T05:45:00+00:00")), []).allowed
    second = reference_decide(pol(rule), ny, req(channel="phone", when=at("2026-11-01T06:10:00+00:00")), [])
    assert second.next_allowed_at == at("2026-11-01T06:30:00+00:00")  # 01:30 EST


def test_skipped_hour_in_new_york_allows_from_the_change():
    # Clocks go forward 2026-03-08 at 07:00Z (02:00 EST -> 03:00 EDT); 02:30 never happens.
    rule = 'quiet "q": no phone between 01:00 and 02:30'
    d = reference_decide(pol(rule), {"timezone": "America/New_York"},
                         req(channel="phone", when=at("2026-03-08T06:30:00+00:00")), [])
    assert not d.allowed and d.next_allowed_at == at("2026-03-08T07:00:00+00:00")


def test_quiet_days_in_kolkata():
    rule = 'quiet "sundays": no marketing on sunday'
    kolkata = {"timezone": "Asia/Kolkata"}
    # 2026-06-07 is a Sunday; 20:00Z on it is Monday 01:30 IST
    assert reference_decide(pol(rule), kolkata, req(when=at("2026-06-07T20:00:00+00:00")), []).allowed
    d = reference_decide(pol(rule), kolkata, req(when=at("2026-06-06T20:00:00+00:00")), [])
    assert not d.allowed and d.next_allowed_at == at("2026-06-07T18:30:00+00:00")  # Monday 00:00 IST
    rule = 'quiet "hol": no marketing on 2026-06-08'
    d = reference_decide(pol(rule), kolkata, req(when=at("2026-06-07T20:00:00+00:00")), [])
    assert not d.allowed and d.next_allowed_at == at("2026-06-08T18:30:00+00:00")


def test_quiet_within_after_an_event_is_half_open():
    rule = 'quiet "complaint": no marketing within 30 days after complaint'
    assert reference_decide(pol(rule), {}, req(), [Event(T - 30 * D, "complaint")]).allowed
    d = reference_decide(pol(rule), {}, req(), [Event(T - 30 * D + S, "complaint")])
    assert not d.allowed and d.next_allowed_at == T + S
    # an event exactly at t is quiet; one after t is not yet
    assert not reference_decide(pol(rule), {}, req(), [Event(T, "complaint")]).allowed
    assert reference_decide(pol(rule), {}, req(), [Event(T + S, "complaint")]).allowed


def test_quiet_consecutive_days_after_a_conversation():
    rule = ('quiet "talked": no debt phone within 7 consecutive days after debt phone '
            "with outcome conversation")
    ny = {"timezone": "America/New_York"}
    talk = mk(at("2026-01-02T04:30:00+00:00"), "debt", "phone", "collect", outcome="conversation")  # 1 Jan local
    request = req("collect", "phone", "debt", at("2026-01-08T04:59:00+00:00"))  # 7 Jan 23:59 local
    d = reference_decide(pol(rule), ny, request, [talk])
    assert not d.allowed and d.next_allowed_at == at("2026-01-08T05:00:00+00:00")
    no_answer = attr_evolve(talk, outcome="no_answer")
    assert reference_decide(pol(rule), ny, request, [no_answer]).allowed


def attr_evolve(contact: Contact, **changes) -> Contact:
    import attrs

    return attrs.evolve(contact, **changes)


# ---- exclude, require, exclusive ----------------------------------------------------------------


def test_exclusion_never_lifts_by_waiting():
    rule = 'exclude "opted out": any when channel in customer.opted_out'
    d = reference_decide(pol(rule), {"opted_out": ["sms"]}, req(channel="sms"), [])
    assert (d.allowed, d.denied_by, d.next_allowed_at) == (False, ("opted out",), None)
    assert reference_decide(pol(rule), {"opted_out": ["sms"]}, req(channel="email"), []).allowed


REQUIRE = 'require "warn": debt sms after debt email at least 3 days before, within 30 days'


@pytest.mark.parametrize(
    ("sent_at", "status", "allowed", "next_at"),
    [
        (T - 3 * D, "sent", True, T),  # ends included
        (T - 30 * D, "sent", True, T),
        (T - 30 * D - S, "sent", False, None),  # too old: waiting never helps
        (T - 2 * D, "sent", False, T + D),  # too recent: allowed once it is 3 days old
        (T - 5 * D, "planned", False, None),  # a planned warning is no warning
    ],
)
def test_require_range(sent_at, status, allowed, next_at):
    ledger = [mk(sent_at, "debt", "email", "collect", status=status)]
    d = reference_decide(pol(REQUIRE), {}, req("collect", "sms", "debt"), ledger)
    assert (d.allowed, d.next_allowed_at) == (allowed, next_at)


def test_exclusive_other_teams_less_than_the_distance_away():
    rule = 'exclusive "one voice": marketing per 14 days'
    assert reference_decide(pol(rule), CUST, req(), [mk(T - 14 * D)]).allowed
    d = reference_decide(pol(rule), CUST, req(), [mk(T - 14 * D + S, status="sent")])
    assert not d.allowed and d.next_allowed_at == T + S
    assert reference_decide(pol(rule), CUST, req(), [mk(T - D, team="sales")]).allowed
    # a future contact of another team holds the request back too, until 14 days after it
    d = reference_decide(pol(rule), CUST, req(), [mk(T + D, team="collect")])
    assert not d.allowed and d.next_allowed_at == T + 15 * D


# ---- precedence, displacement, exemption -------------------------------------------------------------

CAP1 = 'cap "one a week": at most 1 marketing per 7 days'


def test_planned_lower_contact_is_displaced():
    planned = mk(T + D, status="planned")  # cards ranks below sales
    d = reference_decide(pol(CAP1), CUST, req(), [planned])
    assert d.allowed and d.displaces == (planned,)
    sent = mk(T + D)
    assert not reference_decide(pol(CAP1), CUST, req(), [sent]).allowed
    higher = mk(T + D, team="collect", status="planned")
    assert not reference_decide(pol(CAP1), CUST, req(), [higher]).allowed
    same = mk(T + D, team="sales", status="planned")
    assert not reference_decide(pol(CAP1), CUST, req(), [same]).allowed


def test_owner_takes_the_owner_place_in_precedence():
    # owner = cards: collect > cards > sales
    planned_sales = mk(T + D, team="sales", status="planned")
    d = reference_decide(pol(CAP1), {"owner": "cards"}, req(team="cards"), [planned_sales])
    assert d.allowed and d.displaces == (planned_sales,)
    planned_cards = mk(T + D, team="cards", status="planned")
    assert not reference_decide(pol(CAP1), {"owner": "cards"}, req(team="sales"), [planned_cards]).allowed


def test_a_lower_planned_contact_does_not_help_when_a_sent_one_denies_alone():
    sent = mk(T - D)
    planned = mk(T + D, status="planned")
    d = reference_decide(pol(CAP1), CUST, req(), [sent, planned])
    assert not d.allowed and d.displaces == ()
    # allowed again once the sent contact has left the window: t - D + 7D = t + 6D; by then
    # the planned contact is still in a window with the request, but it is displaced
    assert d.next_allowed_at == T + 6 * D


def test_displaced_contacts_come_in_time_order_and_quiet_after_displaces():
    rules = [CAP2, 'quiet "after": no marketing within 2 days after marketing sms']
    a = mk(T + 2 * D, status="planned")
    b = mk(T - D, channel="sms", status="planned")
    c = mk(T + D, status="planned")
    d = reference_decide(pol(*rules), CUST, req(), [a, b, c])
    assert d.allowed and d.displaces == (b, c, a)


def test_exempt_lifts_the_named_kind_for_matching_requests():
    rules = ['exclusive "one voice": marketing per 14 days', 'exempt "owner first": by owner from exclusive']
    other = mk(T - D, team="cards")
    assert reference_decide(pol(*rules), {"owner": "sales"}, req(team="sales"), [other]).allowed
    d = reference_decide(pol(*rules), {"owner": "collect"}, req(team="sales"), [other])
    assert d.denied_by == ("one voice",)
