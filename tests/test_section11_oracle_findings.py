"""Engine bugs the section 11 differential test (tests/test_differential_section11.py) found,
each written out by hand with its arithmetic. Each test fails with its fix reverted."""

from __future__ import annotations

import datetime as dt

import policylang
from policylang import clock

UTC = dt.timezone.utc
HEAD = """policy "p"
{zone}channels email
teams sales
purposes marketing
"""


def test_a_month_cap_denied_by_a_later_planned_contact_finds_its_next_allowed_time() -> None:
    # `at most 1 per 1 month`: a planned contact one minute after the request fills the window
    # from the request. The search used to step one microsecond at a time (it only looked at
    # contacts before the request), so the decision never returned. The window from u holds
    # the plan until u passes plan + 1 month: Mar 1 10:01 + 1 month = Apr 1 10:01 (UTC).
    policy = policylang.compile(HEAD.format(zone="") + 'cap "monthly": at most 1 marketing per 1 month\n')
    request = {"team": "sales", "channel": "email", "purpose": "marketing", "at": "2026-03-01T10:00:00+00:00"}
    ledger = [{"at": "2026-03-01T10:01:00+00:00", "channel": "email", "purpose": "marketing", "team": "sales",
               "status": "planned"}]
    decision = policy.decide({}, request, ledger)
    assert decision.denied_by == ("monthly",)
    assert decision.next_allowed_at == dt.datetime(2026, 4, 1, 10, 1, tzinfo=UTC)


def test_until_is_read_in_the_rules_own_zone() -> None:
    # 11.11: in force on [start of from-date, start of until-date) in the rule's `in zone`.
    # until 2026-06-10 in Kolkata (+05:30) is 2026-06-09 18:30Z; the `until` used to be read
    # in the policy's zone (UTC here: 06-10 00:00Z), so a request at 20:00Z was still capped.
    text = HEAD.format(zone="") + (
        'cap "c": at most 1 marketing per 1 day in zone "Asia/Kolkata" from 2026-06-01 until 2026-06-10\n')
    policy = policylang.compile(text)
    ledger = [{"at": "2026-06-09T12:00:00+00:00", "channel": "email", "purpose": "marketing", "team": "sales"}]
    before = {"team": "sales", "channel": "email", "purpose": "marketing", "at": "2026-06-09T18:29:00+00:00"}
    after = {**before, "at": "2026-06-09T18:30:00+00:00"}
    denied = policy.decide({}, before, ledger)
    assert denied.denied_by == ("c",)
    assert denied.next_allowed_at == dt.datetime(2026, 6, 9, 18, 30, tzinfo=UTC)  # the rule's end, not 06-10 00:00Z
    assert policy.decide({}, after, ledger).allowed


def test_an_exemption_windows_closing_date_is_read_in_the_rules_own_zone() -> None:
    # 11.5: a closing date starts "as in 11.11": in the rule's `in zone "NAME"`. Consent on
    # 06-08 opens a window closed by 2026-06-10, which in Kolkata starts 06-09 18:30Z.
    text = """policy "p"
channels email
teams sales
purposes marketing
events consent
cap "c": at most 1 marketing per 7 days
exempt "w": marketing from "c" after consent in zone "Asia/Kolkata" until 2026-06-10
"""
    policy = policylang.compile(text)
    ledger = [{"at": "2026-06-08T09:00:00+00:00", "event": "consent"},
              {"at": "2026-06-08T08:00:00+00:00", "channel": "email", "purpose": "marketing", "team": "sales",
               "status": "sent"}]
    request = {"team": "sales", "channel": "email", "purpose": "marketing"}
    # a contact before the consent counts; 18:29Z: the window is open, the cap is lifted;
    # 20:00Z: it closed at 18:30Z
    assert "c" not in policy.decide({}, {**request, "at": "2026-06-09T18:29:00+00:00"}, ledger).denied_by
    assert policy.decide({}, {**request, "at": "2026-06-09T20:00:00+00:00"}, ledger).denied_by == ("c",)


def test_months_from_the_second_of_a_repeated_hour_land_on_the_first() -> None:
    # 11.2: "a repeated [clock time] is the first". 2020-11-01 01:30 EST (06:30Z, the second
    # 01:30 of New York's fall-back night) + 72 months = 2026-11-01 01:30, whose first reading
    # is EDT: 05:30Z. The clock used to keep the source's fold and answer 06:30Z.
    tz = clock.zone("America/New_York")
    start = clock.micros(dt.datetime(2020, 11, 1, 6, 30, tzinfo=UTC))
    assert clock.instant(clock.plus_months(start, 72, tz)) == dt.datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


ZONED = """policy "p"
channels email
teams sales
purposes marketing
events complaint
customer
  timezone zones
"""
KOLKATA_FIRST = {"timezone": ["Asia/Kolkata", "America/New_York"]}
# Fri 2026-01-30 20:00 in New York is Sat 01-31 06:30 in Kolkata (01:00Z). + 1 month: in New York
# Feb 28 20:00 = Mar 1 01:00Z; in Kolkata Jan 31 -> Feb 28 06:30 = Feb 28 01:00Z. 11.7: a rule
# denies if it denies in any zone, so the month lasts until Mar 1 01:00Z. The rules below were
# judged in the first (display) zone only.
AT_NOON = {"team": "sales", "channel": "email", "purpose": "marketing", "at": "2026-02-28T12:00:00+00:00"}


def test_a_rolling_month_cap_is_judged_in_every_zone() -> None:
    policy = policylang.compile(ZONED + 'cap "m": at most 1 marketing per 1 month\n')
    ledger = [{"at": "2026-01-30T20:00:00-05:00", "channel": "email", "purpose": "marketing", "team": "sales"}]
    decision = policy.decide(KOLKATA_FIRST, AT_NOON, ledger)
    assert decision.denied_by == ("m",)
    assert decision.next_allowed_at == dt.datetime(2026, 3, 1, 1, 0, tzinfo=UTC)


def test_a_quiet_month_after_an_event_is_judged_in_every_zone() -> None:
    policy = policylang.compile(ZONED + 'quiet "q": no marketing within 1 month after complaint\n')
    ledger = [{"at": "2026-01-30T20:00:00-05:00", "event": "complaint"}]
    decision = policy.decide(KOLKATA_FIRST, AT_NOON, ledger)
    assert decision.denied_by == ("q",)
    assert decision.next_allowed_at == dt.datetime(2026, 3, 1, 1, 0, tzinfo=UTC)


def test_every_quiet_part_is_judged_in_every_zone() -> None:
    # 16:00Z is 11:00 in New York and 21:30 in Kolkata: outside 08:00-21:00 in Kolkata. The
    # first part (a fixed-length pause) reads no local time; the second one does. Next: 08:00
    # in Kolkata is 02:30Z, 21:30 in New York (outside); both inside from 13:00Z (08:00 EST,
    # 18:30 IST).
    policy = policylang.compile(ZONED + 'quiet "q": no marketing within 2 hours after complaint or outside 08:00-21:00\n')
    customer = {"timezone": ["America/New_York", "Asia/Kolkata"]}
    decision = policy.decide(customer, {**AT_NOON, "at": "2026-02-28T16:00:00+00:00"}, [])
    assert decision.denied_by == ("q",)
    assert decision.next_allowed_at == dt.datetime(2026, 3, 1, 13, 0, tzinfo=UTC)


def test_an_exemption_window_in_its_own_zone_excuses_only_contacts_inside_it_there() -> None:
    # 11.8: `in zone` makes the rule read local time there. Consent 2026-06-08 10:00Z is 15:30
    # in Kolkata: `within 1 consecutive days` ends at 06-09 00:00 IST = 06-08 18:30Z. A contact
    # at 20:00Z is outside it and counts (it used to be excused by the window as read in the
    # customer's New York zone, open until 06-09 04:00Z). It holds the cap until 06-15 20:00Z.
    text = """policy "p"
channels email
teams sales
purposes marketing
events consent
customer
  timezone zone
cap "c": at most 1 marketing per 7 days
exempt "w": marketing from "c" within 1 consecutive days after consent in zone "Asia/Kolkata"
"""
    policy = policylang.compile(text)
    ledger = [{"at": "2026-06-08T10:00:00+00:00", "event": "consent"},
              {"at": "2026-06-08T20:00:00+00:00", "channel": "email", "purpose": "marketing", "team": "sales"}]
    request = {"team": "sales", "channel": "email", "purpose": "marketing", "at": "2026-06-10T12:00:00+00:00"}
    decision = policy.decide({"timezone": "America/New_York"}, request, ledger)
    assert decision.denied_by == ("c",)
    assert decision.next_allowed_at == dt.datetime(2026, 6, 15, 20, 0, tzinfo=UTC)
    # inside the window (18:00Z) the same contact is excused
    inside = [ledger[0], {**ledger[1], "at": "2026-06-08T18:00:00+00:00"}]
    assert policy.decide({"timezone": "America/New_York"}, request, inside).allowed


def test_a_warn_rule_does_not_count_the_plans_the_decision_displaces() -> None:
    # 11.14: a warn rule "counts every planned contact this decision does not displace". The
    # cap displaces the lower team's plan (sales ranks below collect), so the warn rule, with
    # the same limit, sees no other contact that day and stays silent; counting the displaced
    # plan would warn.
    text = """policy "p"
channels email
teams sales, collect
purposes marketing
precedence collect > sales
cap "one a day":  at most 1 marketing per 1 day
cap "one a day, warned" warn:  at most 1 marketing per 1 day
"""
    policy = policylang.compile(text)
    ledger = [{"at": "2026-05-04T10:00:00+00:00", "channel": "email", "purpose": "marketing", "team": "sales",
               "status": "planned"}]
    request = {"team": "collect", "channel": "email", "purpose": "marketing", "at": "2026-05-04T12:00:00+00:00"}
    decision = policy.decide({}, request, ledger)
    assert decision.allowed and len(decision.displaces) == 1
    assert decision.warnings == ()
    # the same plan by an equal team is not displaced: denied, and the warn rule warns too
    decision = policy.decide({}, {**request, "team": "sales"}, ledger)
    assert decision.denied_by == ("one a day",) and decision.warnings == ("one a day, warned",)


def test_an_exemption_window_that_comes_into_force_later_excuses_then() -> None:
    # Consent 06-08 09:00Z opens a 3-day window (until 06-11 09:00Z); a contact at 10:00Z is
    # inside it. The exemption is in force from 2026-06-12 (UTC): before, the contact counts
    # (denied on 06-09); from 06-12 00:00Z it is excused, so that is next_allowed_at. The
    # search used to judge the exemption's scope at the request's instant and answered
    # 06-15 10:00Z, when the contact leaves the 7 days.
    text = """policy "p"
channels email
teams sales
purposes marketing
events consent
cap "c": at most 1 marketing per 7 days
exempt "w": marketing from "c" within 3 days after consent from 2026-06-12
"""
    policy = policylang.compile(text)
    ledger = [{"at": "2026-06-08T09:00:00+00:00", "event": "consent"},
              {"at": "2026-06-08T10:00:00+00:00", "channel": "email", "purpose": "marketing", "team": "sales"}]
    request = {"team": "sales", "channel": "email", "purpose": "marketing", "at": "2026-06-09T12:00:00+00:00"}
    decision = policy.decide({}, request, ledger)
    assert decision.denied_by == ("c",)
    assert decision.next_allowed_at == dt.datetime(2026, 6, 12, 0, 0, tzinfo=UTC)
    assert policy.decide({}, {**request, "at": "2026-06-12T00:00:00+00:00"}, ledger).allowed


def test_a_when_time_test_in_the_rules_zone_ends_the_wait_there() -> None:
    # Found by the differential test. asked_at 2026-10-02 00:00Z is Oct 1 20:00 in New York;
    # `within 1 month` in the rule's zone holds until Nov 1 20:00 EST = Nov 2 01:00Z (after
    # the fall-back night). The cap (a contact at 00:00Z, 90 minutes) would pass at 01:30Z, but
    # the rule stops applying at 01:00Z: that is next_allowed_at. The search used to compute
    # the test's change instant in the customer's zone (UTC here) and answered 01:30Z.
    text = """policy "p"
channels email
teams sales
purposes marketing
customer
  asked_at instant
cap "r0": at most 1 marketing email per 90 minutes in zone "America/New_York" when customer.asked_at within 1 month
"""
    policy = policylang.compile(text)
    ledger = [{"at": "2026-11-02T00:00:00+00:00", "channel": "email", "purpose": "marketing", "team": "sales"}]
    request = {"team": "sales", "channel": "email", "purpose": "marketing", "at": "2026-11-02T00:00:00+00:00"}
    decision = policy.decide({"asked_at": "2026-10-02T05:30:00+05:30"}, request, ledger)
    assert decision.denied_by == ("r0",)
    assert decision.next_allowed_at == dt.datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


def test_a_capacity_month_window_is_read_in_the_rules_own_zone() -> None:
    # 11.7: `in zone "America/New_York"` makes the rule read local time there, capacity too
    # (whose windows are otherwise read in the policy's zone, UTC here). A contact at
    # Feb 28 00:00 EST (05:00Z) leaves the 1-month window at Mar 28 00:00 EDT = 04:00Z (the
    # clocks went forward on Mar 8); read in UTC it left at 05:00Z, an hour late.
    policy = policylang.compile(HEAD.format(zone="") + (
        'capacity "desk": at most 1 marketing email per 1 month in zone "America/New_York"\n'))
    request = {"team": "sales", "channel": "email", "purpose": "marketing", "at": "2026-02-28T05:00:00+00:00"}
    ledger = [{"at": "2026-02-28T05:00:00+00:00", "channel": "email", "purpose": "marketing", "team": "sales"}]
    decision = policy.decide({}, request, ledger)
    assert decision.denied_by == ("desk",)
    assert decision.next_allowed_at == dt.datetime(2026, 3, 28, 4, 0, tzinfo=UTC)


CAPACITY_WHEN = """policy "p"
timezone "America/New_York"
channels email
teams sales
purposes marketing
customer
  timezone zones
  bought_on date
"""


def test_a_capacity_rules_when_reads_a_date_in_the_policys_zone() -> None:
    # Found by the differential test (a suite run of 2026-12-07). A capacity rule reads local
    # time in the policy's zone (section 2; 11.8 "on capacity: not in the policy's"), its `when`
    # included. bought_on 2026-01-29 starts at 00:00 EST = 05:00Z; + 2 months = Mar 29 00:00
    # EDT = 04:00Z, so at 01:00Z the purchase is still within 2 months and `not ... within`
    # is false: the rule is skipped. Read in Paris (the customer's first zone) the date started
    # at Jan 28 23:00Z and ended at Mar 29 00:00 CET = Mar 28 23:00Z (the clocks go forward at
    # 01:00Z): the condition held there, and the engine warned.
    policy = policylang.compile(CAPACITY_WHEN + (
        'capacity "r0" warn: at most 1 marketing email per 90 minutes when not customer.bought_on within 2 months\n'))
    customer = {"timezone": ["Europe/Paris", "America/New_York"], "bought_on": "2026-01-29"}
    at = "2026-03-29T01:00:00+00:00"
    request = {"team": "sales", "channel": "email", "purpose": "marketing", "at": at}
    ledger = [{"at": at, "channel": "email", "purpose": "marketing", "team": "sales", "id": "c-10"}]
    decision = policy.decide(customer, request, ledger)
    assert decision.allowed
    assert decision.warnings == ()
    assert policylang.compile(CAPACITY_WHEN + (
        'capacity "r0": at most 1 marketing email per 90 minutes when not customer.bought_on within 2 months\n'
    )).decide(customer, request, ledger).allowed


def test_a_capacity_rules_when_ends_at_its_instant_in_the_policys_zone() -> None:
    # One customer zone, Paris. bought_on 2026-02-28 + 1 month, read in New York (the policy's
    # zone): Feb 28 00:00 EST = 05:00Z, + 1 month = Mar 28 00:00 EDT = 04:00Z. At Mar 28 00:00Z
    # the rule applies and the contact of Mar 27 12:00Z fills the day's window: denied, and
    # the rule stops applying at 04:00Z (before the window frees at 12:00Z). Read in Paris the
    # test had ended at Mar 27 23:00Z and the request was allowed.
    policy = policylang.compile(CAPACITY_WHEN + (
        'capacity "r0": at most 1 marketing email per 1 day when customer.bought_on within 1 month\n'))
    customer = {"timezone": "Europe/Paris", "bought_on": "2026-02-28"}
    request = {"team": "sales", "channel": "email", "purpose": "marketing", "at": "2026-03-28T00:00:00+00:00"}
    ledger = [{"at": "2026-03-27T12:00:00+00:00", "channel": "email", "purpose": "marketing", "team": "sales"}]
    decision = policy.decide(customer, request, ledger)
    assert decision.denied_by == ("r0",)
    assert decision.next_allowed_at == dt.datetime(2026, 3, 28, 4, 0, tzinfo=UTC)


def test_a_capacity_rules_absent_zone_attribute_falls_back_to_every_customer_zone() -> None:
    # 11.8: `in zone customer.ATTR` with the attribute absent falls back to the customer's zones
    # (capacity too), each of them (11.7). A contact Feb 8 12:00Z + 1 month: 07:00 EST -> Mar 8
    # 07:00 EDT = 11:00Z in New York, 13:00 CET -> Mar 8 13:00 CET = 12:00Z in Paris. The rule
    # passes once it passes in both: 12:00Z (it was judged in the display zone only: 11:00Z).
    policy = policylang.compile(CAPACITY_WHEN + "  work_zone zone\n" + (
        'capacity "r0": at most 1 marketing email per 1 month in zone customer.work_zone\n'))
    customer = {"timezone": ["America/New_York", "Europe/Paris"]}
    request = {"team": "sales", "channel": "email", "purpose": "marketing", "at": "2026-03-08T10:00:00+00:00"}
    ledger = [{"at": "2026-02-08T12:00:00+00:00", "channel": "email", "purpose": "marketing", "team": "sales"}]
    decision = policy.decide(customer, request, ledger)
    assert decision.denied_by == ("r0",)
    assert decision.next_allowed_at == dt.datetime(2026, 3, 8, 12, 0, tzinfo=UTC)


def test_a_request_for_two_campaigns_displaces_the_plans_of_both_groups() -> None:
    # 11.3 with precedence: a request for campaigns a and b under `for each campaign` meets a
    # plan of campaign b (cards) and one of campaign a (sales), both ranked below collect, at
    # its own instant. Each group is full, so both plans must go; only the first denying
    # group's plan (a's) used to be listed, and the request was granted over b's plan.
    policy = policylang.compile(
        'policy "p"\nchannels email\nteams sales, cards, collect\npurposes marketing\n'
        "precedence collect > cards\n"
        'cap "r0": at most 1 marketing email per 90 minutes for each campaign\n')
    request = {"team": "collect", "channel": "email", "purpose": "marketing", "at": "2026-03-08T00:00:00+00:00",
               "campaign": ["a", "b"]}
    plan = {"at": "2026-03-08T00:00:00+00:00", "channel": "email", "purpose": "marketing", "status": "planned"}
    ledger = [{**plan, "team": "cards", "id": "c-3", "campaign": "b"},
              {**plan, "team": "sales", "id": "c-4", "campaign": "a"}]
    decision = policy.decide({}, request, ledger)
    assert decision.allowed
    assert [c.id for c in decision.displaces] == ["c-3", "c-4"]
