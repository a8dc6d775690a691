"""A grown history's carried answers (the deciding core's fast path for an arbitration's grant),
and a history of columns grown without being built again.

``History.plus`` hands the grown history the parent's answers to ``matching``, each grown by
the new contact where the selector and matching's filters take it, instead of leaving the
next decision to ask them all again. Here every answer is asked of the parent first (every
rule's selector, both owners, every filter), so each compared answer is a carried one, and
each is held to the answer of a history built again from the entries with the contact
appended: the same instants, the very same contact objects (records: the ledger's own;
columns: the objects the grown history makes for those keys, since precedence tells contacts
apart by identity), and whole decisions with their traces. The new contact is sent, planned,
released or void, with or without an outcome or a campaign, often at an instant the ledger already
holds (ties go in ledger order) or at a window's edge or a daylight-saving change (the
scenarios' boundaries).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policylang.evaluator import decide
from policylang.history import History, LazyContacts
from policylang.records import Contact, Request
from tests.strategies import OUTCOMES, displacement_scenarios, scenarios
from tests.test_evaluator_fast import columns_history

ASKED: tuple[dict[str, Any], ...] = (
    {}, {"sent_only": True}, {"outcome": "conversation"}, {"outcome": frozenset(OUTCOMES)},
    {"sent_only": True, "outcome": "no_answer"}, {"group": "team", "value": "cards"},
    {"group": "channel", "value": "sms"}, {"group": "campaign", "value": "d1"},
    {"drop": frozenset({"no_answer"})}, {"drop": frozenset(OUTCOMES), "group": "purpose", "value": "debt"},
)


@st.composite
def cases(draw: Any) -> tuple[Any, dict[str, Any], list[Any], list[Request], Contact]:
    """A scenario (boundaries, DST, displacement) with more requests and the contact to add."""
    _, policy, customer, request, ledger = draw(st.one_of(scenarios(), displacement_scenarios()))
    steps = st.sampled_from((0, 0, 1, 60, 3600, 86400))
    requests = [request] + [attrs.evolve(request, team=team, at=request.at + dt.timedelta(seconds=sign * step))
                            for team, sign, step in draw(st.lists(st.tuples(
                                st.sampled_from(policy.teams), st.integers(-2, 2), steps), max_size=2))]
    instants = [request.at] + [e.at for e in ledger]  # ties with the ledger: ledger order decides
    at = draw(st.sampled_from(instants)) + dt.timedelta(seconds=draw(st.sampled_from((0, 0, 0, -1, 1))))
    added = Contact(at, draw(st.sampled_from((request.channel, "sms", "email"))),
                    draw(st.sampled_from((request.purpose, "debt"))),
                    draw(st.sampled_from((request.team, "cards", "sales"))),
                    draw(st.sampled_from(("planned", "planned", "sent", "released", "void"))),
                    outcome=draw(st.sampled_from((None, None, *OUTCOMES))),
                    campaign=draw(st.sampled_from((None, None, "d1", "d2"))), id="added")
    return policy, customer, ledger, requests, added


def ask_everything(history: History, policy: Any) -> list[tuple[Any, str | None, dict[str, Any]]]:
    asked = []
    for rule in policy.rules:
        for match in (rule.match, getattr(rule, "prerequisite", None), getattr(rule.window, "opener", None)
                      if hasattr(rule, "window") else None):
            if match is None:
                continue
            for owner in (None, "cards"):
                for kwargs in ASKED:
                    history.matching(match, owner, **kwargs)
                    asked.append((match, owner, kwargs))
    return asked


def same_answers(grown: History, fresh: History, asked: list[tuple[Any, str | None, dict[str, Any]]],
                 columns: bool) -> None:
    for match, owner, kwargs in asked:
        times, contacts = grown.matching(match, owner, **kwargs)
        want_times, want = fresh.matching(match, owner, **kwargs)
        assert times == want_times, (match.text, owner, kwargs)
        if columns:  # the grown history's own objects, equal to the fresh one's
            assert isinstance(contacts, LazyContacts)
            assert [id(c) for c in contacts] == [id(grown._contact(k)) for k in contacts._keys]  # noqa: SLF001
            assert list(contacts) == list(want)
        else:
            assert [id(c) for c in contacts] == [id(c) for c in want], (match.text, owner, kwargs)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(cases(), st.booleans())
def test_carried_answers_are_the_answers_of_the_history_built_again(case: Any, columns: bool) -> None:
    policy, customer, ledger, requests, added = case
    if columns:  # the columns' test history takes one campaign per contact
        ledger = [e for e in ledger if not isinstance(e, Contact) or not isinstance(e.campaign, tuple)]
    build = columns_history if columns else History
    history = build(list(ledger))
    decide(policy, customer, requests[0], history, explain=False)  # what a decision builds on demand
    asked = ask_everything(history, policy)
    grown = history.plus(added)
    assert grown is not None
    carried = set(grown._cache)  # noqa: SLF001
    assert carried == set(history._cache)  # noqa: SLF001 - every answer carried, none dropped
    fresh = build([*ledger, added])
    same_answers(grown, fresh, asked, columns)
    # what a history grown from columns keeps of its parent: the made contacts, the planned and
    # void lists grown by the new contact (the parent's objects, its own new one)
    assert list(grown.planned) == list(fresh.planned) and grown.has_planned == fresh.has_planned
    assert list(grown.voided) == list(fresh.voided)
    assert grown.events == fresh.events and grown.event_campaigns == fresh.event_campaigns
    assert list(grown.counted) == list(fresh.counted) and grown.counted_us == fresh.counted_us
    if columns:
        made = {id(c) for c in grown._made.values()}  # noqa: SLF001
        assert all(id(c) in made for c in [*grown.planned, *grown.voided])
    for request in requests:
        assert decide(policy, customer, request, grown) == decide(policy, customer, request, fresh)
        assert decide(policy, customer, request, grown, explain=False) == \
            decide(policy, customer, request, fresh, explain=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(cases())
def test_answers_carried_twice_are_the_answers_of_the_history_built_again(case: Any) -> None:
    """Two grants in a row (a cycle of three requests): the carried answers carried again."""
    policy, customer, ledger, requests, added = case
    history = History(list(ledger))
    asked = ask_everything(history, policy)
    second = attrs.evolve(added, id="second", at=added.at + dt.timedelta(hours=1), status="planned")
    grown = history.plus(added)
    assert grown is not None
    again = grown.plus(second)
    assert again is not None
    same_answers(again, History([*ledger, added, second]), asked, columns=False)
