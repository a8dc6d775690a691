"""The evaluator against the brute-force reference (tests/reference.py) on the section 11 forms.

Random small policies of section 11 rules (tests/section11_strategies.py) x customers in one or
two zones x ledgers of JSON lines (void lines, campaign lists, events, refusal bursts) x
requests at effective-date, window, midnight, month-end and daylight-saving boundaries. The
engine reads the JSON through its input path; the reference reads the same JSON by itself.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, event, given, note, settings

from policylang.rules import Policy
from tests import reference
from tests.reference import reference_decide
from tests.section11_strategies import labels, scenarios

HORIZON = 400


def shape(contact: Any) -> tuple[Any, ...]:
    if isinstance(contact, dict):
        return (dt.datetime.fromisoformat(contact["at"]), contact["team"], contact["channel"], contact["purpose"])
    return (contact.at, contact.team, contact.channel, contact.purpose)


def check_same(text: str, policy: Policy, customer: dict[str, Any], request: dict[str, Any],
               ledger: list[dict[str, Any]]) -> None:
    note(text)
    note(f"customer: {customer}\nrequest: {request}\nledger: {ledger}")
    decision = policy.decide(customer, request, ledger, explain=True)
    expected = reference_decide(text, customer, request, ledger, horizon_days=HORIZON)
    note(decision.explain())
    note(f"reference: {expected}")
    assert decision.allowed == expected.allowed
    assert decision.denied_by == expected.denied_by
    assert decision.warnings == expected.warnings
    assert [shape(c) for c in decision.displaces] == [shape(c) for c in expected.displaces]
    assert decision.next_allowed_at == expected.next_allowed_at
    record(text, customer, request, ledger, decision)


def record(text: str, customer: dict[str, Any], request: dict[str, Any], ledger: list[dict[str, Any]],
           decision: Any) -> None:
    """What the scenario reached, for ``--hypothesis-show-statistics``."""
    for label in labels(text, customer, ledger):
        event(label)
    event("allowed: " + ("yes" if decision.allowed else "no"))
    event("warnings: " + ("yes" if decision.warnings else "no"))
    if not decision.allowed:
        event("next_allowed_at: " + ("none" if decision.next_allowed_at is None else "found"))
    for label in boundaries(text, customer, request, ledger):
        event(label)


def boundaries(text: str, customer: dict[str, Any], request: dict[str, Any], ledger: list[dict[str, Any]]) -> list[str]:
    """Which section 11 boundaries sit exactly at the request (computed with the reference's
    plain helpers, so the labels do not depend on the engine)."""
    pol = reference.load(text)
    entries = reference.entries_of(ledger)
    req = reference.as_request(request)
    ctx = reference.make_context(pol, customer, req, entries)
    found = []
    for rule in pol.rules:
        start, end = reference.effective_period(ctx, rule)
        if req.at in (start, end):
            found.append("boundary: effective date at the request")
        if isinstance(rule, reference.nodes.Exempt) and rule.window is not None:
            for zone in reference.rule_zones(ctx, rule):
                wins = reference.windows(ctx.in_zone(zone, None), rule, entries)
                if any(w.end == req.at for w in wins):
                    found.append("boundary: exemption window ends at the request")
                if any(w.start <= req.at < w.end for w in wins):
                    found.append("exemption window open at the request")
        if isinstance(rule, reference.nodes.Quiet):
            for period in reference.quiet_parts(rule):
                if isinstance(period, reference.nodes.WithinAfter) and period.count is not None:
                    pool = reference.matching_triggers(ctx, period, entries)
                    counts = {reference.count_in_window(ctx, period, pool, x) for x in pool}
                    if period.count in counts:
                        found.append("boundary: a pause window holds exactly N")
                    if period.count - 1 in counts:
                        found.append("boundary: a pause window holds N - 1")
    if any(e.status == "void" for e in entries):
        found.append("void entry")
    void_lines = [e for e in ledger if "void" in e]
    for line in void_lines:
        ids = line["void"] if isinstance(line["void"], list) else [line["void"]]
        times = [dt.datetime.fromisoformat(e["at"]) for e in ledger if e.get("id") in ids and "void" not in e]
        at = dt.datetime.fromisoformat(line["at"])
        found.append("void line " + ("before" if all(at < u for u in times) else "after") + " the voided entry")
    zones = [z for z in (customer.get("timezone") if isinstance(customer.get("timezone"), list) else []) if z]
    if len(zones) > 1:
        dates = {req.at.astimezone(reference.ZoneInfo(z)).date() for z in zones}
        if len(dates) > 1:
            found.append("boundary: zones on different local dates")
    for zone in zones or [customer.get("timezone") or pol.timezone or "UTC"]:
        tz = reference.zone_of(zone if zone != "UTC" else None)
        if any(abs(u - req.at) <= dt.timedelta(hours=3) for u in reference.zone_transitions(zone, req.at.year)):
            found.append("boundary: within 3 hours of a DST change")
        if req.at.astimezone(tz).day in (28, 29, 30, 31, 1) or any(
            e.at.astimezone(tz).day in (29, 30, 31) for e in entries
        ):
            found.append("boundary: month end")
    return sorted(set(found))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(scenarios())
def test_section11_forms_agree_with_the_reference(scenario: Any) -> None:
    check_same(*scenario)
