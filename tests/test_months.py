"""Months (11.2) in `require`, `exclusive`, `hold` and exemption windows (issue 15's leftover):
N months are added to the earlier instant in the customer's zone, keeping the local clock
time and lowering the day to the target month's last (Jan 31 + 1 month = Feb 28, Feb 29 in a
leap year); a clock time the target date skips moves forward by the gap. Every expected
instant below is worked out by hand in the comment beside it."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

import policylang
from policylang.errors import PolicylangError

NY = ZoneInfo("America/New_York")
HEAD = """policy "months"
timezone "America/New_York"
channels email, phone
teams sales, service
purposes marketing, servicing
events consent
"""


def policy(rules: str) -> policylang.Policy:
    return policylang.compile(HEAD + rules, "months.pol")


def ny(text: str) -> dt.datetime:
    """New York wall time ``2026-02-28 10:00`` (fold 0: the first of a repeated hour), as UTC
    (an ambiguous local time never compares equal across zones)."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=NY).astimezone(dt.timezone.utc)


def sent(shape: str, when: str) -> dict[str, str]:
    purpose, channel, team = shape.split()
    return {"purpose": purpose, "channel": channel, "team": team, "at": ny(when).isoformat()}


def ask(pol: policylang.Policy, shape: str, when: str, ledger: list[dict[str, str]]) -> policylang.Decision:
    purpose, channel, team = shape.split()
    return pol.decide({}, {"purpose": purpose, "channel": channel, "team": team, "at": ny(when).isoformat()}, ledger)


def utc(decision: policylang.Decision) -> dt.datetime | None:
    return decision.next_allowed_at


# ---- require ---------------------------------------------------------------------------------

AT_LEAST = policy('require "a month after welcome": marketing phone after servicing email at least 1 month before\n')


@pytest.mark.parametrize(("welcome", "ready"), [
    ("2026-01-31 10:00", "2026-02-28 10:00"),  # Jan 31 + 1 month: Feb has 28 days in 2026
    ("2028-01-31 10:00", "2028-02-29 10:00"),  # 2028 is a leap year
    ("2026-01-30 10:00", "2026-02-28 10:00"),  # Jan 30 clamps to the same day
    ("2026-02-28 10:00", "2026-03-28 10:00"),  # Feb 28 + 1 month keeps the 28th (no "month end" rule)
    ("2026-02-08 02:30", "2026-03-08 03:30"),  # 02:30 is skipped on Mar 8 (DST): forward by the gap
    ("2026-10-01 01:30", "2026-11-01 01:30"),  # repeated on Nov 1: the first (EDT) 01:30
])  # fmt: skip
def test_require_at_least_a_month(welcome: str, ready: str) -> None:
    ledger = [sent("servicing email service", welcome)]
    before = (ny(ready) - dt.timedelta(minutes=1)).astimezone(NY)
    denied = ask(AT_LEAST, "marketing phone sales", before.strftime("%Y-%m-%d %H:%M"), ledger)
    assert denied.denied_by == ("a month after welcome",)
    assert utc(denied) == ny(ready)
    assert ask(AT_LEAST, "marketing phone sales", ready, ledger).allowed


def test_the_dst_example_of_the_contract_is_28_days_in_absolute_time() -> None:
    # 2026-02-08 02:30 EST = 07:30Z; + 1 month = 03-08 02:30, skipped, so 03:30 EDT = 07:30Z
    decision = ask(AT_LEAST, "marketing phone sales", "2026-03-08 01:00", [sent("servicing email service", "2026-02-08 02:30")])
    assert decision.next_allowed_at == dt.datetime(2026, 3, 8, 7, 30, tzinfo=dt.timezone.utc)


WITHIN = policy('require "within a month": marketing phone after servicing email within 1 month\n')


def test_require_within_a_month_keeps_both_ends() -> None:
    ledger = [sent("servicing email service", "2026-01-31 10:00")]
    assert ask(WITHIN, "marketing phone sales", "2026-01-31 10:00", ledger).allowed  # p <= t
    assert ask(WITHIN, "marketing phone sales", "2026-02-28 10:00", ledger).allowed  # t = p + 1 month: kept
    late = ask(WITHIN, "marketing phone sales", "2026-02-28 10:01", ledger)
    assert late.denied_by == ("within a month",) and late.next_allowed_at is None  # no wait brings it back
    assert ask(WITHIN, "marketing phone sales", "2028-02-29 10:00", [sent("servicing email service", "2028-01-31 10:00")]).allowed


def test_require_explains_months_in_words() -> None:
    decision = ask(AT_LEAST, "marketing phone sales", "2026-02-27 10:00", [sent("servicing email service", "2026-01-31 10:00")])
    reason = next(e.reason for e in decision.trace if e.rule == "a month after welcome")
    assert "no sent servicing email at least 1 month before 2026-02-27 10:00" in reason, reason


def test_a_require_whose_bounds_never_fit_is_a_compile_error() -> None:
    with pytest.raises(PolicylangError, match="no contact can be both"):
        policy('require "r": marketing phone after servicing email at least 2 months before, within 1 month\n')
    # 1 month is at most 31 days: "at least 30 days, within 1 month" can fit (Jan 31 -> Mar 2 is not it,
    # but Jan 1 -> Jan 31 is), so it compiles
    policy('require "r": marketing phone after servicing email at least 30 days before, within 1 month\n')


# ---- exclusive -------------------------------------------------------------------------------

ONE_VOICE = policy('exclusive "one voice a month": marketing per 1 month\n')


def test_exclusive_months_are_added_to_the_earlier_contact() -> None:
    earlier = [sent("marketing email sales", "2026-01-31 10:00")]
    # another team's contact Jan 31 10:00: rival until Jan 31 + 1 month = Feb 28 10:00
    denied = ask(ONE_VOICE, "marketing phone service", "2026-02-27 23:00", earlier)
    assert denied.denied_by == ("one voice a month",) and denied.next_allowed_at == ny("2026-02-28 10:00")
    assert ask(ONE_VOICE, "marketing phone service", "2026-02-28 10:00", earlier).allowed
    assert ask(ONE_VOICE, "marketing phone sales", "2026-02-01 10:00", earlier).allowed  # the same team


def test_exclusive_months_after_the_request_count_from_the_request() -> None:
    later = [sent("marketing email sales", "2026-02-28 10:00")]
    # a request at t is a rival of a later contact c while c < t + 1 month:
    # Jan 28 10:00 + 1 month = Feb 28 10:00, not after c: allowed (half-open)
    assert ask(ONE_VOICE, "marketing phone service", "2026-01-28 10:00", later).allowed
    # Jan 31 10:00 + 1 month = Feb 28 10:00 too (clamped), so allowed as well; Jan 28 10:01 is not
    assert ask(ONE_VOICE, "marketing phone service", "2026-01-31 10:00", later).allowed
    denied = ask(ONE_VOICE, "marketing phone service", "2026-01-28 10:01", later)
    assert denied.denied_by == ("one voice a month",)
    assert denied.next_allowed_at == ny("2026-03-28 10:00")  # c + 1 month


# ---- hold ------------------------------------------------------------------------------------

HELD = policy('hold marketing up to 1 month\ncap "one a month": at most 1 marketing email per 30 days\n')


def test_a_hold_of_a_month_ends_at_the_same_day_next_month() -> None:
    ledger = [sent("marketing email sales", "2026-01-31 10:00")]  # counts until Mar 2 10:00 (30 days)
    # request Feb 1 10:00: held until Mar 1 10:00, before Mar 2: nothing within the hold
    held = ask(HELD, "marketing email sales", "2026-02-01 10:00", ledger)
    assert held.next_allowed_at is None and "not allowed within the hold of 1 month" in held.notes
    # request Feb 3 10:00: held until Mar 3 10:00, and Mar 2 10:00 is inside
    assert ask(HELD, "marketing email sales", "2026-02-03 10:00", ledger).next_allowed_at == ny("2026-03-02 10:00")
    # request Jan 31 10:30: held until Jan 31 + 1 month = Feb 28 10:30 (clamped), before Mar 2
    assert ask(HELD, "marketing email sales", "2026-01-31 10:30", ledger).next_allowed_at is None


# ---- exemption windows -----------------------------------------------------------------------

CONSENT = policy(
    'cap "one call a week": at most 1 marketing phone per 7 days\n'
    'exempt "consented": marketing phone from "one call a week" within 1 month after consent\n'
)


def test_an_exemption_window_of_a_month_ends_at_the_same_day_next_month() -> None:
    consent = {"event": "consent", "at": ny("2026-01-31 10:00").isoformat()}
    # the window is [Jan 31 10:00, Feb 28 10:00): a call at 09:59 is inside (not counted), one at 10:00 is not
    inside = [consent, sent("marketing phone sales", "2026-02-28 09:59")]
    assert ask(CONSENT, "marketing phone sales", "2026-03-01 10:00", inside).allowed
    outside = [consent, sent("marketing phone sales", "2026-02-28 10:00")]
    denied = ask(CONSENT, "marketing phone sales", "2026-03-01 10:00", outside)
    assert denied.denied_by == ("one call a week",) and denied.next_allowed_at == ny("2026-03-07 10:00")
    # inside the window a request is exempt even when the cap is full
    assert ask(CONSENT, "marketing phone sales", "2026-02-28 09:59", [consent, sent("marketing phone sales", "2026-02-27 10:00")]).allowed


def test_a_call_inside_a_window_of_a_month_is_not_counted_after_it() -> None:
    ledger = [sent("marketing phone sales", "2026-02-25 10:00"), {"event": "consent", "at": ny("2026-01-28 10:00").isoformat()}]
    # window [Jan 28 10:00, Feb 28 10:00): the Feb 25 call is inside, not counted; Feb 28 10:00 allowed
    assert ask(CONSENT, "marketing phone sales", "2026-02-28 10:00", ledger).allowed


# ---- a property against month arithmetic written here (no code shared with the clock) ----------


def months_later(instant: dt.datetime, months: int, zone: ZoneInfo) -> dt.datetime:
    """instant + N months by hand: local date's month moved, day lowered to the month's last,
    the same wall clock (a skipped one moved forward by the gap: fold 0 and back through UTC)."""
    import calendar

    local = instant.astimezone(zone)
    index = local.year * 12 + (local.month - 1) + months
    year, month = divmod(index, 12)
    day = min(local.day, calendar.monthrange(year, month + 1)[1])
    wall = dt.datetime(year, month + 1, day, local.hour, local.minute, tzinfo=zone)
    return wall.astimezone(dt.timezone.utc).astimezone(zone)  # a skipped wall time becomes the later reading


MONTH_ENDS = [ny(f"2026-{m:02d}-{d:02d} 10:00") for m, d in ((1, 28), (1, 29), (1, 30), (1, 31), (2, 28), (3, 1),
                                                             (3, 31), (4, 30), (10, 31), (11, 30), (12, 31))]


@pytest.mark.parametrize("months", [1, 2, 13])
def test_exclusive_months_match_month_arithmetic_done_by_hand(months: int) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    pol = policy(f'exclusive "x": marketing per {months} month{"s" if months > 1 else ""}\n')
    instants = st.builds(lambda base, minutes: base + dt.timedelta(minutes=minutes),
                         st.sampled_from(MONTH_ENDS), st.sampled_from([-1, 0, 1, 60 * 24, -60 * 24]))

    @settings(max_examples=60, deadline=None)
    @given(c=instants, t=instants)
    def check(c: dt.datetime, t: dt.datetime) -> None:
        ledger = [{"purpose": "marketing", "channel": "email", "team": "sales", "at": c.isoformat()}]
        decision = pol.decide({}, {"purpose": "marketing", "channel": "phone", "team": "service",
                                   "at": t.isoformat()}, ledger)  # fmt: skip
        earlier, later = (c, t) if c <= t else (t, c)
        rival = later < months_later(earlier, months, NY)
        assert decision.allowed is not rival, (c, t)
        if rival:  # allowed again at c + N months, unless that is past the 400-day horizon
            ready = months_later(c, months, NY)
            assert decision.next_allowed_at == (ready if ready <= t + dt.timedelta(days=400) else None)

    check()


@pytest.mark.parametrize("months", [1, 2])
def test_require_months_match_month_arithmetic_done_by_hand(months: int) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    unit = f"{months} month{'s' if months > 1 else ''}"
    pol = policy(f'require "r": marketing phone after servicing email at least {unit} before, within {months + 1} months\n')
    instants = st.builds(lambda base, minutes: base + dt.timedelta(minutes=minutes),
                         st.sampled_from(MONTH_ENDS), st.sampled_from([-1, 0, 1, 60 * 24, -60 * 24]))

    @settings(max_examples=60, deadline=None)
    @given(p=instants, t=instants)
    def check(p: dt.datetime, t: dt.datetime) -> None:
        ledger = [{"purpose": "servicing", "channel": "email", "team": "service", "at": p.isoformat()}]
        decision = pol.decide({}, {"purpose": "marketing", "channel": "phone", "team": "sales",
                                   "at": t.isoformat()}, ledger)  # fmt: skip
        met = months_later(p, months, NY) <= t <= months_later(p, months + 1, NY)
        assert decision.allowed is met, (p, t)
        if not met and t < months_later(p, months, NY):  # too early: wait for p + N months
            assert decision.next_allowed_at == months_later(p, months, NY)
        elif not met:  # too late: no wait helps
            assert decision.next_allowed_at is None

    check()
