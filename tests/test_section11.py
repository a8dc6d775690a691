"""Section 11 of the contract (LANGUAGE-2.md): each form's examples, by hand.

Every example is checked through the library, `decide --json` and the scenarios of
tests/section11/section11.polt; the arithmetic is written out beside each case.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import policylang
from policylang import clock
from policylang.errors import PolicylangError
from policylang.formatter import format_policy
from policylang.parser import parse

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent / "section11"
POLICY_FILE = HERE / "section11.pol"
POLICY = policylang.compile(POLICY_FILE.read_text(), str(POLICY_FILE))
NY = clock.zone("America/New_York")


def at(text: str) -> str:
    """New York wall time ``2026-04-05 10:00`` as RFC 3339 with its offset."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=NY).isoformat()


def ask(customer: dict[str, Any], shape: str, when: str, ledger: list[dict[str, Any]] | None = None,
        **extra: Any) -> policylang.Decision:
    purpose, channel, team = shape.split()
    request = {"purpose": purpose, "channel": channel, "team": team, "at": at(when), **extra}
    return POLICY.decide(customer, request, ledger or [])


def contact(shape: str, when: str, **extra: Any) -> dict[str, Any]:
    purpose, channel, team = shape.split()
    return {"purpose": purpose, "channel": channel, "team": team, "at": at(when), **extra}


def local(decision: policylang.Decision) -> str | None:
    nxt = decision.next_allowed_at
    return None if nxt is None else nxt.astimezone(NY).strftime("%Y-%m-%d %H:%M")


def reason(decision: policylang.Decision, rule: str) -> str:
    return next(e.line() for e in decision.trace if e.rule == rule)


# ---- 11.1 when --------------------------------------------------------------------------


def test_when_skips_a_customer_the_condition_leaves_out() -> None:
    three = [contact("solicitation phone sales", f"2026-06-01 0{h}:00") for h in (7, 8, 9)]
    texan = ask({"state": "tx"}, "solicitation phone sales", "2026-06-01 10:00", three)
    assert texan.allowed
    assert reason(texan, "three a day, Florida") == (
        'cap "three a day, Florida": applies when customer.state is fl; it is tx -> skip')
    floridian = ask({"state": "fl"}, "solicitation phone sales", "2026-06-01 10:00", three)
    # rolling 24 hours: the 07:00 call leaves the window at 07:00 the next day
    assert floridian.denied_by == ("three a day, Florida",) and local(floridian) == "2026-06-02 07:00"
    missing = ask({}, "solicitation phone sales", "2026-06-01 10:00", three)
    assert missing.allowed and "it is missing" in reason(missing, "three a day, Florida")


# ---- 11.2 time tests and months ----------------------------------------------------------


def test_oral_request_lasts_ten_days() -> None:
    # asked Thu 2026-04-02 15:10 EDT; + 10 days of 24 hours = Sun 04-12 15:10 (no DST change between)
    customer = {"asked_no_work_calls_at": "2026-04-02T15:10:00-04:00"}
    denied = ask(customer, "debt sms collections", "2026-04-05 10:00")
    assert denied.denied_by == ("no calls at work",) and local(denied) == "2026-04-12 15:10"
    assert reason(denied, "no calls at work") == (
        'exclude "no calls at work": customer.asked_no_work_calls_at 2026-04-02 15:10 is within 10 days '
        "(until 2026-04-12 15:10) -> deny")
    assert ask(customer, "debt sms collections", "2026-04-12 15:10").allowed  # [A, A + D): the end is out
    assert ask(customer, "debt sms collections", "2026-04-02 15:09").allowed  # a value after t: false


def test_days_stay_24_hours_across_a_dst_change() -> None:
    # asked Sat 2026-03-07 12:00 EST; + 10 x 24 h = 03-17 12:00 EST = 13:00 EDT (clocks went forward 03-08)
    customer = {"asked_no_work_calls_at": "2026-03-07T12:00:00-05:00"}
    assert local(ask(customer, "debt sms collections", "2026-03-10 10:00")) == "2026-03-17 13:00"
    # autumn: asked 2026-10-30 12:00 EDT; + 240 h = 11-09 12:00 EDT = 11:00 EST (clocks went back 11-01)
    customer = {"asked_no_work_calls_at": "2026-10-30T12:00:00-04:00"}
    assert local(ask(customer, "debt sms collections", "2026-11-02 10:00")) == "2026-11-09 11:00"


def test_eighteen_months_of_business_relationship() -> None:
    # call 2026-08-31: 2025-03-01 + 18 months = 2026-09-01 > call, holds; 2025-02-28 + 18 = 2026-08-28 <= call
    kept = ask({"national_dnc": True, "last_purchase_on": "2025-03-01"}, "solicitation phone sales", "2026-08-31 10:00")
    lapsed = ask({"national_dnc": True, "last_purchase_on": "2025-02-28"}, "solicitation phone sales", "2026-08-31 10:00")
    assert kept.allowed
    assert lapsed.denied_by == ("national do-not-call",) and lapsed.next_allowed_at is None


def test_purchase_exactly_on_the_boundary() -> None:
    # a date is the start of that local date: 2025-03-01 00:00 + 18 months = 2026-09-01 00:00 EDT
    customer = {"national_dnc": True, "last_purchase_on": "2025-03-01"}
    assert ask(customer, "solicitation phone sales", "2026-08-31 23:59").allowed
    assert not ask(customer, "solicitation phone sales", "2026-09-01 00:00").allowed


@pytest.mark.parametrize(("start", "months", "end"), [
    ("2026-01-31T10:00:00-05:00", 1, "2026-02-28T10:00:00-05:00"),   # Jan 31 + 1 month: lowered to Feb 28
    ("2028-01-31T10:00:00-05:00", 1, "2028-02-29T10:00:00-05:00"),   # leap year: Feb 29
    ("2028-02-29T10:00:00-05:00", 12, "2029-02-28T10:00:00-05:00"),  # Feb 29 + 1 year
    ("2026-02-08T02:30:00-05:00", 1, "2026-03-08T03:30:00-04:00"),   # 02:30 is skipped: forward by the gap
    ("2026-10-01T01:30:00-04:00", 1, "2026-11-01T01:30:00-04:00"),   # 01:30 repeats: the first (EDT)
    ("2026-03-31T12:00:00-04:00", 1, "2026-04-30T12:00:00-04:00"),
])
def test_months_keep_the_clock_time_and_clamp_the_day(start: str, months: int, end: str) -> None:
    got = clock.plus_months(clock.micros(dt.datetime.fromisoformat(start)), months, NY)
    assert clock.instant(got) == dt.datetime.fromisoformat(end)


# ---- 11.3 counting by outcome ----------------------------------------------------------------


def test_unconnected_calls_are_not_counted() -> None:
    ledger = [contact("debt phone collections", "2026-06-05 09:00", outcome="busy", campaign="card-a"),
              contact("debt phone collections", "2026-06-05 10:00", outcome="not_in_service", campaign="card-a")]
    ledger += [contact("debt phone collections", f"2026-06-{d:02d} 09:00", outcome="no_answer", campaign="card-a")
               for d in range(6, 11)]
    # five counted on 06-06..06-10 plus a planned one (no outcome: counts either way) = 6 of at most 7
    ledger.append(contact("debt phone collections", "2026-06-10 15:00", status="planned", campaign="card-a"))
    decision = ask({}, "debt phone collections", "2026-06-11 10:00", ledger, campaign="card-a")
    assert decision.allowed
    assert "6 of at most 7" in reason(decision, "seven calls in seven days")
    assert "(2 with outcome busy, not_in_service not counted)" in reason(decision, "seven calls in seven days")
    ledger.append(contact("debt phone collections", "2026-06-11 08:00", campaign="card-a"))
    denied = ask({}, "debt phone collections", "2026-06-11 10:00", ledger, campaign="card-a")
    # 7 counted on 06-06..06-11; the run 06-07..06-13 holds 06-07..06-11 = 6: allowed 06-13 00:00
    assert denied.denied_by == ("seven calls in seven days",) and local(denied) == "2026-06-13 00:00"


# ---- 11.6 conditional exemptions ------------------------------------------------------------


def test_consent_lifts_days_and_hours_only_while_it_holds() -> None:
    saturday = "2026-06-06 11:00"
    lifted = ask({"prospecting_consent": True}, "prospecting phone sales", saturday)
    assert lifted.allowed
    assert reason(lifted, "days and hours") == 'quiet "days and hours": lifted by exempt "express consent" -> exempt'
    assert reason(lifted, "express consent").endswith("-> pass")
    without = ask({"prospecting_consent": False}, "prospecting phone sales", saturday)
    assert without.denied_by == ("days and hours",) and local(without) == "2026-06-08 00:00"
    assert reason(without, "express consent") == (
        'exempt "express consent": customer.prospecting_consent is false -> skip')


# ---- 11.11 effective dates ----------------------------------------------------------------


def test_a_rule_in_force_from_a_date() -> None:
    before = ask({}, "prospecting phone sales", "2026-08-10 15:00")
    assert before.allowed
    assert reason(before, "no consent, no call") == (
        'exclude "no consent, no call": in force from 2026-08-11 00:00 America/New_York -> skip')
    after = ask({}, "prospecting phone sales", "2026-08-11 10:00")
    assert after.denied_by == ("no consent, no call",) and after.next_allowed_at is None


def test_a_rule_that_ends_frees_the_request_at_its_end() -> None:
    ledger = [contact("marketing email marketing_team", "2026-08-30 10:00")]
    denied = ask({}, "marketing email marketing_team", "2026-08-31 10:00", ledger)
    # the rolling week would free it 09-06 10:00, but the rule ends at 09-01 00:00
    assert denied.denied_by == ("summer promotion limit",) and local(denied) == "2026-09-01 00:00"
    spring = [contact("marketing email marketing_team", "2026-05-30 10:00")]
    # contacts before `from` still count: the rule is in force from 06-01 00:00, the week ends 06-06 10:00
    early = ask({}, "marketing email marketing_team", "2026-05-31 10:00", spring)
    assert early.allowed
    assert local(ask({}, "marketing email marketing_team", "2026-06-01 10:00", spring)) == "2026-06-06 10:00"


# ---- 11.14 warnings --------------------------------------------------------------------------


def test_a_warn_rule_allows_and_warns() -> None:
    ledger = [contact("debt phone collections", "2026-06-01 10:00", outcome="no_answer")]
    decision = ask({}, "debt phone collections", "2026-06-01 10:03", ledger)
    assert decision.allowed and decision.warnings == ("two unanswered in five minutes",)
    assert decision.to_dict()["warnings"] == ["two unanswered in five minutes"]
    assert local(decision) == "2026-06-01 10:03"
    assert reason(decision, "two unanswered in five minutes").endswith("-> warn")
    # a conversation is not counted by `counting only outcome no_answer, voicemail`
    talked = [contact("debt phone collections", "2026-06-01 10:00", outcome="conversation")]
    assert ask({}, "debt phone collections", "2026-06-01 10:03", talked).warnings == ()
    assert ask({}, "debt phone collections", "2026-06-01 10:05", ledger).to_dict()["warnings"] == []


def test_warnings_are_listed_even_when_another_rule_denies() -> None:
    ledger = [contact("debt phone collections", f"2026-06-0{d} 09:00", campaign="x") for d in range(1, 8)]
    ledger.append(contact("debt phone collections", "2026-06-07 10:00", outcome="voicemail", campaign="x"))
    decision = ask({}, "debt phone collections", "2026-06-07 10:03", ledger, campaign="x")
    assert decision.denied_by == ("seven calls in seven days",)
    assert decision.warnings == ("two unanswered in five minutes",)


# ---- the command line and the formatter ------------------------------------------------------


def test_decide_json_gives_the_same_answers(tmp_path: Path) -> None:
    cases = [
        ({"id": "ma", "asked_no_work_calls_at": "2026-04-02T15:10:00-04:00"},
         [], {"purpose": "debt", "channel": "sms", "team": "collections", "at": at("2026-04-05 10:00")},
         False, "2026-04-12T19:10:00+00:00", []),
        ({"id": "una"}, [contact("debt phone collections", "2026-06-01 10:00", outcome="no_answer")],
         {"purpose": "debt", "channel": "phone", "team": "collections", "at": at("2026-06-01 10:03")},
         True, "2026-06-01T14:03:00+00:00", ["two unanswered in five minutes"]),
        ({"id": "fr"}, [], {"purpose": "prospecting", "channel": "phone", "team": "sales", "at": at("2026-08-11 10:00")},
         False, None, []),
    ]
    for customer, ledger, request, allowed, nxt, warnings in cases:
        (tmp_path / "c.json").write_text(json.dumps(customer))
        (tmp_path / "l.jsonl").write_text("".join(json.dumps(e) + "\n" for e in ledger))
        (tmp_path / "r.json").write_text(json.dumps(request))
        result = subprocess.run(
            [sys.executable, "-m", "policylang.cli", "decide", str(POLICY_FILE), "--customer", str(tmp_path / "c.json"),
             "--ledger", str(tmp_path / "l.jsonl"), "--request", str(tmp_path / "r.json"), "--json"],
            capture_output=True, text=True, cwd=ROOT, check=False,
        )
        assert result.returncode == 0, result.stderr
        out = json.loads(result.stdout)
        assert (out["allowed"], out["next_allowed_at"], out["warnings"]) == (allowed, nxt, warnings)


def test_bad_instant_in_a_customer_record_is_bad_input() -> None:
    with pytest.raises(PolicylangError, match="offset"):
        ask({"asked_no_work_calls_at": "2026-04-02T15:10:00"}, "debt sms collections", "2026-04-05 10:00")


def test_the_scenarios_pass() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "policylang.cli", "test", "--coverage", "--fail-under", "100", str(HERE)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 failed" in result.stdout


def test_the_formatter_round_trips_every_new_clause() -> None:
    text = POLICY_FILE.read_text()
    formatted = format_policy(text)
    assert parse(formatted) == parse(text)
    assert format_policy(formatted) == formatted
    assert 'cap "two unanswered in five minutes" warn:' in formatted
    assert "not counting outcome busy, not_in_service" in formatted
    assert "from 2026-06-01 until 2026-09-01" in formatted


# ---- 11.5 exemption windows ------------------------------------------------------------------


def test_calls_with_consent_are_not_counted() -> None:
    # consent Thu 06-04 11:20: within 7 consecutive days -> open until the start of 06-11
    ledger: list[dict[str, Any]] = [{"at": at("2026-06-04 11:20"), "event": "consent"}]
    ledger += [contact("debt phone collections", f"2026-06-{d:02d} {h}:00", outcome="no_answer", campaign="card-a")
               for d, h in ((8, 10), (8, 12), (8, 14), (9, 10), (9, 12), (9, 14), (10, 10), (10, 12))]
    decision = ask({}, "debt phone collections", "2026-06-11 10:00", ledger, campaign="card-a")
    assert decision.allowed
    assert reason(decision, "seven calls in seven days") == (
        'cap "seven calls in seven days": 0 of at most 7 debt phone contacts of campaign card-a '
        '(8 placed under exempt "calls with consent" not counted) on 2026-06-05 to 2026-06-11 -> pass')
    # without the consent the same eight calls fill the run
    assert not ask({}, "debt phone collections", "2026-06-11 10:00", ledger[1:], campaign="card-a").allowed


def test_a_conversation_closes_the_window() -> None:
    ledger: list[dict[str, Any]] = [contact("debt phone collections", "2026-04-03 10:00", outcome="conversation"),
                                    {"at": at("2026-04-03 10:05"), "event": "consent"}]
    monday = ask({}, "debt phone collections", "2026-04-06 10:00", ledger)
    assert monday.allowed
    assert reason(monday, "after a conversation") == (
        'quiet "after a conversation": lifted by exempt "calls with consent" '
        "(consent 04-03 10:05, open until 04-10 00:00) -> exempt")
    ledger.append(contact("debt phone collections", "2026-04-06 10:00", outcome="conversation"))
    wednesday = ask({}, "debt phone collections", "2026-04-08 10:00", ledger)
    # the conversation Mon 04-06 starts 7 consecutive days: 04-06..04-12, allowed 04-13 00:00
    assert wednesday.denied_by == ("after a conversation",) and local(wednesday) == "2026-04-13 00:00"


def test_a_window_end_is_a_next_allowed_boundary() -> None:
    # a conversation Thu 06-04 09:00 quiets 06-04..06-10; consent at 11:20 lifts the quiet until the
    # window's end at 06-11 00:00; revoked Fri 06-05 12:00 closes it early
    ledger: list[dict[str, Any]] = [contact("debt phone collections", "2026-06-04 09:00", outcome="conversation"),
                                    {"at": at("2026-06-04 11:20"), "event": "consent"},
                                    {"at": at("2026-06-05 12:00"), "event": "revoked"}]
    assert ask({}, "debt phone collections", "2026-06-05 11:59", ledger).allowed
    after = ask({}, "debt phone collections", "2026-06-05 12:00", ledger)
    assert after.denied_by == ("after a conversation",) and local(after) == "2026-06-11 00:00"
    # before consent the quiet denies, and the window opening at 11:20 is the next allowed instant
    before = ask({}, "debt phone collections", "2026-06-04 10:00", ledger)
    assert local(before) == "2026-06-04 11:20"


# ---- 11.7 several zones, 11.8 a rule's own zone ----------------------------------------------

ZONES = policylang.compile((HERE / "zones.pol").read_text(), "zones.pol")
LA = clock.zone("America/Los_Angeles")


def zoned(customer: dict[str, Any], shape: str, when: str, zone: Any = NY,
          ledger: list[dict[str, Any]] | None = None) -> policylang.Decision:
    purpose, channel, team = shape.split()
    moment = dt.datetime.fromisoformat(when).replace(tzinfo=zone).isoformat()
    return ZONES.decide(customer, {"purpose": purpose, "channel": channel, "team": team, "at": moment}, ledger or [])


def test_quiet_hours_are_the_union_over_zones() -> None:
    two = {"timezone": ["America/New_York", "America/Los_Angeles"]}
    # 10:30 ET is 07:30 PT: before 08:00 there; 11:00 ET = 08:00 PT is the first allowed instant
    early = zoned(two, "debt phone collections", "2026-11-24 10:30")
    assert local(early) == "2026-11-24 11:00"
    assert next(e.line() for e in early.trace if e.verdict == "deny") == (
        'quiet "inconvenient times": 07:30 in America/Los_Angeles (one of 2 zones) is outside 08:00-21:00 -> deny')
    # 20:30 ET is 17:30 PT: allowed in both
    assert zoned(two, "debt phone collections", "2026-11-24 20:30").allowed
    # 21:00 ET is quiet in New York: the end time is not allowed (11.15)
    late = zoned(two, "debt phone collections", "2026-11-24 21:00")
    assert "21:00 is quiet: the end time is not allowed" in next(e.reason for e in late.trace if e.verdict == "deny")
    # one zone given as a string is that zone alone
    assert zoned({"timezone": "America/New_York"}, "debt phone collections", "2026-11-24 10:30").allowed


def test_a_calendar_cap_denies_if_its_day_is_full_in_any_zone() -> None:
    two = {"timezone": ["America/New_York", "America/Los_Angeles"]}
    # Mon 11-23 22:00 PT = Tue 01:00 ET: Tuesday in New York holds it, Monday in Los Angeles
    ledger = [{"purpose": "marketing", "channel": "email", "team": "marketing_team",
               "at": dt.datetime(2026, 11, 23, 22, tzinfo=LA).isoformat()}]
    denied = zoned(two, "marketing email marketing_team", "2026-11-24 10:00", ledger=ledger)
    # Wed 00:00 ET = Tue 21:00 PT: Wednesday in New York is empty, Tuesday in Los Angeles holds none
    assert denied.denied_by == ("one a day",) and local(denied) == "2026-11-25 00:00"


def test_a_rule_in_a_fixed_zone() -> None:
    la = {"timezone": "America/Los_Angeles"}
    denied = zoned(la, "debt sms collections", "2026-11-24 18:30", LA)
    assert next(e.line() for e in denied.trace if e.verdict == "deny") == (
        'quiet "Eastern hours": 21:30 in America/New_York (the rule\'s zone) is outside 08:00-21:00 -> deny')
    # 08:00 ET = 05:00 PT ends the Eastern quiet, but the debtor's own hours wait for 08:00 PT
    assert denied.next_allowed_at == dt.datetime(2026, 11, 25, 8, tzinfo=LA)
    # an absent `in zone customer.home` falls back to the customer's zone
    assert local(zoned({"timezone": "America/New_York"}, "marketing phone marketing_team", "2026-11-24 08:30")) == (
        "2026-11-24 09:00")
    paris = zoned({"timezone": "America/New_York", "home": "Europe/Paris"}, "marketing phone marketing_team",
                  "2026-11-24 14:30")
    assert local(paris) == "2026-11-25 03:00"  # 09:00 in Paris


def test_bad_zones_in_a_customer_record_are_bad_input() -> None:
    with pytest.raises(PolicylangError, match="America/New_Yrok"):
        zoned({"timezone": ["America/New_Yrok"]}, "debt phone collections", "2026-11-24 10:30")


# ---- 11.9 days and hours, 11.10 holidays, 11.12 pauses, 11.13 week starts, 11.16 hold -----------

CALENDAR = policylang.compile((HERE / "calendar.pol").read_text(), "calendar.pol")
PARIS = clock.zone("Europe/Paris")
CHICAGO = clock.zone("America/Chicago")


def paris(customer: dict[str, Any], shape: str, when: str, ledger: list[dict[str, Any]] | None = None,
          zone: Any = PARIS) -> policylang.Decision:
    purpose, channel, team = shape.split()
    moment = dt.datetime.fromisoformat(when).replace(tzinfo=zone).isoformat()
    return CALENDAR.decide(customer, {"purpose": purpose, "channel": channel, "team": team, "at": moment}, ledger or [])


def in_zone(decision: policylang.Decision, zone: Any) -> str | None:
    nxt = decision.next_allowed_at
    return None if nxt is None else nxt.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def test_a_public_holiday_from_the_package() -> None:
    import holidays

    pentecost = paris({}, "prospecting phone sales", "2026-05-25 11:00")
    assert in_zone(pentecost, PARIS) == "2026-05-26 10:00"
    assert next(e.line() for e in pentecost.trace if e.verdict == "deny") == (
        'quiet "days and hours": 2026-05-25 is a holiday in FR (Pentecost Monday) -> deny')
    assert pentecost.to_dict()["sources"] == {"holidays": holidays.__version__}
    # FR 2026-2027: the package gives the 22 dates France's code lists (11 a year)
    from policylang.calendars import year_holidays
    assert len(year_holidays("FR", 2026)) + len(year_holidays("FR", 2027)) == 22
    # FR-57 adds Good Friday and 26 December
    assert set(year_holidays("FR-57", 2026)) - set(year_holidays("FR", 2026)) == {
        dt.date(2026, 4, 3), dt.date(2026, 12, 26)}
    assert not paris({"region": "FR-57"}, "prospecting phone sales", "2026-04-03 11:00").allowed
    assert paris({}, "prospecting phone sales", "2026-04-03 11:00").allowed


def test_a_bad_region_in_a_customer_record_is_bad_input() -> None:
    with pytest.raises(PolicylangError, match="FR-75"):
        paris({"region": "FR-75"}, "prospecting phone sales", "2026-04-03 11:00")


def test_several_quiet_parts() -> None:
    # France: weekend, holidays, outside 10:00-20:00 or 13:00-14:00; Tue 13:30 -> 14:00
    assert in_zone(paris({}, "prospecting phone sales", "2026-05-26 13:30"), PARIS) == "2026-05-26 14:00"
    # Sat 2026-11-21 09:00: the weekend, then Mon 10:00
    assert in_zone(paris({}, "prospecting phone sales", "2026-11-21 09:00"), PARIS) == "2026-11-23 10:00"
    tex = {"state": "tx", "timezone": "America/Chicago"}
    assert in_zone(paris(tex, "solicitation phone sales", "2026-11-22 11:00", zone=CHICAGO), CHICAGO) == "2026-11-22 12:00"
    assert in_zone(paris(tex, "solicitation phone sales", "2026-11-23 08:30", zone=CHICAGO), CHICAGO) == "2026-11-23 09:00"
    # the Sunday part across the spring DST change (Chicago, 2026-03-08): 11:00 CDT -> 12:00 CDT
    assert in_zone(paris(tex, "solicitation phone sales", "2026-03-08 11:00", zone=CHICAGO), CHICAGO) == "2026-03-08 12:00"


def test_sunday_weeks() -> None:
    ledger = [{"purpose": "marketing", "channel": "email", "team": "sales",
               "at": dt.datetime(2026, 11, 22, 10, tzinfo=CHICAGO).isoformat()}]
    denied = paris({"timezone": "America/Chicago"}, "marketing email sales", "2026-11-28 10:00", ledger, CHICAGO)
    assert in_zone(denied, CHICAGO) == "2026-11-29 00:00"
    assert "in the week 2026-11-22 (Sunday) to 2026-11-28" in next(e.reason for e in denied.trace if e.verdict == "deny")


def test_three_refusals_pause_marketing() -> None:
    ledger = [{"purpose": "marketing", "channel": "phone", "team": "sales", "outcome": "refused",
               "at": dt.datetime(2026, 6, d, 10, tzinfo=PARIS).isoformat()} for d in (2, 15, 28)]
    # the third refusal (06-28) has 3 in (05-29, 06-28]: quiet 06-28 10:00 + 60 days = 08-27 10:00
    denied = paris({}, "marketing email sales", "2026-07-01 10:00", ledger)
    assert in_zone(denied, PARIS) == "2026-08-27 10:00"
    assert next(e.line() for e in denied.trace if e.verdict == "deny").endswith(
        "3 marketing with outcome refused in 30 days (06-02, 06-15, 06-28); quiet until 2026-08-27 10:00 -> deny")
    # exactly at N only: two refusals trigger nothing; refusals 31 days apart do not add up
    assert paris({}, "marketing email sales", "2026-07-01 10:00", ledger[:2]).allowed
    spread = ledger[:2] + [{**ledger[0], "at": dt.datetime(2026, 7, 3, 10, tzinfo=PARIS).isoformat()}]
    assert paris({}, "marketing email sales", "2026-07-04 10:00", spread).allowed  # 06-02 left (06-03, 07-03]


def test_a_hold_limits_the_search() -> None:
    late = paris({}, "transactional phone service", "2026-11-23 09:00")
    assert late.next_allowed_at is None and late.notes == ("not allowed within the hold of 15 minutes",)
    # 07:50 + 15 minutes = 08:05 >= 08:00: found
    assert in_zone(paris({}, "transactional phone service", "2026-11-23 07:50"), PARIS) == "2026-11-23 08:00"
    # the hold's end instant is included: 07:45 + 15 minutes = 08:00
    assert in_zone(paris({}, "transactional phone service", "2026-11-23 07:45"), PARIS) == "2026-11-23 08:00"


# ---- 11.4 void contacts -------------------------------------------------------------------------


def seven_calls() -> list[dict[str, Any]]:
    return [contact("debt phone collections", f"2026-06-0{d} 09:00", campaign="x", id=f"c-{d}") for d in range(1, 8)]


def test_void_contacts_never_count() -> None:
    ledger = seven_calls()
    assert not ask({}, "debt phone collections", "2026-06-07 12:00", ledger, campaign="x").allowed
    # a misdirected pair, voided by a line written after them: 7 - 2 = 5 of at most 7
    voided = [*ledger, {"at": at("2026-06-04 09:00"), "void": ["c-1", "c-2"], "reason": "misdirected"}]
    decision = ask({}, "debt phone collections", "2026-06-07 12:00", voided, campaign="x")
    assert decision.allowed
    assert "5 of at most 7" in reason(decision, "seven calls in seven days")
    assert "(2 void: c-1, c-2, misdirected)" in reason(decision, "seven calls in seven days")
    # line order does not matter, and the void applies before its own `at` too
    first = [{"at": at("2026-06-30 09:00"), "void": "c-1"}, {"at": at("2026-06-30 09:00"), "void": "c-2"}, *ledger]
    assert ask({}, "debt phone collections", "2026-06-07 12:00", first, campaign="x").allowed
    # `"status": "void"` (as export writes it) is the same
    exported = [dict(e, status="void", void_reason="misdirected") if e["id"] in ("c-1", "c-2") else e for e in ledger]
    assert ask({}, "debt phone collections", "2026-06-07 12:00", exported, campaign="x").allowed


def test_a_void_conversation_starts_no_quiet_period() -> None:
    ledger = [contact("debt phone collections", "2026-06-04 08:00", outcome="conversation", id="c-3")]
    assert not ask({}, "debt phone collections", "2026-06-05 10:00", ledger).allowed
    ledger.append({"at": at("2026-06-05 09:00"), "void": "c-3", "reason": "wrong number", "event": "revoked"})
    assert ask({}, "debt phone collections", "2026-06-05 10:00", ledger).allowed


def test_a_void_naming_an_unknown_id_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(PolicylangError, match="c-9"):
        ask({}, "debt phone collections", "2026-06-07 12:00", [*seven_calls(), {"at": at("2026-06-07 09:00"), "void": "c-9"}])
    (tmp_path / "c.json").write_text('{"id": "x"}')
    (tmp_path / "r.json").write_text(json.dumps({"purpose": "debt", "channel": "phone", "team": "collections",
                                                 "at": at("2026-06-07 12:00"), "campaign": "x"}))
    lines = [*seven_calls(), {"at": at("2026-06-07 09:00"), "void": ["c-1", "c-2"], "reason": "misdirected"}]
    (tmp_path / "l.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    command = [sys.executable, "-m", "policylang.cli", "decide", str(POLICY_FILE), "--customer", str(tmp_path / "c.json"),
               "--ledger", str(tmp_path / "l.jsonl"), "--request", str(tmp_path / "r.json"), "--json"]
    ok = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    assert ok.returncode == 0 and json.loads(ok.stdout)["allowed"] is True, ok.stderr
    (tmp_path / "l.jsonl").write_text("".join(json.dumps(e) + "\n" for e in [*seven_calls(), {"at": at("2026-06-07 09:00"), "void": "c-9"}]))
    bad = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    assert bad.returncode == 2 and "c-9" in bad.stderr and "Traceback" not in bad.stderr


# ---- 11.3 several campaigns ----------------------------------------------------------------------


def test_one_contact_for_several_campaigns() -> None:
    # a conversation Mon 2026-11-09 10:00 about medical and card-a: `within 1 day` -> until 11-10 10:00
    ledger = [contact("debt phone collections", "2026-11-09 10:00", outcome="conversation",
                      campaign=["medical", "card-a"])]
    card_a = ask({}, "debt sms collections", "2026-11-10 09:00", ledger, campaign="card-a")
    assert card_a.denied_by == ("after a conversation per debt",) and local(card_a) == "2026-11-10 10:00"
    assert ask({}, "debt sms collections", "2026-11-10 09:00", ledger, campaign="card-b").allowed
    both = ask({}, "debt sms collections", "2026-11-10 09:00", ledger, campaign=["card-b", "card-a"])
    assert both.denied_by == ("after a conversation per debt",) and local(both) == "2026-11-10 10:00"
    # a cap counts the contact once in each of its campaigns' groups
    calls = [contact("debt phone collections", f"2026-06-0{d} 09:00", campaign=["x", "y"]) for d in range(1, 8)]
    assert not ask({}, "debt phone collections", "2026-06-07 12:00", calls, campaign="y").allowed
    assert ask({}, "debt phone collections", "2026-06-07 12:00", calls, campaign="z").allowed


def test_events_with_and_without_campaigns() -> None:
    ledger = [{"at": at("2026-11-09 10:00"), "event": "dispute", "campaign": "card-a"}]
    assert not ask({}, "debt sms collections", "2026-11-10 09:00", ledger, campaign="card-a").allowed
    assert ask({}, "debt sms collections", "2026-11-10 09:00", ledger, campaign="card-b").allowed
    ledger.append({"at": at("2026-11-10 08:00"), "event": "dispute"})  # every campaign
    assert not ask({}, "debt sms collections", "2026-11-10 09:00", ledger, campaign="card-b").allowed


# ---- 11.2 months in windows and quiet periods -------------------------------------------------------


def test_a_rolling_window_of_months() -> None:
    sent = [{"purpose": "solicitation", "channel": "email", "team": "sales",
             "at": dt.datetime(2026, 1, 31, 10, tzinfo=PARIS).isoformat()},
            {"purpose": "solicitation", "channel": "email", "team": "sales",
             "at": dt.datetime(2026, 2, 15, 10, tzinfo=PARIS).isoformat()}]
    denied = paris({}, "solicitation email sales", "2026-03-03 10:00", sent)
    assert denied.denied_by == ("offers per quarter",)
    # Jan 31 + 3 months = Apr 30 (lowered to the month's last day), 10:00 CEST: the Jan 31 offer leaves
    assert in_zone(denied, PARIS) == "2026-04-30 10:00"


def test_quiet_for_months_after_a_refusal() -> None:
    # Jan 31 10:00 CET + 2 months = Mar 31 10:00 CEST (the clock time is kept across the DST change)
    refused = [{"purpose": "solicitation", "channel": "phone", "team": "sales", "outcome": "refused",
                "at": dt.datetime(2026, 1, 31, 10, tzinfo=PARIS).isoformat()}]
    assert in_zone(paris({}, "solicitation phone sales", "2026-03-03 10:00", refused), PARIS) == "2026-03-31 10:00"
    # a refusal on Dec 31 2027: + 2 months = Feb 29 2028 (leap year)
    leap = [{**refused[0], "at": dt.datetime(2027, 12, 31, 10, tzinfo=PARIS).isoformat()}]
    assert in_zone(paris({}, "solicitation phone sales", "2028-01-10 10:00", leap), PARIS) == "2028-02-29 10:00"


# ---- the REPL and the highlighter ------------------------------------------------------------------


def test_the_repl_runs_and_completes_the_new_scenario_forms(tmp_path: Path) -> None:
    from policylang.repl import Session

    session = Session(POLICY_FILE, base=tmp_path, now=dt.datetime(2026, 6, 7, 12, 0))
    for line in ['customer mis', *(f'mis had debt phone by collections at 2026-06-0{d} 09:00 campaign "x" id "c-{d}"'
                                   for d in range(1, 8))]:
        show_line(session, line)
    before = show_line(session, 'ask mis: debt phone by collections campaign "x"')
    show_line(session, 'mis voided "c-1", "c-2" at 2026-06-07 11:00 because "misdirected"')
    after = show_line(session, 'ask mis: debt phone by collections campaign "x"')
    assert "DENIED" in str(before).upper() and "void: c-1, c-2, misdirected" in str(after)
    words = [w for w, _ in session.completions("mis v")]
    assert "voided" in words
    assert "warns" in [w for w, _ in session.completions('expect mis: debt phone by collections is allowed and w')]


def test_the_highlighter_knows_the_new_words() -> None:
    from pygments.token import Error

    from policylang.highlight import PolicyLexer

    text = POLICY_FILE.read_text() + (HERE / "calendar.pol").read_text()
    tokens = list(PolicyLexer().get_tokens(text))
    assert not [t for t in tokens if t[0] is Error]
    keywords = {v for t, v in tokens if "Keyword" in str(t)}
    assert {"warn", "until", "counting", "only", "holidays", "hold"} <= keywords


def show_line(session: Any, line: str) -> str:
    """What the REPL prints for one typed line, as plain text."""
    import io

    from rich.console import Console

    out = io.StringIO()
    rendered = session.handle(line)
    if rendered is not None:
        Console(file=out, width=200, color_system=None).print(rendered)
    return out.getvalue()


# ---- 11.4 void in the shared ledger ----------------------------------------------------------------


def test_the_shared_ledger_voids_a_stored_contact() -> None:
    from policylang.ledger import LedgerError, open_ledger
    from policylang.records import Contact

    with open_ledger("memory:") as ledger:
        calls = [Contact(dt.datetime(2026, 6, d, 13, tzinfo=dt.timezone.utc), "phone", "debt", "collections",
                         campaign="x", id=f"c-{d}", customer="joe") for d in range(1, 8)]
        ledger.append(calls)
        request = {"purpose": "debt", "channel": "phone", "team": "collections", "at": at("2026-06-07 12:00"),
                   "campaign": "x"}
        assert not POLICY.decide({}, request, ledger.history("joe")).allowed
        voided = ledger.void("c-1", "misdirected")
        assert (voided.status, voided.void_reason) == ("void", "misdirected")
        assert POLICY.decide({}, request, ledger.history("joe")).allowed  # 6 of at most 7
        exported = [e.to_dict() for e in ledger.export("joe")]
        assert {"status": "void", "void_reason": "misdirected"}.items() <= exported[0].items()
        with pytest.raises(LedgerError, match="c-9"):
            ledger.void("c-9")


def test_void_from_the_command_line_and_through_import_and_export(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    lines = [{"customer": "joe", "at": at(f"2026-06-0{d} 09:00"), "channel": "phone", "purpose": "debt",
              "team": "collections", "id": f"c-{d}"} for d in (1, 3)]
    lines.append({"customer": "joe", "at": at("2026-06-04 09:00"), "void": ["c-3"], "reason": "misdirected"})
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "policylang.cli", *args], capture_output=True, text=True,
                              cwd=ROOT, check=False)

    assert run("ledger", "init", "--ledger", url).returncode == 0  # only init creates a ledger (issue 9)
    assert run("ledger", "import", "--ledger", url, "--policy", str(POLICY_FILE), str(tmp_path / "in.jsonl")).returncode == 0
    done = run("void", "c-1", "--reason", "wrong number", "--ledger", url)
    assert done.returncode == 0 and json.loads(done.stdout)["status"] == "void"
    exported = [json.loads(line) for line in run("ledger", "export", "--ledger", url).stdout.splitlines()]
    assert [(e["id"], e["status"], e.get("void_reason")) for e in exported] == [
        ("c-1", "void", "wrong number"), ("c-3", "void", "misdirected")]
    unknown = run("void", "c-9", "--ledger", url)
    assert unknown.returncode == 2 and "c-9" in unknown.stderr and "Traceback" not in unknown.stderr
    # an export imports again into a fresh ledger and stays void
    (tmp_path / "out.jsonl").write_text("".join(json.dumps(e) + "\n" for e in exported))
    again = f"sqlite:///{tmp_path / 'again.sqlite'}"
    assert run("ledger", "init", "--ledger", again).returncode == 0
    assert run("ledger", "import", "--ledger", again, "--policy", str(POLICY_FILE), str(tmp_path / "out.jsonl")).returncode == 0
    assert [json.loads(line)["status"] for line in run("ledger", "export", "--ledger", again).stdout.splitlines()] == [
        "void", "void"]
    # a void line naming an id that is nowhere writes nothing
    (tmp_path / "bad.jsonl").write_text(json.dumps({"customer": "joe", "at": at("2026-06-05 09:00"), "void": "c-7"}) + "\n")
    bad = run("ledger", "import", "--ledger", again, "--policy", str(POLICY_FILE), str(tmp_path / "bad.jsonl"))
    assert bad.returncode == 2 and "c-7" in bad.stderr


# ---- boundaries (11.15) and the autumn DST change ---------------------------------------------------


def test_the_end_time_is_quiet_and_the_trace_says_so() -> None:
    tex = {"state": "tx", "timezone": "America/Chicago"}
    late = paris(tex, "solicitation phone sales", "2026-11-23 21:00", zone=CHICAGO)
    assert not late.allowed
    assert "(21:00 is quiet: the end time is not allowed)" in next(e.reason for e in late.trace if e.verdict == "deny")
    assert paris(tex, "solicitation phone sales", "2026-11-23 20:59", zone=CHICAGO).allowed


def test_sunday_from_noon_on_the_day_clocks_go_back() -> None:
    # Sun 2026-11-01 in Chicago has 25 hours; 11:00 CST is 17:00 UTC, noon CST is 18:00 UTC
    tex = {"state": "tx", "timezone": "America/Chicago"}
    early = paris(tex, "solicitation phone sales", "2026-11-01 11:00", zone=CHICAGO)
    assert early.next_allowed_at == dt.datetime(2026, 11, 1, 18, tzinfo=dt.timezone.utc)
    # an effective date on that day starts at its midnight (CDT, 05:00 UTC)
    assert clock.start_of_date(dt.date(2026, 11, 1), CHICAGO) == clock.micros(dt.datetime(2026, 11, 1, 5, tzinfo=dt.timezone.utc))
