"""The fast evaluator against the brute-force reference (tests/reference.py).

Random small policies (every rule kind, `for each`, calendar and consecutive windows,
clock ranges wrapping midnight, days and dates, quiet after events and selectors with
outcomes, require, exclusive, exempt, owner precedence) x random ledgers x random requests
in five zones, with instants near daylight-saving changes and on rule boundaries.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

import policylang
from policylang.records import Request
from policylang.rules import Policy
from tests.reference import decide_at, reference_decide
from tests.strategies import boundary_label, displacement_scenarios, scenarios

HORIZON = 400


def check_same(text: str, policy: Policy, customer: dict[str, Any], request: Request, ledger: list[Any]) -> None:
    note(text)
    decision = policy.decide(customer, request, ledger, explain=True)
    expected = reference_decide(text, customer, request, ledger, horizon_days=HORIZON)
    note(decision.explain())
    note(f"reference: {expected}")
    assert decision.allowed == expected.allowed
    assert decision.denied_by == expected.denied_by
    assert list(decision.displaces) == list(expected.displaces)
    assert decision.next_allowed_at == expected.next_allowed_at
    if decision.next_allowed_at is not None:
        # the evaluator's instant is itself allowed by the reference
        assert decide_at(text, customer, request.moved_to(decision.next_allowed_at), ledger)[0]
    assert len(decision.trace) == len(policy.rules)
    record_shape(text, policy, customer, request, ledger, decision)


def record_shape(text: str, policy: Policy, customer: dict[str, Any], request: Request, ledger: list[Any],
                 decision: Any) -> None:
    """What kind of decision this was, for ``--hypothesis-show-statistics`` (the generators
    must reach the boundaries, not only the easy middle)."""
    kinds = {policy.rule(name).kind for name in decision.denied_by}
    event("cap denial: " + ("yes" if "cap" in kinds else "no"))
    event("capacity denial: " + ("yes" if "capacity" in kinds else "no"))
    event("displaces: " + ("yes" if decision.displaces else "no"))
    event("allowed: " + ("yes" if decision.allowed else "no"))
    event(boundary_label(text, customer, request, ledger))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(scenarios())
def test_evaluator_agrees_with_the_reference(scenario: Any) -> None:
    check_same(*scenario)


def test_instants_are_compared_in_utc() -> None:
    # guard for the comparison above: Request/Contact normalise to UTC, so equal instants compare equal
    a = dt.datetime(2026, 3, 8, 7, 0, tzinfo=dt.timezone.utc)
    assert Request("sales", "sms", "debt", a.astimezone(dt.timezone(dt.timedelta(hours=-4)))).at == a


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(displacement_scenarios())
def test_evaluator_agrees_on_precedence_and_displacement(scenario: Any) -> None:
    check_same(*scenario)


COMPARISONS = ("<", "<=", ">", ">=", "==", "!=", "is", "is not")


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(COMPARISONS), st.sampled_from((17, 18, 19, 64, 65, 66)), st.sampled_from((18, 65)),
       st.sampled_from((None, 17, 18, 19, 64, 65, 66)), st.booleans())
def test_conditions_agree_with_the_reference_at_equality(op: str, left: int, right: int, age: int | None,
                                                          negate: bool) -> None:
    # Every comparison operator, with the customer's value drawn at, just below and just
    # above the compared number (and absent), alone and under `not` and `or`.
    condition = f"customer.age {op} {right}"
    if negate:
        condition = f"not ({condition}) or customer.age {op} {left}"
    text = f'{HEAD_FOR_CONDITIONS}exclude "x": marketing when {condition}\n'
    customer: dict[str, Any] = {} if age is None else {"age": age}
    request = Request("sales", "email", "marketing", dt.datetime(2026, 5, 13, 12, tzinfo=dt.timezone.utc))
    decision = policylang.compile(text).decide(customer, request, [])
    assert decision.denied_by == reference_decide(text, customer, request, []).denied_by, condition


HEAD_FOR_CONDITIONS = """policy "p"
channels email
teams sales
purposes marketing
customer
  age number
"""


CAPACITY_BY_DAYS = """policy "p"
channels email
teams sales
purposes marketing
customer
  timezone zone
capacity "load": at most 1 marketing per 1 consecutive days
"""


def test_capacity_consecutive_days_are_policy_zone_dates() -> None:
    # Found by the differential test. A capacity counts every customer, so its dates are the
    # policy's (here UTC), as for `per calendar day`: 22:30Z on 31 December and 00:00Z on
    # 1 January are different dates, though both fall on 31 December in New York.
    from policylang.records import Contact

    utc = dt.timezone.utc
    policy = policylang.compile(CAPACITY_BY_DAYS)
    ledger = [Contact(dt.datetime(2025, 12, 31, 22, 30, tzinfo=utc), "email", "marketing", "sales")]
    request = Request("sales", "email", "marketing", dt.datetime(2026, 1, 1, 0, 0, tzinfo=utc))
    customer = {"timezone": "America/New_York"}
    assert reference_decide(CAPACITY_BY_DAYS, customer, request, ledger).allowed
    assert policy.decide(customer, request, ledger).allowed
    # the same request an hour earlier shares the UTC date 31 December: denied until 1 January 00:00Z
    earlier = policy.decide(customer, request.moved_to(request.at - dt.timedelta(hours=1)), ledger)
    assert earlier.denied_by == ("load",) and earlier.next_allowed_at == request.at
