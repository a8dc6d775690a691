"""No ledger index is a reference cycle: each is freed by reference counting alone.

A ``History`` keeps memos (its selectors' matchings, its planned contacts by team) whose
lazy sequences make contacts when read; they hold the history's maker of contacts, never
the history. Were any memo to hold the history, every index would be a reference cycle that
only CPython's cyclic collector frees (it once was, and collecting those cycles was about a
quarter of a batch worker's time). Here the collector is off while an index is built every
way the engine builds one, asked everything a decision asks (every rule of a ranked policy,
explain on and off, planned contacts a request may displace, void contacts, an arbitration
that grows the index by its grants), and dropped: a weak reference to it must be dead right
after ``del``. The lazy sequences it handed out still answer once it is gone.
"""

from __future__ import annotations

import datetime as dt
import gc
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import policylang
from policylang.arbitration import Cycle
from policylang.history import History, LazyContacts
from policylang.ingest import customer_of
from policylang.records import Contact, Event, Request
from tests.test_history_codes import HOW, built, in_order

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
POLICY = policylang.load(Path(__file__).resolve().parent.parent / "examples" / "northwind.pol")
CUSTOMER = {"timezone": "America/Chicago", "status": "active", "owner": "cards", "age": 40}


def ledger() -> list[Contact | Event]:
    """Sent, planned (by teams above and below the requesters), displaced and void contacts,
    out of time order, past ``history.EAGER`` entries, and an event."""
    entries: list[Contact | Event] = []
    teams = ("cards", "growth", "collections", "service", "private_banking")
    for k in range(90):
        at = NOW - dt.timedelta(hours=7 * ((k * 37) % 90)) + dt.timedelta(days=3 * (k % 9 == 0))
        status = "planned" if at > NOW else ("void", "displaced", "sent", "sent")[k % 4]
        entries.append(Contact(at, ("email", "phone", "sms", "letter")[k % 4], ("marketing", "debt", "servicing")[k % 3],
                               teams[k % 5], status, ("conversation", None, "delivered")[k % 3], id=f"c-{k}"))
    entries.insert(40, Event(NOW - dt.timedelta(days=2), "complaint"))
    return entries


def requests() -> list[Request]:
    return [Request(team, channel, purpose, NOW + dt.timedelta(minutes=13 * k))
            for k, (team, channel, purpose) in enumerate(
                (t, c, p) for t in ("collections", "growth", "cards") for c in ("phone", "email", "sms")
                for p in ("marketing", "debt"))]


@contextmanager
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def asked_everything(history: History) -> None:
    """Every decision's questions of ``history``: all rules, explain on and off."""
    customer = customer_of(POLICY, CUSTOMER)
    for explain in (False, True):
        for request in requests():
            POLICY.decide(customer, request, history, explain=explain)
    assert history._cache  # noqa: SLF001 - the memos this is about are there
    history.planned_by_team()
    assert history.voided and history.has_planned


@pytest.mark.parametrize("how", HOW)
def test_an_index_is_freed_by_reference_counting_once_asked_everything(how: str) -> None:
    entries = in_order(ledger(), how)
    with collector_off():
        history = built(entries, how)
        asked_everything(history)
        gone = weakref.ref(history)
        del history
        assert gone() is None


@pytest.mark.parametrize("how", ("records", "columns", "shapes"))
def test_an_arbitration_and_its_grown_indexes_are_freed_by_reference_counting(how: str) -> None:
    entries = in_order(ledger(), how)
    customer = customer_of(POLICY, CUSTOMER)
    with collector_off():
        given = built(entries, how)
        cycle = Cycle(POLICY, customer, requests(), given)
        grown: list[Callable[[], object]] = [weakref.ref(given)]
        granted = 0
        for index in cycle.order:
            granted += cycle.decide(index, explain=True).allowed
            grown.append(weakref.ref(cycle._history))  # noqa: SLF001 - each index the cycle held
        assert granted > 1  # the index grew
        del cycle, given
        assert [ref() for ref in grown] == [None] * len(grown)


@pytest.mark.parametrize("how", HOW)
def test_what_an_index_handed_out_answers_after_the_index_is_gone(how: str) -> None:
    entries = in_order(ledger(), how)
    history = built(entries, how)
    rule = next(r for r in POLICY.rules if r.name == "offers per month")
    times, contacts = history.matching(rule.match, "cards")  # type: ignore[attr-defined]
    want = [(c.at, c.team, c.outcome) for c in contacts]
    lazy = isinstance(contacts, LazyContacts)
    with collector_off():
        gone = weakref.ref(history)
        del history
        assert gone() is None
    assert [(c.at, c.team, c.outcome) for c in contacts] == want and len(times) == len(want) > 3
    if lazy:
        assert contacts.field_between("team", 0, len(want)) == [team for _, team, _ in want]
