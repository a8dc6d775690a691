"""Real contact rules written as policies, with expectations worked out by hand.

Sources (rule text as summarised in the comments; the expectations below are computed from
the rules, never copied from the evaluator):

* US Regulation F, 12 CFR 1006.14(b)(2)(i): a debt collector is presumed to violate the ban on
  repeated or continuous calls if it places a telephone call to a person about a particular
  debt (A) more than seven times within seven consecutive days, or (B) within a period of seven
  consecutive days after having had a telephone conversation with the person about the debt;
  for (B) "the date of the telephone conversation is the first day of the seven-consecutive-day
  period". Counting is per particular debt (comment 14(b)(2)(i)-1, "particular debt"), which
  the policy expresses with `for each campaign`, the campaign being the debt's reference.
* 12 CFR 1006.6(b)(1)(i): absent knowledge to the contrary, a time before 8:00 a.m. and after
  9:00 p.m. local time at the consumer's location is inconvenient.
* TCPA rules, 47 CFR 64.1200(c)(1): no telephone solicitation to a residential subscriber before
  8 a.m. or after 9 p.m. local time at the called party's location.
* docs/language.md sections 1, 2 and 8: the project's own stories and the `ada` scenario.

The worked examples are in the shape of the official interpretation's examples (a run of calls
across a week, a conversation on day one): they are this file's own, computed day by day.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import policylang
from policylang.records import Contact, Event, Request

UTC = dt.timezone.utc
NEW_YORK = {"timezone": "America/New_York"}
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

REG_F = """policy "Regulation F call frequency and times"
channels phone, sms, email, letter
teams collections
purposes debt
outcomes conversation, no_answer, voicemail

customer
  timezone zone

# 12 CFR 1006.14(b)(2)(i)(A): more than seven calls within seven consecutive days, per debt
cap "seven in seven": at most 7 debt phone per 7 consecutive days for each campaign
# 12 CFR 1006.14(b)(2)(i)(B): the date of the conversation is day one of the seven
quiet "after a conversation": no debt phone within 7 consecutive days after debt phone with outcome conversation
# 12 CFR 1006.6(b)(1)(i): before 8 a.m. and after 9 p.m. at the consumer's location
quiet "inconvenient times": no debt outside 08:00-21:00
"""


def ny(text: str) -> dt.datetime:
    """A New York wall-clock time (June 2021: EDT, UTC-4; the zone does the conversion)."""
    from zoneinfo import ZoneInfo

    return dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("America/New_York"))


def call(at: dt.datetime, debt: str = "card-1", outcome: str | None = "no_answer") -> Contact:
    return Contact(at=at, channel="phone", purpose="debt", team="collections", outcome=outcome, campaign=debt)


def call_request(at: dt.datetime, debt: str = "card-1", channel: str = "phone") -> Request:
    return Request(team="collections", channel=channel, purpose="debt", at=at, campaign=debt)


@pytest.fixture(scope="module")
def reg_f() -> policylang.Policy:
    return policylang.compile(REG_F, "reg_f.pol")


# ---- 1006.14(b)(2)(i)(A): seven calls within seven consecutive days ---------------------------------


def test_the_eighth_call_in_seven_consecutive_days_is_refused(reg_f):
    # One unanswered call a day, Monday 7 June to Sunday 13 June 2021, at 10:00.
    ledger = [call(ny(f"2021-06-{day:02d}T10:00")) for day in range(7, 14)]
    eighth = reg_f.decide(NEW_YORK, call_request(ny("2021-06-13T15:00")), ledger)
    assert eighth.denied_by == ("seven in seven",)
    # Monday 14 June: every run of seven dates that includes it (8-14 ... 14-20) holds at most
    # six calls (8-13), so the next call is presumed compliant from the start of the 14th --
    # but 00:00 is an inconvenient time, so the earliest is 08:00 EDT (12:00Z).
    assert eighth.next_allowed_at == dt.datetime(2021, 6, 14, 12, 0, tzinfo=UTC)


def test_seven_calls_on_one_day_allow_no_eighth_for_the_week(reg_f):
    # Seven calls on Monday 7 June, the last at 20:30.
    ledger = [call(ny(f"2021-06-07T{hour:02d}:30")) for hour in (8, 10, 12, 14, 16, 18, 20)]
    for day in range(7, 14):  # any date from the 7th to the 13th shares a run with the 7th
        assert not reg_f.decide(NEW_YORK, call_request(ny(f"2021-06-{day:02d}T12:00")), ledger).allowed
    # the run 8-14 June holds none of them
    assert reg_f.decide(NEW_YORK, call_request(ny("2021-06-14T08:00")), ledger).allowed


def test_seven_call_limit_is_counted_per_debt(reg_f):
    ledger = [call(ny(f"2021-06-{day:02d}T10:00"), debt="card-1") for day in range(7, 14)]
    other_debt = reg_f.decide(NEW_YORK, call_request(ny("2021-06-13T15:00"), debt="medical-9"), ledger)
    assert other_debt.allowed


def test_consecutive_days_are_local_dates_not_utc_dates(reg_f):
    # A call at 23:30 EDT on Sunday 6 June is 03:30Z on the 7th: it belongs to the 6th locally.
    ledger = [call(ny("2021-06-06T23:30"))] + [call(ny(f"2021-06-{day:02d}T10:00")) for day in range(7, 13)]
    # seven calls on local dates 6..12; a call on the 13th shares runs 7-13 (six calls) only
    assert reg_f.decide(NEW_YORK, call_request(ny("2021-06-13T10:00")), ledger).allowed
    # ... while on the 12th the run 6-12 holds all seven
    assert not reg_f.decide(NEW_YORK, call_request(ny("2021-06-12T15:00")), ledger).allowed


# ---- 1006.14(b)(2)(i)(B): no call within seven consecutive days after a conversation ------------------


def test_no_call_for_seven_days_counting_the_day_of_the_conversation(reg_f):
    # Conversation on Tuesday 1 June 2021 at 15:00; days one to seven are 1-7 June.
    talk = call(ny("2021-06-01T15:00"), outcome="conversation")
    late_on_day_seven = reg_f.decide(NEW_YORK, call_request(ny("2021-06-07T20:00")), [talk])
    assert late_on_day_seven.denied_by == ("after a conversation",)
    # allowed from the start of 8 June, which is inconvenient until 08:00 EDT (12:00Z)
    assert late_on_day_seven.next_allowed_at == dt.datetime(2021, 6, 8, 12, 0, tzinfo=UTC)
    assert reg_f.decide(NEW_YORK, call_request(ny("2021-06-08T08:00")), [talk]).allowed


def test_an_unanswered_call_starts_no_quiet_period(reg_f):
    missed = call(ny("2021-06-01T15:00"), outcome="no_answer")
    assert reg_f.decide(NEW_YORK, call_request(ny("2021-06-02T10:00")), [missed]).allowed


def test_after_a_conversation_email_is_still_possible(reg_f):
    # the conversation rule is about telephone calls only
    talk = call(ny("2021-06-01T15:00"), outcome="conversation")
    assert reg_f.decide(NEW_YORK, call_request(ny("2021-06-02T10:00"), channel="email"), [talk]).allowed


# ---- 1006.6(b)(1)(i) and TCPA 64.1200(c)(1): calling hours at the consumer's location -------------------


@pytest.mark.parametrize(
    ("local", "allowed"),
    [("07:59", False), ("08:00", True), ("20:59", True), ("21:00", False), ("23:00", False), ("03:00", False)],
)
def test_inconvenient_times_in_the_consumers_zone(reg_f, local, allowed):
    # 21:00 itself is treated as quiet ("outside 08:00-21:00" is quiet from 21:00 on): the
    # conservative reading of "after 9 p.m."
    when = ny(f"2021-06-08T{local}")
    assert reg_f.decide(NEW_YORK, call_request(when), []).allowed is allowed


def test_the_consumers_zone_not_the_collectors(reg_f):
    # 10:30 in New York is 07:30 in Los Angeles: too early for a consumer there
    when = ny("2021-06-08T10:30")
    la = reg_f.decide({"timezone": "America/Los_Angeles"}, call_request(when), [])
    assert la.denied_by == ("inconvenient times",)
    assert la.next_allowed_at == dt.datetime(2021, 6, 8, 15, 0, tzinfo=UTC)  # 08:00 PDT


TCPA = """policy "TCPA calling hours"
channels phone, sms, email
teams sales
purposes marketing, servicing
customer
  timezone zone
# 47 CFR 64.1200(c)(1): telephone solicitations only from 8 a.m. to 9 p.m. at the called party
quiet "tcpa calling hours": no marketing phone outside 08:00-21:00
"""


def test_tcpa_calling_hours_follow_the_called_party_across_a_dst_change():
    policy = policylang.compile(TCPA, "tcpa.pol")
    # Sunday 8 March 2026, clocks in New York go from 02:00 EST to 03:00 EDT (07:00Z).
    # At 11:30Z it is 07:30 EDT: too early; 08:00 EDT is 12:00Z (not 13:00Z as it was the day before).
    early = policy.decide(NEW_YORK, Request("sales", "phone", "marketing", dt.datetime(2026, 3, 8, 11, 30, tzinfo=UTC)), [])
    assert early.denied_by == ("tcpa calling hours",)
    assert early.next_allowed_at == dt.datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
    # servicing calls and marketing email are not telephone solicitations
    at = dt.datetime(2026, 3, 8, 11, 30, tzinfo=UTC)
    assert policy.decide(NEW_YORK, Request("sales", "phone", "servicing", at), []).allowed
    assert policy.decide(NEW_YORK, Request("sales", "email", "marketing", at), []).allowed


# ---- the project's stories, on the Northwind policy ---------------------------------------------------


@pytest.fixture(scope="module")
def northwind() -> policylang.Policy:
    return policylang.load(EXAMPLES / "northwind.pol")


def contact(at, purpose, channel, team, **kw) -> Contact:
    return Contact(at=at, channel=channel, purpose=purpose, team=team, **kw)


def test_two_divisions_one_sales_call(northwind):
    # Private banking calls on Monday 23 November 2026 at 15:00 (New York, the policy zone);
    # wealth management wants to call the next morning. The customer is owned by service.
    first = contact(ny("2026-11-23T15:00"), "marketing", "phone", "private_banking")
    second = Request("wealth_management", "phone", "marketing", ny("2026-11-24T10:00"))
    decision = northwind.decide({"owner": "service"}, second, [first])
    # weekly sales-call cap, and "one voice" (another team's offer less than 14 days away)
    assert decision.denied_by == ("one sales call a week", "one voice")
    reason = {t.rule: t.reason for t in decision.trace}["one sales call a week"]
    assert "private_banking" in reason
    # "one voice" holds until 7 December 15:00 EST (20:00Z), a Monday, inside calling hours
    assert decision.next_allowed_at == dt.datetime(2026, 12, 7, 20, 0, tzinfo=UTC)


def test_once_one_team_made_an_offer_the_others_wait_for_the_cycle(northwind):
    # Cards emails an offer on Wednesday 4 November 2026 at 10:00 EST; growth wants to on the 7th.
    offer = contact(ny("2026-11-04T10:00"), "marketing", "email", "cards")
    ask = Request("growth", "email", "marketing", ny("2026-11-07T10:00"))
    decision = northwind.decide({"owner": "service"}, ask, [offer])
    assert decision.denied_by == ("one voice",)
    # exactly 14 days after the offer: Wednesday 18 November 10:00 EST = 15:00Z
    assert decision.next_allowed_at == dt.datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
    # cards itself may follow up (same team), within its own caps
    assert northwind.decide({"owner": "service"}, Request("cards", "email", "marketing", ny("2026-11-07T10:00")), [offer]).allowed


def test_collections_sms_needs_an_earlier_email_warning(northwind):
    sms = Request("collections", "sms", "debt", ny("2026-11-21T10:00"))
    nothing = northwind.decide({}, sms, [])
    assert nothing.denied_by == ("warn before sms",)
    assert nothing.next_allowed_at is None  # waiting does not create a warning
    warned = contact(ny("2026-11-17T10:00"), "debt", "email", "collections")
    assert northwind.decide({}, sms, [warned]).allowed  # four days before: inside [t-30d, t-3d]
    # a warning only one day old: allowed once it is three days old, 23 November 10:00 EST
    fresh = contact(ny("2026-11-20T10:00"), "debt", "email", "collections")
    waiting = northwind.decide({}, sms, [fresh])
    assert waiting.denied_by == ("warn before sms",)
    assert waiting.next_allowed_at == dt.datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    # a planned (not yet sent) warning is no warning
    planned = contact(ny("2026-11-17T10:00"), "debt", "email", "collections", status="planned")
    assert not northwind.decide({}, sms, [planned]).allowed


def test_seventeen_offers_in_three_weeks_are_cut_to_the_cap(northwind):
    # Growth asks to email an offer every day at 10:00 EST from Monday 2 November 2026 for three
    # weeks, Sundays off: 2-7, 9-14, 16-20 November = 17 requests. Each granted offer is sent.
    days = [d for d in range(2, 21) if d not in (8, 15)]
    assert len(days) == 17
    ledger: list[Contact] = []
    granted = []
    for day in days:
        ask = Request("growth", "email", "marketing", ny(f"2026-11-{day:02d}T10:00"))
        if northwind.decide({"owner": "service"}, ask, ledger).allowed:
            ledger.append(contact(ask.at, "marketing", "email", "growth"))
            granted.append(day)
    # 2nd, 3rd: granted. 4th-7th: "emails per team" already has 2 in 7 days. 9th: the 2nd is
    # exactly 7 days old and has left the window (1 email left), 2 offers in 30 days -> granted.
    # From the 10th on: 3 offers in 30 days ("offers per month") -> refused.
    assert granted == [2, 3, 9]


# ---- docs/language.md section 8: the ada scenario ------------------------------------------------------------


@pytest.fixture
def ada():
    customer = {"timezone": "Europe/London", "status": "active", "owner": "wealth_management"}
    call_ = contact(dt.datetime(2026, 11, 23, 15, 0, tzinfo=UTC), "marketing", "phone", "private_banking")
    email = contact(dt.datetime(2026, 11, 26, 10, 0, tzinfo=UTC), "marketing", "email", "growth", status="planned")
    ledger = [call_, Event(dt.datetime(2026, 10, 1, 8, 0, tzinfo=UTC), "complaint"), email]  # 09:00 BST
    now = dt.datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # 10:00 in London (GMT)
    return customer, ledger, now, email


def test_ada_wealth_management_call_is_denied_by_the_weekly_cap_only(northwind, ada):
    customer, ledger, now, _ = ada
    decision = northwind.decide(customer, Request("wealth_management", "phone", "marketing", now), ledger)
    # the owner is exempt from "one voice"; the complaint's 30 days ended on 31 October
    assert decision.denied_by == ("one sales call a week",)


def test_ada_servicing_email_is_allowed(northwind, ada):
    customer, ledger, now, _ = ada
    assert northwind.decide(customer, Request("service", "email", "servicing", now), ledger).allowed


def test_ada_call_a_week_later_is_allowed(northwind, ada):
    customer, ledger, _, _ = ada
    # 30 November 15:00 is exactly 7 days after private banking's call: it no longer counts
    later = dt.datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    decision = northwind.decide(customer, Request("wealth_management", "phone", "marketing", later), ledger)
    assert decision.allowed and decision.displaces == ()


def test_ada_cards_waits_for_one_voice_and_displaces_growth(northwind, ada):
    customer, ledger, now, email = ada
    decision = northwind.decide(customer, Request("cards", "phone", "marketing", now), ledger)
    assert not decision.allowed
    # 14 days after private banking's call (which outranks cards); growth's planned email
    # ranks below cards and does not hold the request back
    assert decision.next_allowed_at == dt.datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    then = northwind.decide(customer, Request("cards", "phone", "marketing", decision.next_allowed_at), ledger)
    assert then.allowed and then.displaces == (email,)
