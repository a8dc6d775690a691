"""The official interpretation of Regulation F's call-frequency rule, on examples/regulation_f.pol.

Source: 12 CFR part 1006, Supplement I (Official Interpretations), as published in the CFPB's
regulation text (Paragraph 14(b)(3)(i), comment 3, examples i and ii; Paragraph 14(b)(4),
comment 2, examples i and v). The dates are the commentary's own (Friday April 3, Monday
April 6, Wednesday April 8; Monday November 9 to Thursday November 12), which fall on those
weekdays in 2026. Expectations are worked out from the regulation, day by day.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import policylang
from policylang.records import Contact, Request

CHICAGO = ZoneInfo("America/Chicago")
CONSUMER = {"timezone": "America/Chicago", "status": "open"}
POLICY = Path(__file__).resolve().parent.parent / "examples" / "regulation_f.pol"


def local(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=CHICAGO)


def call(at: dt.datetime, debt: str, outcome: str = "no_answer") -> Contact:
    return Contact(at=at, channel="phone", purpose="debt", team="collections", outcome=outcome, campaign=debt)


def ask(policy: policylang.Policy, at: dt.datetime, debt: str, ledger: list[Contact]) -> policylang.Decision:
    return policy.decide(CONSUMER, Request("collections", "phone", "debt", at, campaign=debt), ledger)


@pytest.fixture(scope="module")
def reg_f() -> policylang.Policy:
    return policylang.load(POLICY)


def test_weekdays_of_the_commentary_hold_in_2026() -> None:
    assert [local(d).strftime("%A") for d in ("2026-04-03", "2026-04-06", "2026-04-08", "2026-11-09", "2026-11-12")] == [
        "Friday", "Monday", "Wednesday", "Monday", "Thursday"]


def test_21_unanswered_calls_seven_per_debt_are_presumed_compliant(reg_f: policylang.Policy) -> None:
    # Comment 14(b)(4)-2.i: within seven consecutive days, 21 unanswered calls, seven counted
    # toward each of a medical debt and credit card debts A and B: presumed compliant.
    ledger: list[Contact] = []
    for day in range(9, 16):  # Monday Nov 9 to Sunday Nov 15: seven consecutive dates
        for hour, debt in ((9, "medical"), (12, "card-a"), (15, "card-b")):
            at = local(f"2026-11-{day:02d}T{hour:02d}:00")
            decision = ask(reg_f, at, debt, ledger)
            assert decision.allowed, (at, debt, decision.denied_by)
            ledger.append(call(at, debt))
    assert len(ledger) == 21
    # An eighth call on any of the debts within those seven dates is over the presumption.
    for debt in ("medical", "card-a", "card-b"):
        eighth = ask(reg_f, local("2026-11-15T18:00"), debt, ledger)
        assert eighth.denied_by == ("seven calls in seven days",)
        # Every run of seven dates holding Nov 15 holds seven calls until Nov 9 drops out:
        # the run Nov 10-16 has six, so Monday Nov 16 at 08:00 (calling hours) is the next.
        assert eighth.next_allowed_at == local("2026-11-16T08:00")
    # A fourth debt has its own count.
    assert ask(reg_f, local("2026-11-15T18:00"), "auto-loan", ledger).allowed


def test_calls_are_counted_toward_the_debt_they_concern(reg_f: policylang.Policy) -> None:
    # Comment 14(b)(4)-2.v: Nov 9-11, two calls counted toward the medical debt and four
    # toward the credit card debt. Neither has reached seven, so more calls are allowed.
    ledger = [call(local(f"2026-11-{d:02d}T10:00"), "medical") for d in (9, 10)]
    ledger += [call(local(f"2026-11-{d:02d}T{h}:00"), "card") for d in (9, 11) for h in (11, 16)]
    assert ask(reg_f, local("2026-11-12T10:00"), "medical", ledger).allowed
    assert ask(reg_f, local("2026-11-12T10:00"), "card", ledger).allowed
    # Three more card calls on the 12th make seven; the eighth that week is refused,
    # while the medical debt (two calls) may still be called.
    ledger += [call(local(f"2026-11-12T{h:02d}:00"), "card") for h in (9, 12, 14)]
    assert ask(reg_f, local("2026-11-12T17:00"), "card", ledger).denied_by == ("seven calls in seven days",)
    assert ask(reg_f, local("2026-11-12T17:00"), "medical", ledger).allowed


def test_a_conversation_about_one_debt_does_not_hold_back_calls_about_another(reg_f: policylang.Policy) -> None:
    # Comment 14(b)(4)-2.v: the Thursday, November 12 conversation is counted toward the
    # medical debt only. The medical debt then has three calls and one conversation; the
    # credit card debt four calls and no conversation.
    ledger = [call(local(f"2026-11-{d:02d}T10:00"), "medical") for d in (9, 10)]
    ledger += [call(local(f"2026-11-{d:02d}T{h}:00"), "card") for d in (9, 11) for h in (11, 16)]
    ledger.append(call(local("2026-11-12T12:00"), "medical", outcome="conversation"))
    friday = local("2026-11-13T10:00")
    medical = ask(reg_f, friday, "medical", ledger)
    assert medical.denied_by == ("after a conversation",)
    # November 12 is day one of seven: calls about the medical debt resume on the 19th.
    assert medical.next_allowed_at == local("2026-11-19T08:00")
    # A call about the credit card debt is neither the eighth in seven days nor after a
    # conversation about that debt.
    assert ask(reg_f, friday, "card", ledger).allowed


def test_call_back_on_monday_after_a_friday_conversation_is_presumed_a_violation(reg_f: policylang.Policy) -> None:
    # Comment 14(b)(3)(i)-3.i: a conversation on Friday, April 3; absent the consumer's
    # consent, a call on Monday, April 6 exceeds 1006.14(b)(2)(i)(B).
    ledger = [call(local("2026-04-03T10:00"), "card", outcome="conversation")]
    monday = ask(reg_f, local("2026-04-06T10:00"), "card", ledger)
    assert monday.denied_by == ("after a conversation",)
    # April 3 is day one of seven: quiet through Thursday April 9; calling hours open at 08:00.
    assert monday.next_allowed_at == local("2026-04-10T08:00")


def test_a_wednesday_call_after_a_monday_conversation_is_presumed_a_violation(reg_f: policylang.Policy) -> None:
    # Comment 14(b)(3)(i)-3.ii: a conversation on Monday, April 6; a call on Wednesday,
    # April 8 without new consent counts and is presumed a violation.
    ledger = [call(local("2026-04-06T15:00"), "card", outcome="conversation")]
    assert ask(reg_f, local("2026-04-08T11:00"), "card", ledger).denied_by == ("after a conversation",)
    assert ask(reg_f, local("2026-04-13T08:00"), "card", ledger).allowed  # Apr 6 + 7 dates
