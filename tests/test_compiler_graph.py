"""What the forms of docs/language.md sections 2-6 compile to: the rule graph's objects.

Expected values are worked out from the language reference (7 days = 604800 s, 08:00 is
minute 480, Sunday is weekday 6, ...), not copied from the compiler.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policylang.compiler import compile_policy
from policylang.evaluator import holds
from policylang.records import Request
from policylang.rules import (
    AfterTrigger,
    AttrSpec,
    Calendar,
    CapRule,
    ClockRange,
    Consecutive,
    DaySet,
    ExcludeRule,
    ExclusiveRule,
    ExemptRule,
    Match,
    Policy,
    QuietRule,
    RequireRule,
    Rolling,
)

NORTHWIND = Path(__file__).parent.parent / "examples" / "northwind.pol"
DAY = 86400
AT = dt.datetime(2026, 11, 24, 10, tzinfo=dt.timezone.utc)

HEAD = """channels  email, sms, phone, letter
teams     cards, growth, service, collections
purposes  marketing, debt, transactional
outcomes  conversation
events    complaint
customer
  owner     team
  status    one of active, dormant, deceased
  dnc       flag
  age       number
  since     date
  note      text
  opted     set of channel
  seen      set of team
owner is customer.owner
"""


@pytest.fixture(scope="module")
def northwind() -> Policy:
    return compile_policy(NORTHWIND.read_text(), str(NORTHWIND))


def only_rule(text: str) -> object:
    (rule,) = compile_policy(HEAD + text + "\n").rules
    return rule


def request(purpose: str = "marketing", channel: str = "phone", team: str = "cards") -> Request:
    return Request(team, channel, purpose, AT)


# ---- section 2/3: declarations ---------------------------------------------------------


def test_northwind_declarations(northwind: Policy) -> None:
    assert northwind.title == "Northwind Bank customer contact policy"
    assert northwind.timezone == "America/New_York"
    assert northwind.channels == ("email", "sms", "phone", "letter", "push")
    assert northwind.teams == ("private_banking", "wealth_management", "cards", "collections", "growth", "service")
    assert northwind.purposes == ("marketing", "servicing", "debt", "transactional")
    assert northwind.outcomes == ("delivered", "conversation", "no_answer")
    assert northwind.events == ("complaint", "bereavement")
    assert northwind.attributes == {
        "timezone": AttrSpec("timezone", "zone"),
        "status": AttrSpec("status", "enum", frozenset({"active", "dormant", "in_collections", "deceased"})),
        "do_not_call": AttrSpec("do_not_call", "flag"),
        "owner": AttrSpec("owner", "team"),
        "opted_out": AttrSpec("opted_out", "set", element="channel"),
        "age": AttrSpec("age", "number"),
    }
    assert northwind.owner_attribute == "owner"
    assert len(northwind.rules) == 20
    assert [r.index for r in northwind.rules] == list(range(20))


# ---- section 4: selectors --------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "match"),
    [
        ("marketing phone", Match(purposes=frozenset({"marketing"}), channels=frozenset({"phone"}))),
        ("phone, sms", Match(channels=frozenset({"phone", "sms"}))),
        ("marketing email, sms", Match(purposes=frozenset({"marketing"}), channels=frozenset({"email", "sms"}))),
        ("marketing by growth, cards", Match(purposes=frozenset({"marketing"}), teams=frozenset({"growth", "cards"}))),
        ("debt sms", Match(purposes=frozenset({"debt"}), channels=frozenset({"sms"}))),
        ("any", Match()),
        ("any except transactional", Match(except_purposes=frozenset({"transactional"}))),
        ("by owner", Match(by_owner=True)),
        ("by owner, cards", Match(teams=frozenset({"cards"}), by_owner=True)),
        ("any except owner", Match(except_owner=True)),
        ("cards sms", Match(channels=frozenset({"sms"}), teams=frozenset({"cards"}))),
    ],
)
def test_selectors_compile_to_matches(selector: str, match: Match) -> None:
    rule = only_rule(f'exclusive "x": {selector} per 1 day')
    assert isinstance(rule, ExclusiveRule)
    assert attrs_without_text(rule.match) == attrs_without_text(match)


def attrs_without_text(match: Match) -> tuple[object, ...]:
    return (match.purposes, match.channels, match.teams, match.by_owner, match.except_purposes,
            match.except_channels, match.except_teams, match.except_owner)


PURPOSES = ("marketing", "debt", "transactional")
CHANNELS = ("email", "sms", "phone", "letter")
TEAMS = ("cards", "growth", "service", "collections")


@settings(max_examples=150, deadline=None)
@given(
    st.sets(st.sampled_from(PURPOSES)), st.sets(st.sampled_from(CHANNELS)), st.sets(st.sampled_from(TEAMS)),
    st.sampled_from(PURPOSES), st.sampled_from(CHANNELS), st.sampled_from(TEAMS),
)
def test_names_of_one_kind_or_kinds_and(
    purposes: set[str], channels: set[str], teams: set[str], purpose: str, channel: str, team: str
) -> None:
    words = sorted(purposes) + sorted(channels)
    text = " ".join(words) + (" by " + ", ".join(sorted(teams)) if teams else "")
    if not text:
        text = "any"
    rule = only_rule(f'exclusive "x": {text} per 1 day')
    assert isinstance(rule, ExclusiveRule)
    expected = (
        (not purposes or purpose in purposes)
        and (not channels or channel in channels)
        and (not teams or team in teams)
    )
    assert rule.match.matches(purpose, channel, team, None) == expected


# ---- section 5: rules ------------------------------------------------------------------


def test_northwind_caps(northwind: Policy) -> None:
    weekly = northwind.rule("one sales call a week")
    assert isinstance(weekly, CapRule)
    assert (weekly.kind, weekly.limit, weekly.window.__class__, weekly.group) == ("cap", 1, Rolling, None)
    assert isinstance(weekly.window, Rolling) and weekly.window.seconds == 7 * DAY
    assert weekly.match.purposes == {"marketing"} and weekly.match.channels == {"phone"}
    monthly = northwind.rule("offers per month")
    assert isinstance(monthly, CapRule) and monthly.limit == 3
    assert isinstance(monthly.window, Rolling) and monthly.window.seconds == 30 * DAY
    per_team = northwind.rule("emails per team")
    assert isinstance(per_team, CapRule) and per_team.group == "team"
    quarter = northwind.rule("letters per quarter")
    assert isinstance(quarter, CapRule) and isinstance(quarter.window, Calendar) and quarter.window.unit == "quarter"
    seven = northwind.rule("seven in seven")
    assert isinstance(seven, CapRule) and isinstance(seven.window, Consecutive) and seven.window.days == 7
    centre = northwind.rule("call centre")
    assert isinstance(centre, CapRule) and centre.kind == "capacity" and centre.limit == 200
    assert centre.match.teams == {"service"} and centre.match.channels == {"phone"}
    assert isinstance(centre.window, Calendar) and centre.window.unit == "week"


@pytest.mark.parametrize(
    ("window", "seconds"),
    [("90 minutes", 5400), ("1 minute", 60), ("36 hours", 129600), ("1 hour", 3600), ("2 weeks", 1209600), ("1 day", DAY)],
)
def test_rolling_window_lengths(window: str, seconds: int) -> None:
    rule = only_rule(f'cap "c": at most 2 marketing per {window} for each campaign')
    assert isinstance(rule, CapRule) and isinstance(rule.window, Rolling)
    assert rule.window.seconds == seconds and rule.group == "campaign"


@pytest.mark.parametrize("unit", ["day", "week", "month", "quarter", "year"])
def test_calendar_windows(unit: str) -> None:
    rule = only_rule(f'capacity "c": at most 5 sms per calendar {unit} for each channel')
    assert isinstance(rule, CapRule) and rule.window == Calendar(unit, f"calendar {unit}")


def test_clock_ranges(northwind: Policy) -> None:
    hours = northwind.rule("calling hours")
    assert isinstance(hours, QuietRule) and hours.match.channels == {"phone", "sms"}
    assert hours.period == ClockRange(480, 1260, quiet_inside=False)
    assert [hours.period.quiet(m) for m in (0, 479, 480, 1259, 1260, 1439)] == [True, True, False, False, True, True]
    night = only_rule('quiet "night": no phone between 21:00 and 08:00')
    assert isinstance(night, QuietRule) and night.period == ClockRange(1260, 480, quiet_inside=True)
    assert isinstance(night.period, ClockRange)
    assert [night.period.quiet(m) for m in (1259, 1260, 0, 479, 480, 720)] == [False, True, True, True, False, False]
    late = only_rule('quiet "late": no phone outside 9:30-24:00')
    assert isinstance(late, QuietRule) and late.period == ClockRange(570, 1440, quiet_inside=False)


def test_day_sets(northwind: Policy) -> None:
    sundays = northwind.rule("sundays")
    assert isinstance(sundays, QuietRule) and sundays.period == DaySet(frozenset({6}), frozenset())
    holidays = northwind.rule("holidays")
    assert isinstance(holidays, QuietRule)
    assert holidays.period == DaySet(frozenset(), frozenset({dt.date(2026, 12, 25), dt.date(2027, 1, 1)}))
    weekend = only_rule('quiet "w": no marketing on weekend, monday, 2026-07-04')
    assert isinstance(weekend, QuietRule)
    assert weekend.period == DaySet(frozenset({5, 6, 0}), frozenset({dt.date(2026, 7, 4)}))
    assert isinstance(weekend.period, DaySet) and weekend.period.quiet(dt.date(2026, 11, 28))  # a Saturday


def test_quiet_after_event_and_after_contact(northwind: Policy) -> None:
    complaint = northwind.rule("after a complaint")
    assert isinstance(complaint, QuietRule) and isinstance(complaint.period, AfterTrigger)
    assert (complaint.period.seconds, complaint.period.days, complaint.period.event) == (30 * DAY, None, "complaint")
    assert complaint.period.trigger is None and complaint.period.outcome is None
    talk = northwind.rule("after a conversation")
    assert isinstance(talk, QuietRule) and isinstance(talk.period, AfterTrigger)
    assert (talk.period.seconds, talk.period.days, talk.period.event, talk.period.outcome) == (None, 7, None, "conversation")
    assert talk.period.trigger is not None
    assert talk.period.trigger.purposes == {"debt"} and talk.period.trigger.channels == {"phone"}
    short = only_rule('quiet "s": no sms within 90 minutes after sms by cards')
    assert isinstance(short, QuietRule) and isinstance(short.period, AfterTrigger)
    assert short.period.seconds == 5400 and short.period.trigger is not None and short.period.trigger.teams == {"cards"}


def test_exclude_conditions_follow_section_5(northwind: Policy) -> None:
    dnc = northwind.rule("do not call")
    assert isinstance(dnc, ExcludeRule) and dnc.attributes == ("do_not_call",)
    assert holds(dnc.condition, {"do_not_call": True}, request()) is True
    assert holds(dnc.condition, {"do_not_call": False}, request()) is False
    assert holds(dnc.condition, {}, request()) is False  # a missing flag is false
    opted = northwind.rule("opted out")
    assert isinstance(opted, ExcludeRule)
    assert holds(opted.condition, {"opted_out": frozenset({"sms"})}, request(channel="sms"))
    assert not holds(opted.condition, {"opted_out": frozenset({"sms"})}, request(channel="email"))
    assert not holds(opted.condition, {}, request(channel="sms"))  # a missing set is empty
    minors = northwind.rule("minors")
    assert isinstance(minors, ExcludeRule)
    assert [holds(minors.condition, {"age": a}, request()) for a in (17, 17.9, 18, 40)] == [True, True, False, False]
    assert holds(minors.condition, {}, request()) is False  # comparison with an absent value is false
    deceased = northwind.rule("deceased")
    assert isinstance(deceased, ExcludeRule)
    assert deceased.match.purposes is None and deceased.match.except_purposes == {"transactional"}


@pytest.mark.parametrize(
    ("condition", "customer", "channel", "expected"),
    [
        ("customer.status is not deceased", {"status": "active"}, "sms", True),
        ("customer.status is not deceased", {"status": "deceased"}, "sms", False),
        ("customer.status is not deceased", {}, "sms", False),
        ("customer.status in (active, dormant)", {"status": "dormant"}, "sms", True),
        ("customer.status not in (active, dormant)", {"status": "dormant"}, "sms", False),
        ("customer.age >= 65 and customer.age <= 70", {"age": 65}, "sms", True),
        ("customer.age == 3 or customer.age != 3", {"age": 4}, "sms", True),
        ("customer.age is 3", {"age": 3}, "sms", True),
        ("customer.since < 2026-01-01", {"since": dt.date(2025, 12, 31)}, "sms", True),
        ("customer.since > 2026-01-01", {"since": dt.date(2025, 12, 31)}, "sms", False),
        ("team in customer.seen", {"seen": frozenset({"cards"})}, "sms", True),
        ("team not in customer.seen", {"seen": frozenset({"cards"})}, "sms", False),
        ("channel not in customer.opted", {"opted": frozenset({"email"})}, "sms", True),
        ("not (customer.dnc or customer.age < 18)", {"dnc": False, "age": 30}, "sms", True),
        ("not customer.dnc and customer.age < 18", {"dnc": False, "age": 30}, "sms", False),
        ("customer.dnc or customer.age < 18 and customer.status is active", {"dnc": True}, "sms", True),
        ('customer.note is "vip \\"gold\\""', {"note": 'vip "gold"'}, "sms", True),
        ("customer.owner is cards", {"owner": "cards"}, "sms", True),
    ],
)
def test_condition_values(condition: str, customer: dict[str, object], channel: str, expected: bool) -> None:
    rule = only_rule(f'exclude "x": any when {condition}')
    assert isinstance(rule, ExcludeRule)
    assert holds(rule.condition, customer, Request("cards", channel, "marketing", AT)) is expected


def test_require_and_exclusive(northwind: Policy) -> None:
    warn = northwind.rule("warn before sms")
    assert isinstance(warn, RequireRule)
    assert warn.match.purposes == {"debt"} and warn.match.channels == {"sms"}
    assert warn.prerequisite.purposes == {"debt"} and warn.prerequisite.channels == {"email"}
    assert (warn.at_least, warn.within, warn.outcome) == (3 * DAY, 30 * DAY, None)
    bare = only_rule('require "r": debt sms after debt email with outcome conversation')
    assert isinstance(bare, RequireRule) and (bare.at_least, bare.within, bare.outcome) == (0, None, "conversation")
    voice = northwind.rule("one voice")
    assert isinstance(voice, ExclusiveRule) and voice.distance == 14 * DAY
    assert voice.match.purposes == {"marketing"}


def test_exemption_edges(northwind: Policy) -> None:
    index = {r.name: r.index for r in northwind.rules}
    transactional = northwind.rule("transactional")
    assert isinstance(transactional, ExemptRule)
    assert transactional.kinds == {"cap", "quiet"} and transactional.rule_names == frozenset()
    lifted_by = {
        name: {northwind.rules[i].name for i in northwind.exempted_by.get(index[name], ())} for name in index
    }
    for name in ("one sales call a week", "offers per month", "emails per team", "letters per quarter",
                 "seven in seven", "calling hours", "sundays", "holidays", "after a complaint", "after a conversation"):
        assert lifted_by[name] == {"transactional"}, name
    assert lifted_by["one voice"] == {"owner speaks first"}
    for name in ("call centre", "do not call", "opted out", "collections hold", "deceased", "minors",
                 "warn before sms", "transactional", "owner speaks first"):
        assert lifted_by[name] == set(), name  # capacity is its own kind; exempt rules are never lifted


def test_exempt_by_rule_name() -> None:
    policy = compile_policy(HEAD + 'cap "weekly": at most 1 phone per 7 days\ncap "daily": at most 1 sms per 1 day\n'
                            'exempt "vip": by owner from "weekly"\n')
    assert policy.exempted_by == {0: (2,)}
    exempt = policy.rule("vip")
    assert isinstance(exempt, ExemptRule) and exempt.rule_names == {"weekly"} and exempt.match.by_owner


# ---- section 6: owner and precedence ---------------------------------------------------


def test_precedence_ranks(northwind: Policy) -> None:
    assert northwind.precedence == (
        "collections", "owner", "service", "wealth_management", "private_banking", "cards", "growth",
    )
    # the owner takes the owner's place instead of its own
    assert northwind.rank("cards", "cards") == 1
    assert northwind.rank("collections", "cards") == 0
    assert northwind.rank("service", "cards") == 2
    assert northwind.rank("private_banking", "cards") == 4
    assert northwind.rank("growth", "cards") == 6
    assert northwind.rank("cards", "growth") == 5
    # "takes that place instead of its own", even when its own place was higher
    assert northwind.rank("collections", "collections") == 1
    assert northwind.rank("cards", None) == 5
    unlisted = compile_policy(HEAD + "precedence collections > cards\n")
    assert unlisted.rank("growth", None) == unlisted.rank("service", None) == 2 > unlisted.rank("cards", None)


def test_subject_rules(northwind: Policy) -> None:
    def subject(purpose: str, channel: str, team: str, is_owner: bool) -> set[str]:
        return {northwind.rules[i].name for i in northwind.subject_rules(purpose, channel, team, is_owner)}

    everyone = {"opted out", "deceased"}
    marketing_call = {"one sales call a week", "offers per month", "calling hours", "sundays", "holidays",
                      "after a complaint", "do not call", "collections hold", "minors", "one voice"} | everyone
    assert subject("marketing", "phone", "growth", False) == marketing_call
    assert subject("marketing", "phone", "growth", True) == marketing_call | {"owner speaks first"}
    assert subject("transactional", "email", "service", False) == {"emails per team", "opted out", "transactional"}
    assert subject("debt", "sms", "collections", False) == {"calling hours", "warn before sms"} | everyone
    assert subject("servicing", "phone", "service", False) == {"call centre", "calling hours", "do not call"} | everyone
